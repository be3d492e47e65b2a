// The reader of Constat's own search index (templates/static/lexicon.js) against a small index
// written here by hand after docs/search-index.md: five French pages, the shards the queries
// below need and the pages' fragments, served by a fake fetch. tests/test_lexicon_js.py runs it.
//
//   node tests/browser/lexicon.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  excerpt as excerptOf, fold, options, search, shardName, stem, words,
} from '../../templates/static/lexicon.js';

// Page ids: the pages' paths in sorted order.
const CONTROLES_ROUTIERS = 0; // affirmations/beauvau/controles-routiers/index.html
const PERQUISITION = 1; //       affirmations/justice/perquisition-domicile/index.html
const CONTROLE_IDENTITE = 2; //  affirmations/police/controle-identite/index.html
const PERQUISITIONS_2023 = 3; // articles/perquisitions-2023/index.html
const SECURITE_ROUTIERE = 4; //  articles/securite-routiere/index.html

const LONG_TEXT = 'Les perquisitions en 2023 Le nombre des perquisitions a doublé en un an selon les '
  + 'chiffres publiés ce mois par le ministère de l\'Intérieur, qui les attribue à la lutte contre les '
  + 'trafics et à la hausse des moyens des enquêteurs dans les départements les plus touchés. La justice '
  + 'a autorisé chaque opération ; la justice les vérifie ensuite, et la justice peut les annuler. Les '
  + 'avocats contestent ces chiffres.';

// Counts: a title word 5 times for each time it is in the title, once for each time elsewhere.
// Lengths: title words × 5 + the other words. 0: 2 × 5 + 9 = 19 (“10 000” is two words);
// 1: 1 × 5 + 21 = 26; 2: 3 × 5 + 11 = 26 (“d'identité” is two); 3: 4 × 5 + 66 = 86; 4: 2 × 5 + 9 = 19.
const INDEX = {
  'pages.json': {
    lengths: [19, 26, 26, 86, 19],
    pages: ['b9b1cb94cc2b', 'fb04f9369fa0', '1316f14317ee', 'a416517fbdfc', '13888d7a7e11'],
    version: 1,
  },
  // Postings: gap, count for each page that has the word.
  'w/co.json': {
    contestent: [3, 1], contre: [3, 1, 1, 1], // pages 3 and 4
    controle: [2, 6], controles: [0, 6], //      title and text once
  },
  'w/id.json': { identite: [1, 1, 1, 5] }, //   1 in the text, 2 in the title
  'w/ju.json': { justice: [1, 1, 2, 3] }, //    1 once, 3 three times
  'w/l.json': { l: [1, 1, 2, 1] }, //            pages 1 and 3
  'w/le.json': { le: [2, 2, 1, 2, 1, 1], legale: [1, 1], les: [3, 13, 1, 1] }, // “Les” in 3's title
  'w/mi.json': { ministere: [3, 1], ministre: [1, 1, 1, 2] }, // 1 once, 2 twice
  'w/pe.json': { perquisition: [1, 6], perquisitions: [3, 6], peut: [3, 1] },
  'w/po.json': { police: [0, 1, 1, 2, 1, 1] }, // 0 once, 1 twice, 2 once
  'w/ro.json': { routiere: [4, 5], routiers: [0, 5] }, // only in the titles
  'f/b9b1cb94cc2b.json': {
    text: 'Contrôles routiers La police a mené 10\u00a0000 contrôles en 2023.',
    title: 'Contrôles routiers',
    url: 'affirmations/beauvau/controles-routiers/',
  },
  'f/fb04f9369fa0.json': {
    text: 'Perquisition Selon la police, la police a vérifié l\'identité du ministre avant une perquisition '
      + '<légale> & rapide ordonnée hier par la justice.',
    title: 'Perquisition',
    url: 'affirmations/justice/perquisition-domicile/',
  },
  'f/1316f14317ee.json': {
    text: 'Contrôle d\'identité Selon le ministre, la police fait un contrôle ; le ministre insiste.',
    title: 'Contrôle d\'identité',
    url: 'affirmations/police/controle-identite/',
  },
  'f/a416517fbdfc.json': {
    text: LONG_TEXT,
    title: 'Les perquisitions en 2023',
    url: 'articles/perquisitions-2023/',
  },
  'f/13888d7a7e11.json': {
    text: 'Sécurité routière Le préfet a signé 12 arrêtés contre les excès.',
    title: 'Sécurité routière',
    url: 'articles/securite-routiere/',
  },
};

// The fake server: the index under any base path, but pages.json says version 2 under /v2/,
// the network is down under /offline/ and shards fail (HTTP 500) under /failing/.
const requests = [];
globalThis.fetch = async (url) => {
  requests.push(String(url));
  const [base, file] = String(url).split('recherche/index/');
  if (base === '/offline/') throw new TypeError('Failed to fetch');
  if (base === '/failing/' && file.startsWith('w/')) return new Response('Server error', { status: 500 });
  const files = base === '/v2/' ? { ...INDEX, 'pages.json': { ...INDEX['pages.json'], version: 2 } } : INDEX;
  if (!Object.hasOwn(files, file)) return new Response('Not found', { status: 404 });
  return new Response(`${JSON.stringify(files[file])}\n`, { headers: { 'Content-Type': 'application/json' } });
};

// Each test its own base, so that none sees what another loaded.
let sites = 0;
async function fresh() {
  const base = `/site${++sites}/`;
  await options({ baseUrl: base });
  return base;
}

function fetched(base) {
  return requests.filter((url) => url.startsWith(base)).map((url) => url.slice(`${base}recherche/index/`.length));
}

async function ids(query) {
  return (await search(query)).results.map((result) => result.id);
}

async function excerpt(query, id) {
  const result = (await search(query)).results.find((r) => r.id === id);
  assert.ok(result, `${query} finds page ${id}`);
  return (await result.data()).excerpt;
}

// --- Words -----------------------------------------------------------------------------------

test('fold: no accents, lower case, œ and æ as two letters', () => {
  assert.equal(fold('Contrôle'), 'controle');
  assert.equal(fold('Œuvre'), 'oeuvre');
  assert.equal(fold('ÉTAT'), 'etat');
  assert.equal(fold('Lætitia'), 'laetitia');
});

test('words: runs of letters and digits, everything else separates', () => {
  assert.deepEqual(words('l\'armée'), ['l', 'armee']);
  assert.deepEqual(words('Jean-Yves'), ['jean', 'yves']);
  assert.deepEqual(words('10\u00a0000'), ['10', '000']); // no-break space
  assert.deepEqual(words('10\u202f000'), ['10', '000']); // narrow no-break space
  assert.deepEqual(words('« Hausse de 12 % », dit-il'), ['hausse', 'de', '12', 'dit', 'il']);
  assert.deepEqual(words('…'), []);
});

test('stem: one final s or x, then one final e, only from long words', () => {
  assert.equal(stem('perquisitions'), 'perquisition');
  assert.equal(stem('conduites'), 'conduit');
  assert.equal(stem(fold('France')), 'franc');
  assert.equal(stem('des'), 'des');
  assert.equal(stem('genoux'), 'genou');
  assert.equal(stem('arme'), 'arme'); // 4 characters: kept
});

test('stem: a feminine goes as far as its masculine, a plural in -aux as its singular, so that either finds both', () => {
  for (const [forms, stemmed] of [
    [['europeenne', 'europeennes', 'europeen', 'europeens'], 'europeen'],
    [['officielle', 'officielles', 'officiel', 'officiels'], 'officiel'],
    [['administrative', 'administratives', 'administratif', 'administratifs'], 'administrati'],
    [['dangereuse', 'dangereuses', 'dangereux'], 'dangereu'],
    // and a plural in -aux its singular in -al or -au
    [['nationaux', 'national', 'nationale', 'nationales'], 'nationa'],
    [['bilateraux', 'bilateral', 'bilaterale', 'bilaterales'], 'bilatera'],
    [['bureaux', 'bureau'], 'burea'],
    [['animaux', 'animal'], 'anima'],
  ]) {
    for (const form of forms) {
      assert.ok(form.startsWith(stem(form)), form);
      assert.ok(forms.every((other) => other.startsWith(stem(form))), `${form} → ${stem(form)}`);
    }
    assert.equal(stem(forms[0]), stemmed);
  }
  assert.equal(stem('nouvelle'), 'nouvel');
  assert.equal(stem('rejette'), 'rejet');
  // Short words keep their letters: « bonne » does not become « bon », « actif » not « acti ».
  assert.equal(stem('bonne'), 'bonn');
  assert.equal(stem('actif'), 'actif');
  assert.equal(stem('motif'), 'motif');
  assert.equal(stem('chiffrement'), 'chiffrement');
  assert.equal(stem('canal'), 'canal');
  assert.equal(stem('totaux'), 'totau');
});

test('shard names: the first two characters, in hex unless a-z or 0-9', () => {
  assert.equal(shardName('αθηνα'), '_3b1-3b8');
  assert.equal(shardName('controle'), 'co');
  assert.equal(shardName('7'), '7');
  assert.equal(shardName('2023'), '20');
  assert.equal(shardName('l'), 'l');
});

// --- Finding ---------------------------------------------------------------------------------

test('accents and case are ignored', async () => {
  await fresh();
  assert.ok((await ids('controle')).includes(CONTROLE_IDENTITE)); // “Contrôle d'identité”
  assert.deepEqual(await ids('CONTRÔLE'), await ids('controle'));
  assert.deepEqual(await ids('Identité'), await ids('identite'));
});

test('a plural finds the singular and the singular the plural', async () => {
  await fresh();
  assert.deepEqual((await ids('perquisitions')).sort(), [PERQUISITION, PERQUISITIONS_2023]);
  assert.deepEqual((await ids('perquisition')).sort(), [PERQUISITION, PERQUISITIONS_2023]);
  // The exact word weighs more than a longer one: each query ranks its own form first.
  assert.deepEqual(await ids('perquisitions'), [PERQUISITIONS_2023, PERQUISITION]);
  assert.deepEqual(await ids('perquisition'), [PERQUISITION, PERQUISITIONS_2023]);
});

test('every term is required', async () => {
  await fresh();
  assert.deepEqual(await ids('perquisition police'), [PERQUISITION]);
  assert.deepEqual((await ids('police contrôle')).sort(), [CONTROLES_ROUTIERS, CONTROLE_IDENTITE]);
  // No page has both: the answer says so (see “Fewer words” below).
  assert.equal((await search('perquisition routiers')).partial, true);
  assert.equal((await search('perquisition police')).partial, undefined);
});

test('a one-character word is dropped when the query has a longer one', async () => {
  const base = await fresh();
  assert.deepEqual(await ids('l\'identité'), await ids('identité'));
  assert.ok(!fetched(base).includes('w/l.json'));
  assert.deepEqual(await ids('l'), [PERQUISITION, PERQUISITIONS_2023]); // l'identité, l'Intérieur
  // As in the index, a one-character term matches that word only, not “la”.
  assert.ok((await excerpt('l', PERQUISITION)).includes(' la police, la police a vérifié <mark>l</mark>&#39;identité'));
});

test('a word that no page has finds nothing, its shard missing', async () => {
  const base = await fresh();
  assert.deepEqual(await ids('zèbre'), []);
  const zebre = await search('police zèbre'); // the pages with police, each without zèbre
  assert.deepEqual(zebre.results.map((r) => [r.id, r.missing]).sort(),
    [[CONTROLES_ROUTIERS, ['zebre']], [PERQUISITION, ['zebre']], [CONTROLE_IDENTITE, ['zebre']]]);
  assert.ok(fetched(base).includes('w/ze.json'));
  assert.deepEqual(await ids('ministr'), [CONTROLE_IDENTITE, PERQUISITION]); // not “ministère”
  assert.deepEqual(await ids(' … !'), []);
});

// --- Spelling --------------------------------------------------------------------------------

test('a query that finds nothing is answered for the nearest words of the misspelt terms', async () => {
  await fresh();
  // A letter changed; two letters swapped (twice, one error each); a letter added.
  for (const [typed, word] of [['polise', 'police'], ['polcie', 'police'], ['perquisitoin', 'perquisition'],
    ['justiice', 'justice']]) {
    const answer = await search(typed);
    assert.deepEqual(answer.corrected, { [typed]: word }, typed);
    assert.deepEqual(answer.results.map((r) => r.id), await ids(word), typed);
  }
  // Only the misspelt term is replaced; the excerpt marks the word found.
  const both = await search('Polise perquisition');
  assert.deepEqual(both.corrected, { polise: 'police' });
  assert.deepEqual(both.results.map((r) => r.id), [PERQUISITION]);
  assert.ok((await both.results[0].data()).excerpt.includes('<mark>police</mark>'));
  // Two words as near: the one more pages have (« ministre » two, « ministère » one).
  assert.deepEqual((await search('ministrre')).corrected, { ministrre: 'ministre' });
});

test('a query is not corrected when it finds pages, or when its words are all in the site', async () => {
  await fresh();
  assert.equal((await search('police')).corrected, undefined);
  const none = await search('perquisition routiers'); // both words exist, no page has both
  assert.deepEqual([none.corrected, none.partial], [undefined, true]);
});

test('a term too short or too far from every word is not corrected', async () => {
  await fresh();
  assert.deepEqual(await search('lex'), { results: [] }); //       three characters (« les »)
  assert.deepEqual(await search('polxxe'), { results: [] }); //    two errors in six characters
  assert.deepEqual(await search('polise zèbre'), { results: [] }); // no near word, and no page has either
  assert.deepEqual(await search('olice'), { results: [] }); //     the first letters choose the shard
  // Corrected, still nothing: no correction, and the pages with the most of the words as typed.
  const typo = await search('perquisitoin routiers');
  assert.deepEqual([typo.corrected, typo.partial], [undefined, true]);
  assert.deepEqual(typo.results.map((r) => [r.id, r.missing]).sort(),
    [[CONTROLES_ROUTIERS, ['perquisitoin']], [SECURITE_ROUTIERE, ['perquisitoin']]]);
});

// --- Fewer words -----------------------------------------------------------------------------

test('a query no page answers whole is answered by the pages that have the most of its terms', async () => {
  await fresh();
  // Two of three: the police check on the roads and the search of a home, each without its third.
  const two = await search('police perquisition routiers');
  assert.equal(two.partial, true);
  assert.deepEqual(two.results.map((r) => [r.id, r.missing]).sort(),
    [[CONTROLES_ROUTIERS, ['perquisition']], [PERQUISITION, ['routiers']]]);
  // One of two: every page with either, ranked by the score of the term it has.
  const one = await search('perquisition routiers');
  assert.deepEqual(one.results.map((r) => r.id).sort(),
    [CONTROLES_ROUTIERS, PERQUISITION, PERQUISITIONS_2023, SECURITE_ROUTIERE]);
  const scores = one.results.map((r) => r.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
  assert.ok(one.results.every((r) => r.missing.length === 1));
  // Its excerpts mark the terms the page has.
  assert.ok((await excerpt('police perquisition routiers', PERQUISITION)).includes('<mark>perquisition</mark>'));
  // A one-term query, or one whose pages have all its terms, is never partial.
  assert.deepEqual(await search('zèbre'), { results: [] });
  assert.equal((await search('police')).partial, undefined);
});

// --- Ranking ---------------------------------------------------------------------------------

test('a page with the word in its title ranks first', async () => {
  await fresh();
  // Page 1 has “identité” in its text, page 2 in its title.
  assert.deepEqual(await ids('identite'), [CONTROLE_IDENTITE, PERQUISITION]);
});

test('a page with the word more often ranks first', async () => {
  await fresh();
  assert.deepEqual(await ids('justice'), [PERQUISITIONS_2023, PERQUISITION]);
  assert.deepEqual(await ids('police'), [PERQUISITION, CONTROLES_ROUTIERS, CONTROLE_IDENTITE]);
});

test('rarer words weigh more', async () => {
  await fresh();
  // Pages 1 and 2 have the same length; 1 has “police” twice and “ministre” once, 2 the other way
  // round. “ministre” is on 2 pages of 5, “police” on 3: it decides.
  const both = (await search('police ministre')).results;
  assert.deepEqual(both.map((r) => r.id), [CONTROLE_IDENTITE, PERQUISITION]);
  assert.ok(both[0].score > both[1].score);
});

test('equal scores keep the order of the pages', async () => {
  await fresh();
  // “routiers” (page 0) and “routière” (page 4): each on one page of the same length, 5 times,
  // each a longer word than “routier”. The shard lists “routiere” first.
  const results = (await search('routier')).results;
  assert.deepEqual(results.map((r) => r.id), [CONTROLES_ROUTIERS, SECURITE_ROUTIERE]);
  assert.equal(results[0].score, results[1].score);
});

test('scores follow the formula of the spec', async () => {
  await fresh();
  // “identite” on page 2: full match, df 2 of N = 5, count 5, length 26, mean length 35.2.
  const [first] = (await search('identite')).results;
  const idf = Math.log(1 + (5 - 2 + 0.5) / (2 + 0.5));
  const tf = 5 * 2.2 / (5 + 1.2 * (0.25 + 0.75 * 26 / 35.2));
  assert.ok(Math.abs(first.score - idf * tf) < 1e-12, `${first.score} ≠ ${idf * tf}`);
});

test('a term scores by the best of its words on a page, and once', async () => {
  await fresh();
  // Page 3 has “le” twice (a full match, on 3 pages of 5) and “les” 13 times (by its start, on 2).
  const score = (await search('le')).results.find((r) => r.id === PERQUISITIONS_2023).score;
  const part = (weight, df, count) => weight * Math.log(1 + (5 - df + 0.5) / (df + 0.5))
    * count * 2.2 / (count + 1.2 * (0.25 + 0.75 * 86 / 35.2));
  const best = Math.max(part(1, 3, 2), part(0.7, 2, 13));
  assert.ok(Math.abs(score - best) < 1e-12, `${score} ≠ ${best}`);
  const once = (await search('police')).results;
  assert.deepEqual((await search('Police police POLICE')).results.map((r) => [r.id, r.score]),
    once.map((r) => [r.id, r.score]));
});

// --- Showing a result ------------------------------------------------------------------------

test('data: the address with the base path, the title and the excerpt', async () => {
  await options({ baseUrl: '/sub/' });
  const [result] = (await search('controle')).results;
  assert.deepEqual(await result.data(), {
    url: '/sub/affirmations/police/controle-identite/',
    meta: { title: 'Contrôle d\'identité' },
    excerpt: '<mark>Contrôle</mark> d&#39;identité Selon le ministre, la police fait un <mark>contrôle</mark> ; '
      + 'le ministre insiste.',
  });
});

test('the excerpt marks the matching words as written and escapes the rest', async () => {
  await fresh();
  assert.equal(await excerpt('perquisitions', PERQUISITION),
    '<mark>Perquisition</mark> Selon la police, la police a vérifié l&#39;identité du ministre avant une '
    + '<mark>perquisition</mark> &lt;légale&gt; &amp; rapide ordonnée hier par la justice.');
  assert.equal(await excerpt('police ministre', PERQUISITION),
    'Perquisition Selon la <mark>police</mark>, la <mark>police</mark> a vérifié l&#39;identité du '
    + '<mark>ministre</mark> avant une perquisition &lt;légale&gt; &amp; rapide ordonnée hier par la justice.');
});

test('a long text gives the 30 words with the most matches, some context around them, cut at words', async () => {
  await fresh();
  // “justice” is the 50th, 56th and 62nd of 70 words: of the windows of 30 words that hold all
  // three, the one whose matches stand farthest from its edges runs to the text's end.
  assert.equal(await excerpt('justice', PERQUISITIONS_2023),
    'des enquêteurs dans les départements les plus touchés. La <mark>justice</mark> a autorisé chaque '
    + 'opération ; la <mark>justice</mark> les vérifie ensuite, et la <mark>justice</mark> peut les annuler. '
    + 'Les avocats contestent ces chiffres.');
  // Both “perquisitions” are in the first 30 words: the window starts with the text.
  const first = await excerpt('perquisitions', PERQUISITIONS_2023);
  assert.ok(first.startsWith('Les <mark>perquisitions</mark> en 2023 Le nombre des <mark>perquisitions</mark> '));
  assert.ok(first.endsWith(' qui les attribue à la'), first);
});

test('the excerpt prefers the words of the query standing together over more scattered matches', () => {
  // Four matches far apart early on (« Conseil d'État » three times, « urgence » once), then
  // « état d'urgence » once: the phrase is what the reader looks for.
  const text = 'Le Conseil d’État a rappelé que le Conseil d’État et le Conseil d’État ont jugé en urgence. '
    + `${'mot '.repeat(30)}Puis l’état d’urgence a été prolongé. ${'fin '.repeat(20)}`;
  const shown = excerptOf(text, ['etat', 'urgence']);
  assert.ok(shown.includes('Puis l’<mark>état</mark> d’<mark>urgence</mark> a été prolongé.'), shown);
  assert.ok(!shown.includes('Conseil'), shown);
  // A query of one word: the window with the most matches, as before.
  assert.ok(excerptOf(text, ['conseil']).startsWith('Le <mark>Conseil</mark> d’État'));
});

// --- Loading ---------------------------------------------------------------------------------

test('pages.json and each shard are fetched once across searches', async () => {
  const base = await fresh();
  await search('contrôle police');
  await search('police controles');
  await search('perquisition');
  assert.deepEqual(fetched(base), ['pages.json', 'w/co.json', 'w/po.json', 'w/pe.json']);
});

test('a fragment is fetched only for the results shown, and once', async () => {
  const base = await fresh();
  const { results } = await search('police');
  assert.equal(results.length, 3);
  assert.ok(!fetched(base).some((file) => file.startsWith('f/')));
  await results[0].data();
  await results[0].data();
  assert.deepEqual(fetched(base).filter((file) => file.startsWith('f/')), ['f/fb04f9369fa0.json']);
});

test('another version of the index is an error', async () => {
  await options({ baseUrl: '/v2/' });
  await assert.rejects(search('police'), /version/);
});

test('a network error is an error, and the next search tries again', async () => {
  await options({ baseUrl: '/offline/' });
  await assert.rejects(search('police'), TypeError);
  await assert.rejects(search('police'), TypeError);
  assert.equal(requests.filter((url) => url === '/offline/recherche/index/pages.json').length, 2);
});

test('a shard that fails to load (not a 404) is an error', async () => {
  await options({ baseUrl: '/failing/' });
  await assert.rejects(search('police'), /HTTP 500/);
});
