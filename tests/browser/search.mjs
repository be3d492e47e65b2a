#!/usr/bin/env node
// Searches a site already served on the loopback as a reader would: opens its search page with
// a query in the address (?q=…), waits for the results and prints them. tests/test_search.py runs it.
//
//   node tests/browser/search.mjs SEARCH_PAGE_URL QUERY [QUERY ...]
//
// Prints one JSON document on stdout: {"QUERY": {"status": "…", "results": [{"href", "title", "excerpt", "missing"}],
// "requests": ["/…/pagefind/…" or "/…/recherche/index/…", …], "errors": ["…"]}, …}: the status line the page shows, the
// results it lists (missing: the words a result says it lacks, when no page has them all), the
// index files it fetched and any script error. Exit status: 0 when every query was answered
// (results or none), 2 on a tool error (message on stderr).
//
// Environment: CONSTAT_TOOLS and CHROMIUM as for a11y.mjs.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const TOOLS = path.resolve(process.env.CONSTAT_TOOLS || path.join(os.homedir(), '.cache', 'constat-tools'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function fail(message) {
  console.error(`search: ${message}`);
  process.exit(2);
}

const require = createRequire(path.join(TOOLS, 'package.json'));
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  fail(`cannot load playwright-core from ${TOOLS}/node_modules (${e.message}); run \`bash scripts/install-browser-tools.sh\``);
}

async function search(context, pageUrl, query) {
  const page = await context.newPage();
  const record = { status: '', results: [], requests: [], errors: [] };
  page.on('pageerror', (e) => record.errors.push(String(e)));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.includes('/pagefind/') || u.pathname.includes('/recherche/index/')) record.requests.push(u.pathname);
  });
  const url = new URL(pageUrl);
  url.searchParams.set('q', query);
  await page.goto(url.href, { waitUntil: 'load', timeout: 30000 });
  // The status line says « Recherche… » until the index answered.
  await page.waitForFunction(() => {
    const text = document.getElementById('search-status')?.textContent || '';
    return text && !text.startsWith('Recherche');
  }, null, { timeout: 30000 });
  record.status = await page.locator('#search-status').textContent();
  record.results = await page.locator('#search-results li').evaluateAll(
    (items) => items.map((li) => {
      const a = li.querySelector('a');
      return {
        href: new URL(a.href).pathname, title: a.textContent, excerpt: a.nextElementSibling?.textContent ?? '',
        missing: li.querySelector('.search-missing')?.textContent ?? '',
      };
    }));
  await page.close();
  return record;
}

async function main() {
  const [pageUrl, ...queries] = process.argv.slice(2);
  if (!pageUrl || queries.length === 0) fail('usage: node search.mjs SEARCH_PAGE_URL QUERY [QUERY ...]');
  if (!LOOPBACK.has(new URL(pageUrl).hostname)) fail(`${pageUrl} is not a loopback address`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-extensions'],
  });
  const answers = {};
  try {
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, locale: 'fr-FR' });
    await context.route(/.*/, (route) => {
      const u = new URL(route.request().url());
      if (LOOPBACK.has(u.hostname) || u.protocol === 'data:' || u.protocol === 'blob:') route.continue();
      else route.abort('blockedbyclient');
    });
    for (const query of queries) answers[query] = await search(context, pageUrl, query);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(answers, null, 2));
}

main().catch((e) => fail(`error: ${(e && e.stack) || e}`));
