/**
 * A browser pointed straight at the edge over https:// fetches the build over HTTP/2. A real
 * Vite build (test/fixtures/vite-app, as in vite-build.test.ts) whose `base` is the edge's TLS
 * URL is loaded cross-origin in real headless Chromium, which trusts the test certificate by
 * its public key (--ignore-certificate-errors-spki-list); Chromium's own network log (DevTools
 * protocol, Network.responseReceived) must name `h2` for every asset, each a 200.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { resolveConfig } from '../src/config.js';
import { LANE_SUFFIX, laneFlags } from './helpers/h2-lane.js';
import { startEdge, type Edge } from '../src/edge.js';
import { chromiumInstalled, CHROMIUM_PATH, launchBrowser, type TestBrowser } from './helpers/browser.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';
import { edgeTls, type EdgeTls } from './helpers/tls.js';

const missing = (await chromiumInstalled()) ? false : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (missing && process.env.CI) throw new Error(`${missing}: CI must run the browser test`);
const skip = missing;

const FIXTURE = fileURLToPath(new URL('./fixtures/vite-app/', import.meta.url));

let tls: EdgeTls;
let spki: string;
let dist: TempDir;
let edge: Edge;
let site: Server;
let siteUrl: string;
let browser: TestBrowser | undefined;
let emitted: string[];

before(async () => {
  if (skip) return;
  tls = edgeTls();
  spki = tls.cert.spkiSha256;
  dist = await diskOrigin({}, 'vite-tls');
  edge = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', origin: dist.dir, ...tls.flags, ...laneFlags() }, {}));
  assert.match(edge.url, /^https:\/\//);
  await build({
    root: FIXTURE,
    base: `${edge.url}/`,
    logLevel: 'silent',
    configFile: false,
    envDir: false,
    build: { outDir: dist.dir, emptyOutDir: true, assetsInlineLimit: 0, manifest: true },
  });
  await edge.manifests.refresh();
  emitted = (await readdir(dist.path('assets'))).map((name) => `/assets/${name}`).sort();
  const html = await readFile(dist.path('index.html'));
  site = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': html.length }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}/`;
  browser = await launchBrowser({ args: [`--ignore-certificate-errors-spki-list=${spki}`] });
});

after(async () => {
  await browser?.close();
  if (site) await new Promise((resolve) => site.close(resolve));
  await edge?.close();
  await dist?.remove();
  tls?.remove();
});

test('Chromium loads a Vite build from the edge over https://, every asset over HTTP/2' + LANE_SUFFIX, { skip }, async () => {
  const page = await browser!.newPage();
  const cdp = await browser!.context.newCDPSession(page);
  await cdp.send('Network.enable');
  const seen: Array<{ path: string; status: number; protocol: string | undefined }> = [];
  cdp.on('Network.responseReceived', ({ response }) => {
    if (response.url.startsWith(`${edge.url}/`)) seen.push({ path: new URL(response.url).pathname, status: response.status, protocol: response.protocol });
  });
  const failed: string[] = [];
  page.on('requestfailed', (req) => failed.push(`${req.url()} ${req.failure()?.errorText}`));
  try {
    await page.goto(siteUrl);
    await page.waitForFunction(
      `document.documentElement.dataset.main === 'ran'
        && document.querySelector('#lazy-slot')?.dataset.loaded === 'yes'
        && document.querySelector('#logo')?.complete && document.querySelector('#logo').naturalWidth > 0
        && [...document.fonts].some((f) => f.status === 'loaded')`,
      null,
      { polling: 50 },
    );
    assert.deepEqual(failed, []);
    assert.deepEqual([...new Set(seen.map((s) => s.path))].sort(), emitted, 'every asset the build emitted came from the edge');
    for (const answer of seen) {
      assert.equal(answer.status, 200, answer.path);
      assert.equal(answer.protocol, 'h2', `${answer.path} over HTTP/2`);
    }
    assert.ok(edge.traffic.toJSON().byStatus['200']! >= emitted.length);
  } finally {
    await page.close();
  }
});
