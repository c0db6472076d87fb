/**
 * The hot cache: a key owned by another node is asked of its owner and, while this node's
 * memory has room for it (main and hot together within --cache-size), kept at once and served
 * here from then on, even with the owner gone. Once memory is full a one-off is not kept; a key
 * requested again within a minute is. Hot keeps --hot-cache-share of --cache-size for itself
 * and borrows beyond it what the main cache leaves free, giving it back before the main cache
 * loses anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Edge } from '../src/edge.js';
import { keyOwnedBy, startCluster } from './helpers/cluster.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const OWNER_KEPT = 'hashedge; fwd=miss; stored; detail=owner';
const OWNER_NOT_KEPT = 'hashedge; fwd=miss; detail=owner';
const HIT = 'hashedge; hit';

/** A small memory: 8 of the objects below fit in it, main and hot together. */
const SMALL = { 'cache-size': '1MiB' } as const;
const BUDGET = 1024 * 1024;
/** Incompressible (no variants): each object is these bytes plus the blob's overhead, 121,024 in all. */
const OBJECT_BYTES = 120_000;

/** n distinct keys of OBJECT_BYTES that `owner` owns, put in the origin. */
function keysOf(nodes: Edge[], owner: Edge, origin: TestOrigin, prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const key = keyOwnedBy(nodes, owner, `assets/${prefix}${i}-`, '.bin');
    origin.put(key, randomBytes(OBJECT_BYTES));
    return key;
  });
}

async function cacheStatus(url: string): Promise<string> {
  const res = await request(url);
  assert.equal(res.status, 200);
  return String(res.headers['cache-status']);
}

/** The node's memory as its /_hashedge/stats says: main and hot bytes. */
async function memory(node: Edge): Promise<{ main: number; hot: number; hotItems: number }> {
  const stats = JSON.parse((await request(`${node.url}/_hashedge/stats`)).body.toString()) as { cache: { bytes: number; hot: { bytes: number; items: number } } };
  return { main: stats.cache.bytes, hot: stats.cache.hot.bytes, hotItems: stats.cache.hot.items };
}

test('on a non-owner with memory to spare, a key is kept on its first request and served locally, even after its owner leaves', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const key = keyOwnedBy(nodes, owner, 'assets/hot');
    const body = origin.put(key, 'export const hot = 1;\n'.repeat(50));

    const first = await request(`${front.url}/${key}`);
    assert.equal(first.status, 200);
    assert.ok(first.body.equals(body));
    assert.equal(first.headers['cache-status'], OWNER_KEPT, 'from the owner, and kept here at once');
    assert.equal(front.group.hotCache.items, 1);
    assert.equal(front.group.stats.hotAdmissions, 1);
    assert.equal(await cacheStatus(`${front.url}/${key}`), HIT);

    await owner.close();
    const third = await request(`${front.url}/${key}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(third.status, 200);
    assert.equal(third.headers['cache-status'], HIT);
    assert.equal(third.headers['content-encoding'], 'br', 'a kept key has its precompressed variants');
    assert.equal(origin.count(key), 1, 'the owner loaded it once; the non-owner never went to the origin');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('with memory full, a one-off from the owner is not kept; a second request within the window is, in place of the least recently used', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, SMALL);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const keys = keysOf(nodes, owner, origin, 'full', 9);
    // Memory fills with the owner's keys, each kept on its first request while it has room.
    for (const key of keys.slice(0, 8)) assert.equal(await cacheStatus(`${front.url}/${key}`), OWNER_KEPT);
    assert.equal(front.group.hotCache.items, 8);
    const oneOff = keys[8]!;
    assert.equal(await cacheStatus(`${front.url}/${oneOff}`), OWNER_NOT_KEPT, 'no room: a one-off is not kept');
    assert.equal(front.group.hotCache.items, 8);
    assert.equal(await cacheStatus(`${front.url}/${oneOff}`), OWNER_KEPT, 'requested again within a minute: kept');
    assert.equal(await cacheStatus(`${front.url}/${oneOff}`), HIT);
    assert.equal(front.group.hotCache.items, 8, 'in place of another');
    assert.equal(await cacheStatus(`${front.url}/${keys[0]!}`), OWNER_NOT_KEPT, 'the least recently used went (and is a one-off now)');
    const { main, hot } = await memory(front);
    assert.ok(main + hot <= BUDGET, `${main} + ${hot} bytes within --cache-size`);
    assert.equal(origin.count(oneOff), 1, 'the owner loaded it once');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a burst of concurrent requests through a non-owner with memory full makes the key hot at once', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, SMALL);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const [burst, ...fill] = keysOf(nodes, owner, origin, 'burst', 9);
    for (const key of fill) assert.equal(await cacheStatus(`${front.url}/${key}`), OWNER_KEPT);
    const results = await Promise.all(Array.from({ length: 20 }, () => request(`${front.url}/${burst!}`)));
    for (const res of results) assert.equal(res.status, 200);
    assert.ok(results.some((res) => res.headers['cache-status'] === OWNER_KEPT), 'the burst counts as requests again: kept');
    assert.equal(await cacheStatus(`${front.url}/${burst!}`), HIT);
    assert.equal(origin.count(burst!), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test("the node's own keys take back what hot borrowed: hot entries go first, least recently used, main entries stay, and memory stays within --cache-size", async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, SMALL);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const borrowed = keysOf(nodes, owner, origin, 'borrowed', 8);
    const own = keysOf(nodes, front, origin, 'own', 7);
    for (const key of borrowed) assert.equal(await cacheStatus(`${front.url}/${key}`), OWNER_KEPT);
    const full = await memory(front);
    assert.deepEqual([full.main, full.hotItems], [0, 8], 'hot holds the whole budget but its last few KiB: far beyond its 128 KiB share');
    for (const [i, key] of own.entries()) {
      assert.equal(await cacheStatus(`${front.url}/${key}`), 'hashedge; fwd=miss; stored', 'its own key, from the origin into main');
      const { main, hot, hotItems } = await memory(front);
      assert.ok(main + hot <= BUDGET, `after own key ${i}: ${main} + ${hot} bytes within --cache-size`);
      assert.equal(hotItems, 7 - i, 'one borrowed entry given back per own key');
    }
    // Main holds 7 objects (847,168 bytes of its 917,504); hot one, the most recently used.
    for (const key of own) assert.equal(await cacheStatus(`${front.url}/${key}`), HIT, 'every main entry stayed');
    assert.equal(await cacheStatus(`${front.url}/${borrowed[7]!}`), HIT);
    assert.equal(await cacheStatus(`${front.url}/${borrowed[0]!}`), OWNER_NOT_KEPT, 'the least recently used borrowed entry went first');
    assert.equal(front.group.stats.evictions, 7);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('with --hot-cache-share 0 a non-owner never keeps keys it does not own', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'hot-cache-share': '0' });
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const key = keyOwnedBy(nodes, owner, 'assets/cold');
    origin.put(key, 'c'.repeat(1000));
    for (let i = 0; i < 3; i++) assert.match(String((await request(`${front.url}/${key}`)).headers['cache-status']), /detail=owner/);
    assert.equal(front.group.cacheItems, 0);
    assert.equal(owner.group.cacheItems, 1, 'the owner keeps it in its main cache');
    assert.equal(origin.count(key), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('the main cache and the hot cache share --cache-size', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'cache-size': '8MiB', 'max-object-size': '1MiB', 'hot-cache-share': '0.25' });
  try {
    assert.equal(nodes[0]!.group.cacheBudget, 6 * 1024 * 1024);
    assert.equal(nodes[0]!.group.hotCache.budgetBytes, 2 * 1024 * 1024);
    const stats = JSON.parse((await request(`${nodes[0]!.url}/_hashedge/stats`)).body.toString()) as { cache: { hot: { budgetBytes: number } } };
    assert.equal(stats.cache.hot.budgetBytes, 2 * 1024 * 1024);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
