/**
 * The hot cache: a key owned by another node is asked of its owner and not kept, until it is
 * requested again on this node; then it is kept and served here, even with the owner gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Edge } from '../src/edge.js';
import { keyOwnedBy, startCluster } from './helpers/cluster.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const HOT_KEPT = /^hashedge; fwd=miss; stored; detail=owner$/;

test('a key requested twice through a non-owner is kept there and served locally, even after its owner leaves', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const key = keyOwnedBy(nodes, owner, 'assets/hot');
    const body = origin.put(key, 'export const hot = 1;\n'.repeat(50));

    const first = await request(`${front.url}/${key}`);
    assert.equal(first.status, 200);
    assert.ok(first.body.equals(body));
    assert.match(String(first.headers['cache-status']), /detail=owner/);
    assert.equal(front.group.hotCache.items, 0, 'a key requested once is not kept on a non-owner');

    const second = await request(`${front.url}/${key}`);
    assert.match(String(second.headers['cache-status']), HOT_KEPT);
    assert.equal(front.group.hotCache.items, 1);
    assert.equal(front.group.stats.hotAdmissions, 1);

    await owner.close();
    const third = await request(`${front.url}/${key}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(third.status, 200);
    assert.equal(third.headers['cache-status'], 'hashedge; hit');
    assert.equal(third.headers['content-encoding'], 'br', 'a kept key has its precompressed variants');
    assert.equal(origin.count(key), 1, 'the owner loaded it once; the non-owner never went to the origin');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a burst of concurrent requests through a non-owner makes the key hot at once', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  const [owner, front] = nodes as [Edge, Edge];
  try {
    const key = keyOwnedBy(nodes, owner, 'assets/burst');
    origin.put(key, 'b'.repeat(1000));
    const results = await Promise.all(Array.from({ length: 20 }, () => request(`${front.url}/${key}`)));
    for (const res of results) assert.equal(res.status, 200);
    assert.equal(front.group.hotCache.items, 1);
    assert.equal((await request(`${front.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(key), 1);
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
