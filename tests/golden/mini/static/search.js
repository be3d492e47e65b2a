// Search page: queries the Pagefind index built with the site. Loaded as a module, so it
// never blocks rendering; without JavaScript the page says where to browse instead.
const form = document.querySelector(".search-form");
const input = document.getElementById("search-input");
const status = document.getElementById("search-status");
const list = document.getElementById("search-results");
const base = form.dataset.base;
let pagefind;

// Pagefind marks matches with <mark>; everything else in an excerpt is shown as text.
function excerptNodes(excerpt) {
  const parts = excerpt.split(/<mark>(.*?)<\/mark>/);
  return parts.map((part, i) => {
    const text = part.replace(/<[^>]*>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    if (i % 2 === 0) return document.createTextNode(text);
    const mark = document.createElement("mark");
    mark.textContent = text;
    return mark;
  });
}

async function run(query) {
  list.replaceChildren();
  if (!query.trim()) { status.textContent = ""; return; }
  status.textContent = "Recherche…";
  try {
    pagefind ??= await import(`${base}pagefind/pagefind.js`);
    await pagefind.options({ baseUrl: base });
    const search = await pagefind.search(query);
    const results = await Promise.all(search.results.slice(0, 30).map((r) => r.data()));
    status.textContent = results.length
      ? `${search.results.length} résultat${search.results.length > 1 ? "s" : ""} pour «\u00a0${query}\u00a0»`
      : `Aucun résultat pour «\u00a0${query}\u00a0».`;
    for (const result of results) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = result.url;
      link.textContent = result.meta.title || result.url;
      const excerpt = document.createElement("p");
      excerpt.append(...excerptNodes(result.excerpt));
      item.append(link, excerpt);
      list.append(item);
    }
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
