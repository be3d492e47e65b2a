// Reader of Constat's own search index (search.engine: constat). docs/search-index.md is the
// contract: constat/lexicon.py writes the files to the letter and this module reads them the same
// way. It answers like the part of Pagefind's API that search.js uses: options({ baseUrl }), then
// search(query) → { results: [{ id, score, data() }] }, data() → { url, meta: { title }, excerpt }.
// pages.json is fetched once, each shard once, a page's fragment only when its result is shown.

const EXCERPT_WORDS = 30;
const FULL_MATCH = 1;
const START_MATCH = 0.7;

let base = "/";
// Path under recherche/index/ → promise of its JSON: a file is fetched once per base.
const loaded = new Map();

export async function options({ baseUrl = "/" } = {}) {
  base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  // Another base is another site's index: what came from the old one no longer holds.
  loaded.clear();
}

// --- Words: the same cut as the writer's (spec "Words") ---------------------------------------

export function fold(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/œ/g, "oe").replace(/æ/g, "ae");
}

export function words(text) {
  return fold(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

// Lengths in characters as Python counts them (code points), not UTF-16 units.
function length(text) {
  return [...text].length;
}

export function stem(term) {
  let found = term;
  if (length(found) > 4 && /[sx]$/.test(found)) found = found.slice(0, -1);
  if (length(found) > 4 && found.endsWith("e")) found = found.slice(0, -1);
  // The feminine as far as the masculine goes: européenn(e) → européen, nouvell(e) → nouvel,
  // administrativ(e) and administratif → administrati, dangereus(e) → dangereu; and a plural in
  // -aux as far as its singular in -al or -au: nationau(x) and national → nationa, bureau(x) →
  // burea (spec "Searching").
  if (length(found) > 5 && /(nn|ll|tt)$/.test(found)) found = found.slice(0, -1);
  else if (length(found) > 6 && /i[fv]$/.test(found)) found = found.slice(0, -1);
  else if (length(found) > 5 && found.endsWith("eus")) found = found.slice(0, -1);
  else if (length(found) > 5 && /a[lu]$/.test(found)) found = found.slice(0, -1);
  return found;
}

export function shardName(word) {
  const head = [...word].slice(0, 2);
  if (head.every((c) => /^[a-z0-9]$/.test(c))) return head.join("");
  return `_${head.map((c) => c.codePointAt(0).toString(16)).join("-")}`;
}

// A word matches a stem as the index finds it: a word of the stem's shard that starts with it
// (so a one-character stem matches only itself: longer words are in other shards).
function matches(word, stemmed) {
  return word.startsWith(stemmed) && shardName(word) === shardName(stemmed);
}

function terms(query) {
  const unique = [...new Set(words(query))];
  const long = unique.filter((term) => length(term) > 1);
  return long.length ? long : unique;
}

// --- Files -----------------------------------------------------------------------------------

// A failed fetch is not remembered, so that the next search tries again.
function once(path, load) {
  let promise = loaded.get(path);
  if (!promise) {
    promise = load(`${base}recherche/index/${path}`);
    loaded.set(path, promise);
    promise.catch(() => { if (loaded.get(path) === promise) loaded.delete(path); });
  }
  return promise;
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function pages() {
  return once("pages.json", async (url) => {
    const index = await getJson(url);
    if (index.version !== 1) throw new Error(`${url}: version ${index.version}, this script reads 1`);
    const total = index.lengths.reduce((sum, n) => sum + n, 0);
    return { keys: index.pages, lengths: index.lengths, average: total / index.pages.length };
  });
}

// The writer leaves out a shard that would hold no word: a 404 is a shard without words.
function shard(name) {
  return once(`w/${name}.json`, async (url) => {
    const response = await fetch(url);
    if (response.status === 404) return {};
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  });
}

function fragment(key) {
  return once(`f/${key}.json`, getJson);
}

// Pairs gap, count → Map id → count.
function postings(pairs) {
  const found = new Map();
  let id = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    id += pairs[i];
    found.set(id, pairs[i + 1]);
  }
  return found;
}

// --- Searching (spec "Searching") -------------------------------------------------------------

export async function search(query) {
  const wanted = terms(query);
  if (!wanted.length) return { results: [] };
  const stems = wanted.map(stem);
  const [index, ...shards] = await Promise.all([pages(), ...stems.map((s) => shard(shardName(s)))]);
  const perTerm = termScores(index, shards, wanted, stems);
  const results = ranked(index, perTerm, stems);
  if (results.length) return { results };
  // Nothing found: a term that no word of the site matches may be misspelt (spec "Spelling").
  const corrected = wanted.map((term, i) => (Object.keys(shards[i]).some((w) => matches(w, stems[i]))
    ? term : nearest(term, shards[i])));
  if (!corrected.some((term) => term === null) && corrected.some((term, i) => term !== wanted[i])) {
    const respelt = corrected.map(stem);
    const again = ranked(index, termScores(index, shards, corrected, respelt), respelt);
    if (again.length) {
      const replaced = Object.fromEntries(wanted.map((term, i) => [term, corrected[i]])
        .filter(([term, word]) => term !== word));
      return { results: again, corrected: replaced };
    }
  }
  // Still nothing: the pages that have the most of the terms, if any has one (spec "Fewer words").
  const fewer = wanted.length > 1 ? rankedFewer(index, perTerm, wanted, stems) : [];
  return fewer.length ? { results: fewer, partial: true } : { results: [] };
}

// For each term, id → the best score of its matching words on the page (spec "Searching",
// steps 3 and 5).
function termScores(index, shards, wanted, stems) {
  const n = index.keys.length;
  return wanted.map((term, i) => {
    const best = new Map();
    for (const [word, pairs] of Object.entries(shards[i])) {
      if (!matches(word, stems[i])) continue;
      const weight = word === term ? FULL_MATCH : START_MATCH;
      const found = postings(pairs);
      const idf = Math.log(1 + (n - found.size + 0.5) / (found.size + 0.5));
      for (const [id, count] of found) {
        const tf = count * 2.2 / (count + 1.2 * (0.25 + 0.75 * index.lengths[id] / index.average));
        const score = weight * idf * tf;
        if (!(best.get(id) >= score)) best.set(id, score);
      }
    }
    return best;
  });
}

// The pages that have every term, best first (steps 4 to 6).
function ranked(index, perTerm, stems) {
  let scores = null; // id → score, for the pages that have every term so far
  for (const best of perTerm) {
    scores = scores === null ? best : new Map([...scores].filter(([id]) => best.has(id))
      .map(([id, score]) => [id, score + best.get(id)]));
  }
  return order(scores).map(([id, score]) => ({ id, score, data: () => data(index.keys[id], stems) }));
}

// The pages that have the most of the terms, each with those it lacks (spec "Fewer words").
function rankedFewer(index, perTerm, wanted, stems) {
  const scores = new Map(); // id → score over the terms the page has
  const has = new Map(); // id → how many of the terms it has
  let most = 0;
  for (const best of perTerm) {
    for (const [id, score] of best) {
      scores.set(id, (scores.get(id) ?? 0) + score);
      has.set(id, (has.get(id) ?? 0) + 1);
      most = Math.max(most, has.get(id));
    }
  }
  const kept = new Map([...scores].filter(([id]) => has.get(id) === most));
  return order(kept).map(([id, score]) => ({
    id, score, missing: wanted.filter((_, i) => !perTerm[i].has(id)),
    data: () => data(index.keys[id], stems),
  }));
}

// By score, highest first; equal scores by id (step 6).
function order(scores) {
  return [...scores].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

// --- Spelling (spec "Spelling") ---------------------------------------------------------------

// The word of the term's shard nearest to it: within one typing error (a letter left out, added,
// changed, or two letters swapped) for a term of 4 to 7 characters, two from 8 on; the nearest,
// then the one the most pages have, then the first in alphabetical order. null when none is.
function nearest(term, words) {
  const size = length(term);
  if (size < 4) return null;
  const most = size >= 8 ? 2 : 1;
  let best = null;
  for (const [word, pairs] of Object.entries(words)) {
    if (Math.abs(length(word) - size) > most) continue;
    const distance = typingErrors(term, word, most);
    if (distance > most) continue;
    const candidate = [distance, -pairs.length, word]; // the smaller the better
    if (best === null || better(best, candidate)) best = candidate;
  }
  return best === null ? null : best[2];
}

// The number of typing errors between two words (optimal string alignment: insertions, deletions,
// substitutions and swaps of two neighbouring letters), or more than `most` once it is.
function typingErrors(a, b, most) {
  const x = [...a];
  const y = [...b];
  let before = null;
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    let lowest = i;
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let d = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
      if (before && i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        d = Math.min(d, before[j - 2] + 1);
      }
      row.push(d);
      lowest = Math.min(lowest, d);
    }
    if (lowest > most) return most + 1;
    before = previous;
    previous = row;
  }
  return previous[y.length];
}

async function data(key, stems) {
  const page = await fragment(key);
  return { url: `${base}${page.url}`, meta: { title: page.title }, excerpt: excerpt(page.text, stems) };
}

// --- Excerpt ---------------------------------------------------------------------------------

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// The window of EXCERPT_WORDS words that reads best for the query: the most of its terms, then
// the most of them standing together (a word matching one term within two words of a word
// matching another, as « état d'urgence »), then the most words matching a term, then the one
// whose matches stand the farthest from its edges (some words of context on each side), the
// earliest of equal ones. Matches in <mark>, the rest escaped. The words are taken as written (combining
// marks kept in them, should the text be decomposed) and folded only to be matched.
export function excerpt(text, stems) {
  const found = [...text.matchAll(/[\p{L}\p{M}\p{N}]+/gu)].map((m) => {
    const folded = fold(m[0]);
    return { start: m.index, end: m.index + m[0].length, term: stems.findIndex((s) => matches(folded, s)) };
  });
  const size = Math.min(EXCERPT_WORDS, found.length);
  let first = 0;
  let best = null;
  for (let i = 0; i + size <= found.length; i++) {
    const score = reading(found, i, size);
    if (best === null || better(score, best)) { best = score; first = i; }
  }
  const window = found.slice(first, first + size);
  // Cut at the window's words, unless it reaches an end of the text: then keep what is there.
  let at = first === 0 ? 0 : window[0].start;
  const end = first + size === found.length ? text.length : window[window.length - 1].end;
  let html = "";
  for (const w of window) {
    const word = escape(text.slice(w.start, w.end));
    html += escape(text.slice(at, w.start)) + (w.term >= 0 ? `<mark>${word}</mark>` : word);
    at = w.end;
  }
  return html + escape(text.slice(at, end));
}

// [terms, pairs of terms standing together, words matching, words between the matches and the
// nearer edge] of the window of `size` words from `from`.
function reading(found, from, size) {
  const terms = new Set();
  let hits = 0;
  let together = 0;
  let first = -1;
  let last = -1;
  for (let i = from; i < from + size; i++) {
    const { term } = found[i];
    if (term < 0) continue;
    if (last >= 0 && i - last <= 2 && found[last].term !== term) together++;
    terms.add(term);
    hits++;
    if (first < 0) first = i;
    last = i;
  }
  const margin = hits ? Math.min(first - from, from + size - 1 - last) : 0;
  return [terms.size, together, hits, margin];
}

function better(a, b) {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] > b[k];
  return false;
}
