/**
 * /metrics (Prometheus text) and /_hashedge/stats (JSON) after known traffic: the numbers an
 * operator's dashboards and alerts are built on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { createLogger } from '../src/log.js';
import { keyOwnedBy, startCluster } from './helpers/cluster.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const KEY = 'assets/app-0492830483.js';

async function scrape(node: Edge): Promise<Map<string, number>> {
  const res = await request(`${node.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of res.body.toString().split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

test('/metrics counts requests by status and cache result, bytes, fetches and the cache', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, 'x'.repeat(1000));
  const node = await startTestEdge({}, origin);
  try {
    await request(`${node.url}/${KEY}`); // miss
    await request(`${node.url}/${KEY}`); // hit
    await request(`${node.url}/${KEY}`, { method: 'HEAD' }); // hit, no body
    await request(`${node.url}/assets/gone-0492830483.js`); // origin 404
    await request(node.url, { path: '/%2e%2e/etc/passwd' }); // refused before the cache (400)
    const m = await scrape(node);
    assert.equal(m.get('hashedge_requests_total{status="200",cache="miss"}'), 1);
    assert.equal(m.get('hashedge_requests_total{status="200",cache="hit"}'), 2);
    assert.equal(m.get('hashedge_requests_total{status="404",cache="miss"}'), 1);
    assert.equal(m.get('hashedge_requests_total{status="400",cache="none"}'), 1);
    const errorBodies = m.get('hashedge_response_bytes_total')! - 2 * body.length;
    assert.ok(errorBodies > 0 && errorBodies < 500, 'bytes: two bodies of the asset plus two short JSON errors');
    assert.equal(m.get('hashedge_origin_fetches_total'), 2);
    assert.equal(m.get('hashedge_origin_not_found_total'), 1);
    assert.equal(m.get('hashedge_fetch_duration_seconds_count{source="origin",result="ok"}'), 1);
    assert.equal(m.get('hashedge_fetch_duration_seconds_count{source="origin",result="not-found"}'), 1);
    assert.equal(m.get('hashedge_cache_items{cache="main"}'), 1);
    assert.ok(m.get('hashedge_cache_bytes{cache="main"}')! >= body.length);
    assert.equal(m.get('hashedge_cache_budget_bytes{cache="main"}'), 512 * 1024 * 1024);
    assert.equal(m.get('hashedge_ready'), 1);
    assert.ok(m.has('process_resident_memory_bytes'), 'process metrics come along');
  } finally {
    await node.close();
  }
});

test('/metrics counts evictions, and the full GCs that give their memory back, when the working set outgrows the cache', async () => {
  const origin = new TestOrigin();
  const node = await startTestEdge({ 'cache-size': '1MiB', 'max-object-size': '512KiB' }, origin);
  try {
    // 32 objects of 300 KiB through 1 MiB: 29 evicted, ~8.5 MiB, past the 8 MiB GC threshold once.
    for (let i = 0; i < 32; i++) {
      origin.put(`assets/big${i}-0492830483.bin`, Buffer.alloc(300 * 1024, i));
      assert.equal((await request(`${node.url}/assets/big${i}-0492830483.bin`)).status, 200);
    }
    const m = await scrape(node);
    assert.equal(m.get('hashedge_cache_items{cache="main"}'), 3);
    assert.equal(m.get('hashedge_cache_evictions_total'), 29);
    assert.equal(m.get('hashedge_cache_reclaim_gcs_total'), 1);
  } finally {
    await node.close();
  }
});

test('in a cluster, /metrics and /_hashedge/stats show peer fetches, the hot cache and the members', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'assets/metered');
    origin.put(key, 'metered');
    await request(`${front.url}/${key}`); // through the owner, kept at once (memory has room)
    await request(`${front.url}/${key}`); // hot hit
    await request(`${front.url}/${key}`); // hot hit
    const m = await scrape(front);
    assert.equal(m.get('hashedge_peer_fetches_total'), 1);
    assert.equal(m.get('hashedge_origin_fetches_total'), 0);
    assert.equal(m.get('hashedge_requests_total{status="200",cache="peer"}'), 1, 'from the owner once');
    assert.equal(m.get('hashedge_requests_total{status="200",cache="miss"}'), undefined, 'no origin load on this node');
    assert.equal(m.get('hashedge_requests_total{status="200",cache="hit"}'), 2);
    assert.equal(m.get('hashedge_hot_admissions_total'), 1);
    assert.equal(m.get('hashedge_cache_items{cache="hot"}'), 1);
    assert.ok(m.get('hashedge_cache_bytes{cache="hot"}')! > 0);
    assert.equal(m.get('hashedge_cache_budget_bytes{cache="hot"}'), Math.floor(512 * 1024 * 1024 * 0.125), "the hot tier's guaranteed share");
    assert.equal(m.get('hashedge_cache_budget_bytes{cache="main"}'), 512 * 1024 * 1024 - Math.floor(512 * 1024 * 1024 * 0.125), 'the rest');
    assert.equal(m.get('hashedge_cluster_members'), 2);
    assert.equal(m.get('hashedge_cluster_ring_members'), 2, 'without --workers, each node is one ring member');
    assert.equal(m.get('hashedge_fetch_duration_seconds_count{source="peer",result="ok"}'), 1);

    const stats = JSON.parse((await request(`${front.url}/_hashedge/stats`)).body.toString());
    assert.equal(stats.node, front.cluster!.self);
    assert.equal(stats.traffic.requests, 3);
    assert.deepEqual(stats.traffic.byStatus, { 200: 3 });
    assert.equal(stats.traffic.byCache.peer, 1);
    assert.deepEqual(stats.topKeys, [{ key, requests: 3 }]);
    assert.equal(stats.cluster.members.length, 2);
    assert.equal(stats.cluster.nodes, undefined, 'members are nodes: nothing to group');
    assert.equal(stats.workers, undefined);
    assert.equal(stats.worker, null);
    const shares = stats.cluster.members.map((x: { share: number }) => x.share);
    assert.ok(Math.abs(shares[0] + shares[1] - 1) < 1e-9);
    assert.deepEqual(stats.cluster.members.map((x: { self: boolean; healthy: boolean }) => [x.self, x.healthy]).sort(), [[false, true], [true, true]]);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('--access-log writes one JSON line per asset response with status, cache result and bytes', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, 'y'.repeat(300));
  const out = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const config = resolveConfig({ port: '0', host: '127.0.0.1', 'access-log': 'true' }, {});
  const node = await startEdge(config, { origin, accessLog: createLogger('info', out) });
  try {
    await request(`${node.url}/${KEY}`, { headers: { 'user-agent': 'test-agent' } });
    await request(`${node.url}/${KEY}?v=2`);
    await request(`${node.url}/_hashedge/health/live`);
    assert.deepEqual(
      lines.map(({ event, method, path, status, cache, bytes, ua }) => ({ event, method, path, status, cache, bytes, ua })),
      [
        { event: 'access', method: 'GET', path: `/${KEY}`, status: 200, cache: 'miss', bytes: body.length, ua: 'test-agent' },
        { event: 'access', method: 'GET', path: `/${KEY}?v=2`, status: 200, cache: 'hit', bytes: body.length, ua: undefined },
      ],
    );
    assert.equal(typeof lines[0]!.ms, 'number');
    assert.equal(lines[0]!.client, '127.0.0.1');
  } finally {
    await node.close();
  }
});
