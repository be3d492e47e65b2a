// Search page: queries the index built with the site. Loaded as a module, so it never blocks
// rendering; without JavaScript the page says where to browse instead.
// The form's data-engine says which index: "constat" is Constat's own (static/lexicon.js reads
// recherche/index/, docs/search-index.md), which answers like Pagefind's API; otherwise Pagefind.
// A large site's Pagefind index comes in parts (pagefind/parts.json lists their folders): the
// script of the main part, pagefind/, merges the others and ranks their results together.
// Each part also holds the vocabulary page (every word of the site, so that no part answers
// a word it lacks with look-alikes): it is never a result.
const form = document.querySelector(".search-form");
const input = document.getElementById("search-input");
const status = document.getElementById("search-status");
const list = document.getElementById("search-results");
const base = form.dataset.base;
let pagefind;
let hidden = new Set();

async function load() {
  if (form.dataset.engine === "constat") {
    // One index, and no vocabulary page: nothing to merge or hide.
    const module = await import(`${base}static/lexicon.js`);
    await module.options({ baseUrl: base });
    return module;
  }
  const [module, index] = await Promise.all([
    import(`${base}pagefind/pagefind.js`),
    fetch(`${base}pagefind/parts.json`).then((r) => (r.ok ? r.json() : {})).catch(() => ({})),
  ]);
  await module.options({ baseUrl: base });
  for (const folder of index.parts || []) {
    if (folder !== "pagefind/") await module.mergeIndex(`${base}${folder}`, { baseUrl: base });
  }
  hidden = new Set(index.hidden || []);
  return module;
}

// Pagefind marks matches with <mark>; everything else in an excerpt is shown as text.
// An excerpt is a window of words, and French spacing makes « : », « ? » or « » » words of
// their own (a no-break space before them): it neither starts with the end of a phrase nor
// ends with an opening « or (.
const CUT_START = /^[\s\u00a0\u202f]*(?:[:;!?,.»)\]…][\s\u00a0\u202f]*)+/;
const CUT_END = /(?:[\s\u00a0\u202f]*[«(\[])+[\s\u00a0\u202f]*$/;
function excerptNodes(excerpt) {
  const parts = excerpt.split(/<mark>(.*?)<\/mark>/);
  return parts.map((part, i) => {
    let text = part.replace(/<[^>]*>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    if (i === 0) text = text.replace(CUT_START, "");
    if (i === parts.length - 1 && i % 2 === 0) text = text.replace(CUT_END, "");
    if (i % 2 === 0) return document.createTextNode(text);
    const mark = document.createElement("mark");
    mark.textContent = text;
    return mark;
  });
}

// Constat's index answers a query it finds nothing for with the words it takes for misspelt
// replaced (folded): shown as the results write them, the rest of the query as typed.
function respelt(query, corrected, results) {
  const written = new Map();
  for (const result of results) {
    for (const [, word] of result.excerpt.matchAll(/<mark>(.*?)<\/mark>/g)) {
      if (!written.has(pagefind.fold(word))) written.set(pagefind.fold(word), word);
    }
  }
  return query.replace(/[\p{L}\p{M}\p{N}]+/gu, (word) => {
    const folded = pagefind.fold(word);
    if (!Object.hasOwn(corrected, folded)) return word;
    return written.get(corrected[folded]) ?? corrected[folded];
  });
}

// The words of the query as typed, by their folded form (the index's terms are folded).
function typed(query) {
  const written = new Map();
  for (const [word] of query.matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    if (!written.has(pagefind.fold(word))) written.set(pagefind.fold(word), word);
  }
  return written;
}

// Under a result of a query no page answers whole: the words the page does not have.
function missingNode(missing, written) {
  const note = document.createElement("p");
  note.className = "search-missing";
  const words = missing.map((term) => `«\u00a0${written.get(term) ?? term}\u00a0»`).join(", ");
  note.textContent = `${missing.length > 1 ? "Mots absents" : "Mot absent"} de cette page\u00a0: ${words}`;
  return note;
}

async function run(query) {
  list.replaceChildren();
  if (!query.trim()) { status.textContent = ""; return; }
  status.textContent = "Recherche…";
  try {
    pagefind ??= await load();
    const answer = await pagefind.search(query);
    const found = answer.results.filter((r) => !hidden.has(r.id));
    const results = await Promise.all(found.slice(0, 30).map((r) => r.data()));
    const count = `${found.length} résultat${found.length > 1 ? "s" : ""}`;
    status.textContent = !results.length ? `Aucun résultat pour «\u00a0${query}\u00a0».`
      : answer.corrected
        ? `Aucun résultat pour «\u00a0${query}\u00a0». ${count} pour «\u00a0${respelt(query, answer.corrected, results)}\u00a0»\u00a0:`
        : answer.partial
          ? `Aucune page n’a tous les mots de «\u00a0${query}\u00a0». ${count} avec une partie d’entre eux\u00a0:`
          : `${count} pour «\u00a0${query}\u00a0»`;
    const written = answer.partial ? typed(query) : null;
    results.forEach((result, i) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = result.url;
      link.textContent = result.meta.title || result.url;
      const excerpt = document.createElement("p");
      excerpt.append(...excerptNodes(result.excerpt));
      item.append(link, excerpt);
      if (written && found[i].missing?.length) item.append(missingNode(found[i].missing, written));
      list.append(item);
    });
  } catch (error) {
    status.textContent = "La recherche n’a pas pu se charger. Parcourez les listes d’affirmations, de verdicts, de personnes ou de thèmes.";
  }
}

let timer;
input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => {
    const query = input.value;
    history.replaceState(null, "", query ? `?q=${encodeURIComponent(query)}` : location.pathname);
    run(query);
  }, 200);
});
form.addEventListener("submit", (event) => { event.preventDefault(); run(input.value); });
const initial = new URLSearchParams(location.search).get("q");
if (initial) { input.value = initial; run(initial); }
