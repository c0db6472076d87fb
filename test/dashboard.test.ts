/**
 * The status page at /_hashedge/ in real headless Chromium (Debian `chromium`, driven by
 * playwright-core) against real nodes on port 0: it loads, shows the numbers GET
 * /_hashedge/stats has, follows traffic, lists a cluster's members, and says so when the node
 * goes down. Every wait is on a condition in the page, never a sleep. Screenshots go to
 * HASHEDGE_SCREENSHOT_DIR, or a fresh temp directory (printed as a diagnostic).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { chromiumInstalled, CHROMIUM_PATH, launchBrowser, type TestBrowser } from './helpers/browser.js';
import { startServe } from './helpers/cli.js';
import { startCluster } from './helpers/cluster.js';
import { freePortRun } from './helpers/ports.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { diskOrigin, tempDir } from './helpers/temp-dir.js';

// Without Chromium a developer's run skips these with the reason; CI (.ci/run installs it)
// never skips them.
const missing = (await chromiumInstalled()) ? false : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (missing && process.env.CI) throw new Error(`${missing}: CI must run the dashboard tests`);
const skip = missing;
/** Fast polling for the test; the page's default is 1 s. */
const PAGE = '/_hashedge/?interval=250';

interface Stats {
  node: string;
  worker: { index: number; pid: number } | null;
  origin: string;
  cache: { bytes: number; budgetBytes: number; items: number; hot: { bytes: number; budgetBytes: number; items: number } };
  disk: { bytes: number; budgetBytes: number; objects: number } | null;
  traffic: { requests: number; bytesSent: number; byStatus: Record<string, number>; byCache: Record<string, number> };
  counters: Record<string, number>;
  cluster: null | { self: string; members: Array<{ url: string; self: boolean; state: string; healthy: boolean; share: number }> };
  topKeys: Array<{ key: string; requests: number }>;
}

async function stats(node: Pick<Edge, 'url'>): Promise<Stats> {
  const res = await request(`${node.url}/_hashedge/stats`);
  assert.equal(res.status, 200);
  return JSON.parse(res.body.toString('utf8')) as Stats;
}

interface Shown {
  text: string | undefined;
  /** The raw number (data-value) behind the text. */
  value: string | undefined;
}

/** What the elements named show now (one round trip to the page). */
function read(page: Page, ids: readonly string[]): Promise<Record<string, Shown>> {
  return page.evaluate(
    (names) =>
      Object.fromEntries(
        names.map((id) => {
          const el = document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
          return [id, { text: el?.textContent ?? undefined, value: el?.dataset['value'] }];
        }),
      ),
    [...ids],
  );
}

/** The rows named `row`: each row's data-* attributes and what its cells named in `cells` show. */
function readRows(page: Page, row: string, cells: readonly string[]): Promise<Array<{ data: Record<string, string | undefined>; cells: Record<string, Shown> }>> {
  return page.evaluate(
    ([r, names]) =>
      [...document.querySelectorAll<HTMLElement>(`[data-testid="${r}"]`)].map((tr) => ({
        data: { ...tr.dataset },
        cells: Object.fromEntries(
          names.map((id) => {
            const el = tr.querySelector<HTMLElement>(`[data-testid="${id}"]`);
            return [id, { text: el?.textContent ?? undefined, value: el?.dataset['value'] }];
          }),
        ),
      })),
    [row, [...cells]] as const,
  );
}

async function values(page: Page, ids: readonly string[]): Promise<Record<string, string | undefined>> {
  return Object.fromEntries(Object.entries(await read(page, ids)).map(([id, shown]) => [id, shown.value]));
}

/** Waits until every element named shows the value given (compared as strings). */
async function waitForValues(page: Page, expected: Record<string, number | string | boolean>): Promise<void> {
  const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, String(v)]));
  try {
    await page.waitForFunction(
      (w) => Object.entries(w).every(([id, v]) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)?.dataset['value'] === v),
      want,
      { polling: 50 },
    );
  } catch (err) {
    // Say which numbers differ, not only that the wait timed out.
    assert.deepEqual(await values(page, Object.keys(want)), want, String(err));
  }
}

let browser: TestBrowser | undefined;
let shots = '';

before(async () => {
  if (skip) return;
  shots = process.env['HASHEDGE_SCREENSHOT_DIR'] ?? (await mkdtemp(join(tmpdir(), 'hashedge-dashboard-')));
  await mkdir(shots, { recursive: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('the status page shows the numbers of /_hashedge/stats and follows traffic', { skip }, async (t) => {
  const origin = new TestOrigin();
  const app = 'assets/app-1d18a1d220.js';
  const style = 'assets/style-3c7afd1f02.css';
  origin.put(app, 'console.log("app");'.repeat(200), { contentType: 'text/javascript' });
  origin.put(style, 'body{margin:0}'.repeat(100), { contentType: 'text/css' });
  const node = await startTestEdge({}, origin);
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  try {
    // /_hashedge (no slash) is redirected to the page.
    const bare = await request(`${node.url}/_hashedge`);
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, '/_hashedge/');
    const html = await request(`${node.url}/_hashedge/`);
    assert.equal(html.headers['cache-control'], 'no-cache');

    await page.goto(`${node.url}${PAGE}`);
    await page.waitForFunction(() => Number(document.body.dataset['polls']) >= 1, null, { polling: 50 });
    const before = await stats(node);
    const header = await read(page, ['node', 'origin', 'cluster-none']);
    assert.equal(header['node']!.text, before.node);
    assert.equal(header['origin']!.text, before.origin);
    assert.match(header['cluster-none']!.text ?? '', /not part of a cluster/, 'a single node says so');
    assert.equal(before.worker, null);
    assert.equal(await page.getByTestId('worker-fact').isHidden(), true, 'no worker line without --workers');
    assert.equal(await page.getByTestId('disk').isHidden(), true, 'no disk tier without --disk-cache');
    await waitForValues(page, {
      ready: true,
      'cache-items': before.cache.items,
      'cache-budget': before.cache.budgetBytes,
      'origin-fetches': before.counters['originFetches']!,
      'requests-total': before.traffic.requests,
    });

    // A miss, then hits, on two keys, and a 404.
    for (const key of [app, app, app, app, style, style]) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    assert.equal((await request(`${node.url}/assets/gone-0492830483.js`)).status, 404);
    const now = await stats(node);
    assert.equal(now.counters['originFetches'], before.counters['originFetches']! + 3);
    await waitForValues(page, {
      'cache-items': now.cache.items,
      'cache-bytes': now.cache.bytes,
      'origin-fetches': now.counters['originFetches']!,
      'origin-not-found': now.counters['originNotFound']!,
      'requests-total': now.traffic.requests,
      'bytes-sent': now.traffic.bytesSent,
      'by-cache-hit': now.traffic.byCache['hit']!,
      'status-404': now.traffic.byStatus['404']!,
      'hit-ratio': now.traffic.byCache['hit']! / now.traffic.requests,
    });
    const shown = await read(page, ['hit-ratio', 'req-rate-peak']);
    assert.match(shown['hit-ratio']!.text ?? '', /^\d+\.\d\s?%$/);
    assert.ok(Number(shown['req-rate-peak']!.value) > 0, 'the traffic shows in requests/s');

    // Top keys, most requested first, as the JSON has them (rendered from the same poll).
    const topKeys = await readRows(page, 'topkey', ['topkey-key', 'topkey-requests']);
    assert.deepEqual(topKeys.map((r) => [r.cells['topkey-key']!.text, Number(r.cells['topkey-requests']!.value)]), now.topKeys.map((k) => [k.key, k.requests]));
    assert.equal(now.topKeys[0]!.key, app);

    await page.screenshot({ path: join(shots, 'dashboard.png') });
    t.diagnostic(`screenshot: ${join(shots, 'dashboard.png')}`);

    // The node goes away: the page says so, visibly, and keeps the last numbers.
    await node.close();
    await page.getByTestId('error').waitFor({ state: 'visible' });
    const down = await read(page, ['error', 'origin-fetches']);
    assert.match(down['error']!.text ?? '', /Cannot reach/);
    assert.equal(down['origin-fetches']!.value, String(now.counters['originFetches']));
    await page.screenshot({ path: join(shots, 'dashboard-down.png') });
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await node.close();
  }
});

test('with --disk-cache the status page shows the disk tier, and says when a full disk paused its writes', { skip }, async () => {
  const origin = new TestOrigin();
  const keys = ['assets/a-1d18a1d220.js', 'assets/b-1d18a1d220.js'];
  for (const key of keys) origin.put(key, 'console.log("disk");'.repeat(100));
  const cache = await tempDir('dashboard-disk');
  let full = false;
  const writeFile_ = async (path: string, chunks: readonly Buffer[]) => {
    if (full) throw Object.assign(new Error('ENOSPC: simulated'), { code: 'ENOSPC' });
    await writeFile(path, Buffer.concat(chunks));
  };
  const node = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', 'disk-cache': cache.dir }, {}), { origin, diskWriteFile: writeFile_ });
  const page = await browser!.newPage();
  try {
    assert.equal((await request(`${node.url}/${keys[0]}`)).status, 200);
    await node.group.disk!.flushed();
    await page.goto(`${node.url}${PAGE}`);
    const disk = (await stats(node)).disk!;
    await waitForValues(page, { 'disk-items': 1, 'disk-bytes': disk.bytes, 'disk-budget': disk.budgetBytes, 'disk-writes': 1, 'disk-state': 'ok' });
    full = true;
    assert.equal((await request(`${node.url}/${keys[1]}`)).status, 200);
    await node.group.disk!.flushed();
    await waitForValues(page, { 'disk-state': 'full', 'disk-write-errors': 1 });
    assert.match((await read(page, ['disk-state']))['disk-state']!.text ?? '', /full: writes paused, serving from memory/);
  } finally {
    await page.close();
    await node.close();
    await cache.remove();
  }
});

test('a page opened after a burst shows it: the last minute comes from the node\'s own per-second history', { skip }, async () => {
  const origin = new TestOrigin();
  const key = 'assets/burst-1d18a1d220.js';
  origin.put(key, 'export default 1;'.repeat(50), { contentType: 'text/javascript' });
  const node = await startTestEdge({}, origin);
  const page = await browser!.newPage();
  try {
    for (let i = 0; i < 40; i++) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    // The burst is over before the page exists; wait (on a condition, not a time) until the
    // node's history has sampled it.
    for (;;) {
      const history = (JSON.parse((await request(`${node.url}/_hashedge/stats`)).body.toString()) as { history: { samples: Array<{ requests: number }> } }).history;
      if (history.samples.some((s) => s.requests >= 40)) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = JSON.parse((await request(`${node.url}/_hashedge/stats`)).body.toString()) as { history: { intervalMs: number; samples: Array<{ t: number; requests: number; hit: number }> } };
    assert.equal(stats.history.intervalMs, 1000);
    assert.ok(stats.history.samples.length <= 300);
    await page.goto(`${node.url}${PAGE}`);
    // The peak rate of the last minute is the burst's, though the page saw none of it.
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('[data-testid="req-rate-peak"]')?.dataset['value']) > 0, undefined, { polling: 50 });
    const shown = await values(page, ['req-rate-peak', 'hit-ratio-recent']);
    assert.ok(Number(shown['req-rate-peak']) > 0, `peak ${shown['req-rate-peak']}`);
    assert.ok(Number(shown['hit-ratio-recent']) > 0.9, `hit ratio of the last minute ${shown['hit-ratio-recent']}`);
  } finally {
    await page.close();
    await node.close();
  }
});

test('two nodes of two workers each: the page shows the node, the worker that answered, the node\'s figures, each worker\'s, and the cluster as nodes with their workers', { skip }, async (t) => {
  const origin = await diskOrigin({ 'app-1d18a1d220.js': 'console.log("app");' }, 'dashboard-workers');
  const pa = await freePortRun(3);
  const pb = await freePortRun(3, [pa, pa + 1, pa + 2]);
  const [na, nb] = [pa, pb].map((p) => `http://127.0.0.1:${p}`) as [string, string];
  const common = ['--workers', '2', '--origin', origin.dir, '--cache-size', '64MiB', '--peers', `${na},${nb}`, '--peer-secret', 'a-long-enough-shared-secret'];
  const started = await Promise.allSettled([pa, pb].map((port) => startServe([...common, '--port', String(port), '--self', `http://127.0.0.1:${port}`])));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const page = await browser!.newPage();
  try {
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    // Fresh connections: node:cluster hands them to both workers in turn.
    const sent = 12;
    for (let i = 0; i < sent; i++) assert.equal((await request(`${na}/app-1d18a1d220.js`)).status, 200);
    await page.goto(`${na}${PAGE}`);
    await page.getByTestId('worker-fact').waitFor({ state: 'visible' });
    const node = await stats({ url: na }) as Stats & { workers: Array<{ index: number; answered: boolean; traffic: { requests: number } }> };
    assert.equal(node.traffic.requests, sent, 'the node counts the requests of both workers');
    const perWorker = node.workers.map((w) => w.traffic.requests);
    assert.ok(perWorker.every((n) => n > 0), `requests per worker: ${perWorker.join(', ')}`);
    await waitForValues(page, { 'requests-total': sent, 'cache-budget': node.cache.budgetBytes });
    const header = await read(page, ['node', 'worker']);
    assert.equal(header['node']!.text, na, 'the node by its public URL, not a worker\'s');
    assert.match(header['worker']!.text ?? '', /^[01] of 2 · pid \d+$/);
    assert.equal(await page.getByTestId('workers-missing').isHidden(), true, 'every worker answered');

    // Each worker's own figures, adding up to the node's.
    const workers = await readRows(page, 'worker-row', ['worker-requests', 'worker-state']);
    assert.deepEqual(workers.map((w) => [w.data['index'], w.data['answered'], Number(w.cells['worker-requests']!.value)]), [['0', 'true', perWorker[0]], ['1', 'true', perWorker[1]]]);

    // The cluster: two nodes, each with its two workers under it.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="cluster-node"]').length === 2, null, { polling: 50 });
    const shownNodes = await readRows(page, 'cluster-node', ['node-url', 'node-workers']);
    // Nodes in URL order, each followed by its workers in index order.
    const byUrl = (a: [string, ...unknown[]], b: [string, ...unknown[]]) => (a[0] < b[0] ? -1 : 1);
    assert.deepEqual(
      shownNodes.map((n) => [n.cells['node-url']!.value!, n.data['self'] !== undefined, n.cells['node-workers']!.value] as [string, ...unknown[]]),
      ([[na, true, '2'], [nb, false, '2']] as Array<[string, ...unknown[]]>).sort(byUrl),
    );
    const members = await readRows(page, 'member', ['member-url']);
    const expected = ([[na, pa], [nb, pb]] as Array<[string, number]>).sort(byUrl).flatMap(([url, p]) => [[url, `http://127.0.0.1:${p + 1}`], [url, `http://127.0.0.1:${p + 2}`]]);
    assert.deepEqual(members.map((m) => [m.data['node'], m.cells['member-url']!.value]), expected);
    await page.screenshot({ path: join(shots, 'dashboard-workers.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(shots, 'dashboard-workers.png')}`);
  } finally {
    await page.close();
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    await origin.remove();
  }
});

test('the status page lists the cluster: every member, this node marked, ring shares adding up to 100 %', { skip }, async (t) => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  const page = await browser!.newPage();
  try {
    await page.emulateMedia({ colorScheme: 'dark' });
    const [first] = nodes as [Edge, Edge];
    await page.goto(`${first.url}${PAGE}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="member"]').length === 2, null, { polling: 50 });
    const { cluster } = await stats(first);
    assert.ok(cluster, 'stats.cluster in a cluster');
    const members = await readRows(page, 'member', ['member-url', 'member-health', 'member-share']);
    assert.deepEqual(members.map((m) => m.cells['member-url']!.value), cluster.members.map((m) => m.url));
    assert.deepEqual(members.map((m) => m.cells['member-url']!.value).sort(), nodes.map((n) => n.url).sort());
    assert.deepEqual(members.filter((m) => m.data['self'] !== undefined).map((m) => m.data['url']), [first.url], 'this node is marked');
    assert.deepEqual(members.map((m) => m.cells['member-health']!.text), cluster.members.map((m) => m.state));
    const shares = members.map((m) => Number(m.cells['member-share']!.value));
    assert.deepEqual(shares, cluster.members.map((m) => m.share));
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 0.001, `shares ${shares.join(' + ')}`);
    const percents = members.map((m) => Number.parseFloat(m.cells['member-share']!.text ?? ''));
    assert.ok(Math.abs(percents.reduce((a, b) => a + b, 0) - 100) <= 0.2, `shown ${percents.join(' % + ')} %`);
    // In a cluster the hot cache has a budget.
    await waitForValues(page, { 'hot-budget': (await stats(first)).cache.hot.budgetBytes });
    await page.screenshot({ path: join(shots, 'dashboard-cluster-dark.png') });
    t.diagnostic(`screenshot: ${join(shots, 'dashboard-cluster-dark.png')}`);
  } finally {
    await page.close();
    await Promise.all(nodes.map((n) => n.close()));
  }
});
