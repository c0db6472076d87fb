/**
 * A real Vite build, made during the test, loaded cross-origin in real headless Chromium
 * through a hashedge node with its default options: what a site gets when it points Vite's
 * `base` at the edge.
 *
 * The fixture (test/fixtures/vite-app) is a tiny app without a framework: index.html with a
 * module script whose module imports a stylesheet, an SVG and, on load, a lazy chunk; the
 * stylesheet uses a real web font (Inter, latin 400, from the @fontsource/inter npm package,
 * SIL OFL 1.1: src/fonts/LICENSE-inter.txt). Vite builds it with `base` set to the edge's URL
 * into the edge's (empty) disk origin, so the HTML references every asset on the edge as
 * bundlers emit them with a CDN base URL. The HTML is served from another origin, the site's
 * own, by a plain node:http server.
 *
 * The first visit must run everything (main module, lazy chunk, CSS, font, image) with every
 * edge answer a 200 marked immutable and no console error or failed request; a second visit
 * must load nothing from the edge at all (the browser's cache holds every asset).
 *
 * The names are Vite's own hashes. With the Vite of package-lock.json, lazy.js's text makes
 * its chunk `assets/lazy-uotn7cOy.js`: a hash with a run of four lower-case letters, which the
 * edge's name rules before issue 15 took for a word and refused (404 E_NOT_HASHED), so this
 * test would catch their return. The font, the SVG and the lazy chunk have the same names on
 * every run; index-*.js and index-*.css do not (their content has the edge's port, and the JS
 * the build's directory), so the build writes Vite's manifest (build.manifest, as the README
 * advises): a run whose random hash happens to read as a word is still served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import type { Edge } from '../src/edge.js';
import { chromiumInstalled, CHROMIUM_PATH, launchBrowser, type TestBrowser } from './helpers/browser.js';
import { startTestEdge } from './helpers/edge.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';
import { errorCode, request } from './helpers/http.js';

// Without Chromium a developer's run skips this with the reason; CI (.ci/run installs it)
// never skips it.
const missing = (await chromiumInstalled()) ? false : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (missing && process.env.CI) throw new Error(`${missing}: CI must run the Vite build test`);
const skip = missing;

const FIXTURE = fileURLToPath(new URL('./fixtures/vite-app/', import.meta.url));
const FONT_FAMILY = 'Fixture Inter';

let dist: TempDir;
let edge: Edge;
let site: Server;
let siteUrl: string;
let browser: TestBrowser | undefined;
/** Every file Vite emitted under assets/, as paths on the edge (`/assets/lazy-uotn7cOy.js`). */
let emitted: string[];

before(async () => {
  if (skip) return;
  // The edge first (its URL is the build's base), over an empty directory the build then fills.
  dist = await diskOrigin({}, 'vite');
  edge = await startTestEdge({ origin: dist.dir });
  await build({
    root: FIXTURE,
    base: `${edge.url}/`,
    logLevel: 'silent',
    configFile: false,
    envDir: false,
    build: {
      outDir: dist.dir,
      emptyOutDir: true,
      // Every asset a file of its own on the edge (Vite inlines those under 4 KiB by default).
      assetsInlineLimit: 0,
      // As the README tells Vite users: .vite/manifest.json vouches for every hashed file,
      // including the 0.28% of hashes that read as words (index-*.js changes every run).
      manifest: true,
    },
  });
  // A deploy's new manifest is read within 30 s; the test reads it now.
  await edge.manifests.refresh();
  emitted = (await readdir(dist.path('assets'))).map((name) => `/assets/${name}`).sort();

  // The site's own origin: the built index.html, never cached, and nothing else.
  const html = await readFile(dist.path('index.html'));
  site = createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'content-length': html.length });
      res.end(html);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}/`;

  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (site) await new Promise((resolve) => site.close(resolve));
  await edge?.close();
  await dist?.remove();
});

/** The edge's count of asset requests it answered (GET /_hashedge/stats is not one). */
async function edgeRequests(): Promise<number> {
  const res = await request(`${edge.url}/_hashedge/stats`);
  assert.equal(res.status, 200);
  return (JSON.parse(res.body.toString('utf8')) as { traffic: { requests: number } }).traffic.requests;
}

interface EdgeAnswer {
  path: string;
  status: number;
  cacheControl: string | undefined;
  /** The JSON error code of an error answer (E_NOT_HASHED for a refused name). */
  code: string | undefined;
}

/** What a page saw: the edge's answers, console errors, uncaught errors and failed requests. */
interface Watch {
  answers: EdgeAnswer[];
  problems: string[];
  /** Resolves once every response seen so far has been read. */
  settled(): Promise<void>;
}

function watch(page: Page): Watch {
  const answers: EdgeAnswer[] = [];
  const problems: string[] = [];
  const pending: Array<Promise<void>> = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (!res.url().startsWith(`${edge.url}/`)) return;
    pending.push(
      (async () => {
        const headers = await res.allHeaders();
        // Chromium may drop an error body (a failed module script's): ask the edge again for the code.
        let code: string | undefined;
        if (res.status() !== 200) code = await request(res.url()).then((again) => errorCode(again), () => undefined);
        answers.push({ path: new URL(res.url()).pathname, status: res.status(), cacheControl: headers['cache-control'], code });
      })(),
    );
  });
  return { answers, problems, settled: async () => void (await Promise.all(pending)) };
}

/** Waits for a condition in the page; on time-out, fails saying what the page saw instead. */
async function waitUntil(page: Page, seen: Watch, what: string, condition: string): Promise<void> {
  try {
    await page.waitForFunction(condition, null, { polling: 50 });
  } catch (err) {
    await seen.settled();
    const refused = seen.answers.filter((a) => a.status !== 200).map((a) => `${a.path} ${a.status} ${a.code ?? ''}`);
    assert.fail(`${what}: ${String(err).split('\n')[0]}\nedge answers not 200: ${JSON.stringify(refused)}\nproblems: ${JSON.stringify(seen.problems)}`);
  }
}

/** Every part of the app ran and rendered: the same checks on both visits. */
async function assertAppWorks(page: Page, seen: Watch): Promise<void> {
  await waitUntil(page, seen, 'the main module ran', `document.documentElement.dataset.main === 'ran'`);
  await waitUntil(page, seen, 'the lazy chunk loaded and wrote into the DOM', `document.querySelector('#lazy-slot')?.dataset.loaded === 'yes' && document.querySelector('#lazy-slot').textContent === 'loaded on demand'`);
  await waitUntil(page, seen, 'the stylesheet applied', `getComputedStyle(document.body).backgroundColor === 'rgb(240, 244, 248)' && getComputedStyle(document.querySelector('h1')).fontFamily.includes(${JSON.stringify(FONT_FAMILY)})`);
  await waitUntil(
    page,
    seen,
    'the web font loaded',
    `[...document.fonts].some((f) => f.family.replace(/["']/g, '') === ${JSON.stringify(FONT_FAMILY)} && f.status === 'loaded') && document.fonts.check(${JSON.stringify(`16px "${FONT_FAMILY}"`)})`,
  );
  await waitUntil(page, seen, 'the image loaded', `(() => { const img = document.querySelector('#logo'); return img !== null && img.complete && img.naturalWidth > 0; })()`);
  const { logo, scripts, styles } = await page.evaluate(() => ({
    logo: document.querySelector<HTMLImageElement>('#logo')!.src,
    scripts: [...document.querySelectorAll<HTMLScriptElement>('script[src]')].map((s) => s.src),
    styles: [...document.querySelectorAll<HTMLLinkElement>('link[rel=stylesheet]')].map((l) => l.href),
  }));
  for (const url of [logo, ...scripts, ...styles]) assert.ok(url.startsWith(`${edge.url}/assets/`), `${url} is on the edge`);
}

test('a Vite build whose base is the edge loads cross-origin in Chromium, then a second visit asks the edge nothing', { skip }, async (t) => {
  t.diagnostic(`Vite emitted ${emitted.join(' ')}`);
  assert.deepEqual(
    emitted.map((p) => p.replace(/-[A-Za-z0-9_-]{8}\./, '-<hash>.')).sort(),
    ['/assets/index-<hash>.css', '/assets/index-<hash>.js', '/assets/inter-latin-400-normal-<hash>.woff2', '/assets/lazy-<hash>.js', '/assets/logo-<hash>.svg'],
  );
  // public/ is copied as is, beside the assets: a file for the site's origin, not the edge.
  assert.ok((await stat(dist.path('robots.txt'))).isFile());

  // First visit: everything comes from the edge.
  const first = await browser!.newPage();
  const firstSeen = watch(first);
  try {
    await first.goto(siteUrl);
    await assertAppWorks(first, firstSeen);
    await firstSeen.settled();
    const refused = firstSeen.answers.filter((a) => a.status !== 200);
    assert.deepEqual(refused, [], 'every request to the edge is answered 200');
    for (const a of firstSeen.answers) assert.match(a.cacheControl ?? '', /\bimmutable\b/, `${a.path}: cache-control`);
    assert.deepEqual([...new Set(firstSeen.answers.map((a) => a.path))].sort(), emitted, 'the page loaded every asset the build emitted, each from the edge');
    assert.deepEqual(firstSeen.problems, []);
  } finally {
    await first.close();
  }

  // Second visit, a normal navigation in the same browser context: the assets come from the
  // browser's cache, and the edge sees no request at all.
  const before = await edgeRequests();
  assert.ok(before >= emitted.length, `the edge counted the first visit's ${emitted.length} requests (${before})`);
  const second = await browser!.newPage();
  const secondSeen = watch(second);
  try {
    await second.goto(siteUrl);
    await assertAppWorks(second, secondSeen);
    await secondSeen.settled();
    assert.deepEqual(secondSeen.problems, []);
  } finally {
    await second.close();
  }
  assert.equal(await edgeRequests(), before, 'the second visit made no request to the edge');
});
