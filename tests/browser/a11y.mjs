#!/usr/bin/env node
// Accessibility audit of pages already served on the loopback: axe-core injected by
// playwright-core into the system Chromium. tests/test_quality.py runs it; it serves nothing.
//
//   node tests/browser/a11y.mjs BASE_URL PATH [PATH ...]
//
// BASE_URL is an http://127.0.0.1:PORT address (or localhost); each PATH is appended to it as
// is (so it carries the site's base path, e.g. /dossier/articles/x/). Every path is audited in
// each colour scheme (light, dark: prefers-color-scheme emulation) at each viewport.
//
// Prints one JSON document on stdout:
//   {"axe": "4.14.1", "tags": [...], "viewports": [...], "colorSchemes": [...], "violationCount": N,
//    "pages": [{"path", "url", "viewport", "colorScheme", "prefersDark", "status", "violations": [
//        {"id", "impact", "help", "helpUrl", "nodes": [{"target", "html", "failureSummary"}]}]}]}
// An HTTP status >= 400, or a page that cannot be loaded, counts as a violation ("http-status",
// "page-error"). Exit status: 0 no violation, 1 violations, 2 tool error (message on stderr).
//
// Environment (all optional):
//   CONSTAT_TOOLS     folder whose node_modules hold playwright-core and axe-core
//                     (default ~/.cache/constat-tools; scripts/install-browser-tools.sh fills it)
//   CHROMIUM          browser binary (default /usr/bin/chromium: never a downloaded browser)
//   A11Y_TAGS         axe tags (default wcag2a,wcag2aa,wcag21a,wcag21aa)
//   A11Y_VIEWPORTS    WxH list (default 375x812,1280x800)
//   A11Y_SCHEMES      colour schemes (default light,dark)
//   A11Y_CONCURRENCY  pages audited at once in each browser context (default 2)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const list = (value, fallback) => (value || fallback).split(',').map(s => s.trim()).filter(Boolean);
const TOOLS = path.resolve(process.env.CONSTAT_TOOLS || path.join(os.homedir(), '.cache', 'constat-tools'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TAGS = list(process.env.A11Y_TAGS, 'wcag2a,wcag2aa,wcag21a,wcag21aa');
const VIEWPORTS = list(process.env.A11Y_VIEWPORTS, '375x812,1280x800').map(v => {
  const [width, height] = v.split('x').map(Number);
  return { width, height };
});
const SCHEMES = list(process.env.A11Y_SCHEMES, 'light,dark');
const CONCURRENCY = Math.max(1, Number(process.env.A11Y_CONCURRENCY || 2));
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
// Every host name but the loopback fails to resolve: neither a page nor Chromium itself can
// reach the network, whatever the page asks for (requests are also aborted below).
const HOST_RULES = 'MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost';

function fail(message) {
  console.error(`a11y: ${message}`);
  process.exit(2);
}

// `import` ignores NODE_PATH: load the tools from their folder outside the repository.
const require = createRequire(path.join(TOOLS, 'package.json'));
let chromium, axeSource;
try {
  ({ chromium } = require('playwright-core'));
  axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
} catch (e) {
  fail(`cannot load playwright-core and axe-core from ${TOOLS}/node_modules (${e.message}); ` +
    'run `bash scripts/install-browser-tools.sh`');
}
if (!fs.existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}; run \`bash scripts/install-browser-tools.sh\``);

async function audit(page, base, p, viewport, colorScheme) {
  const url = base + p;
  const record = { path: p, url, viewport: `${viewport.width}x${viewport.height}`, colorScheme, status: 0, violations: [] };
  let response;
  try {
    response = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  } catch (e) {
    record.violations.push({ id: 'page-error', impact: 'critical', help: `cannot load the page: ${e.message}`, nodes: [] });
    return record;
  }
  record.status = response ? response.status() : 0;
  if (record.status >= 400 || record.status === 0) {
    record.violations.push({ id: 'http-status', impact: 'critical', help: `HTTP status ${record.status}`, nodes: [] });
    return record;
  }
  await page.evaluate(() => document.fonts.ready);
  // Proof that the emulation took: the test checks it against colorScheme.
  record.prefersDark = await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(
    tags => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    TAGS);
  record.violations = result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({ target: n.target, html: n.html, failureSummary: n.failureSummary })),
  }));
  // Not an axe rule, but the same promise to phone readers: nothing scrolls sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) {
    record.violations.push({ id: 'horizontal-overflow', impact: 'serious',
      help: `the page is ${overflow}px wider than the ${viewport.width}px viewport`, nodes: [] });
  }
  return record;
}

async function main() {
  const [baseArg, ...paths] = process.argv.slice(2);
  if (!baseArg || paths.length === 0) fail('usage: node a11y.mjs BASE_URL PATH [PATH ...]');
  const base = baseArg.replace(/\/+$/, '');
  if (!LOOPBACK.has(new URL(base).hostname)) fail(`${base} is not a loopback address`);

  // launch() gives Chromium a fresh temporary profile (--user-data-dir) and deletes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--no-default-browser-check', '--mute-audio',
      `--host-resolver-rules=${HOST_RULES}`],
  });
  const pages = [];
  try {
    for (const colorScheme of SCHEMES) {
      for (const viewport of VIEWPORTS) {
        const context = await browser.newContext({ viewport, colorScheme, locale: 'fr-FR' });
        await context.route(/.*/, route => {
          const u = new URL(route.request().url());
          if (LOOPBACK.has(u.hostname) || u.protocol === 'data:' || u.protocol === 'blob:') route.continue();
          else route.abort('blockedbyclient');
        });
        const queue = [...paths];
        const worker = async () => {
          const page = await context.newPage();
          for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
            pages.push(await audit(page, base, p, viewport, colorScheme));
          }
          await page.close();
        };
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, paths.length) }, worker));
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  const order = (pg) => [SCHEMES.indexOf(pg.colorScheme), VIEWPORTS.findIndex(v => `${v.width}x${v.height}` === pg.viewport),
    paths.indexOf(pg.path)];
  pages.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  const violationCount = pages.reduce((n, pg) => n + pg.violations.length, 0);
  const axe = JSON.parse(fs.readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version;
  console.log(JSON.stringify({
    axe, tags: TAGS, viewports: VIEWPORTS.map(v => `${v.width}x${v.height}`), colorSchemes: SCHEMES,
    violationCount, pages,
  }, null, 2));
  for (const pg of pages) for (const v of pg.violations)
    console.error(`a11y: ${pg.path} [${pg.viewport} ${pg.colorScheme}] ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} node(s))`);
  console.error(`a11y: ${pages.length} page-views, ${violationCount} violation(s)`);
  process.exit(violationCount ? 1 : 0);
}

main().catch(e => fail(`error: ${(e && e.stack) || e}`));
