/**
 * POST /_hashedge/purge: authorised by --admin-token, told to every member of the cluster,
 * answered with what each node removed, and never undone by a fill that was in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Edge } from '../src/edge.js';
import { freePort, keyOwnedBy, startCluster } from './helpers/cluster.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';

const TOKEN = 'admin-token-for-tests-0123456789';

interface PurgeAnswer {
  removed: number;
  nodes: Array<{ node: string; removed?: number; error?: string }>;
  error?: { code: string };
}

async function purge(node: Edge, body: unknown, token: string | null = TOKEN): Promise<{ status: number; headers: Headers; body: PurgeAnswer }> {
  const res = await fetch(`${node.url}/_hashedge/purge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as PurgeAnswer };
}

test('purge is refused without --admin-token, and without the right bearer token', async () => {
  const origin = new TestOrigin();
  const open = await startTestEdge({}, origin);
  const guarded = await startTestEdge({ 'admin-token': TOKEN }, origin);
  try {
    const off = await purge(open, { keys: ['assets/a-0492830483.js'] });
    assert.equal(off.status, 403);
    assert.equal(off.body.error?.code, 'E_ADMIN_DISABLED');
    for (const token of [null, 'not-the-admin-token-at-all']) {
      const refused = await purge(guarded, { keys: ['assets/a-0492830483.js'] }, token);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error?.code, 'E_UNAUTHORIZED');
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="hashedge"');
    }
  } finally {
    await Promise.all([open.close(), guarded.close()]);
  }
});

test('a bad purge body is a 400 naming the problem, and purges nothing', async () => {
  const origin = new TestOrigin();
  const key = 'assets/keep-0492830483.js';
  origin.put(key, 'keep');
  const node = await startTestEdge({ 'admin-token': TOKEN }, origin);
  try {
    await request(`${node.url}/${key}`);
    for (const body of [[], {}, { keys: 'assets/keep-0492830483.js' }, { keys: ['../etc/passwd'] }, { prefix: '' }, { keys: [1] }]) {
      const res = await purge(node, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error?.code, 'E_BAD_PURGE');
    }
    assert.equal(node.group.cacheItems, 1);
  } finally {
    await node.close();
  }
});

test('a malformed purge body is 400 E_BAD_PURGE with a message saying what is wrong and what is expected', async () => {
  const node = await startTestEdge({ 'admin-token': TOKEN }, new TestOrigin());
  try {
    const send = async (body: string) => {
      const res = await fetch(`${node.url}/_hashedge/purge`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
      return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
    };
    const cases: Array<[string, RegExp]> = [
      ['{"keys": [', /^The body is not JSON .*"keys" \(a list of asset paths\) and\/or "prefix"/],
      ['"assets/a.js"', /^Expected a JSON object with "keys"/],
      ['{"keys": "assets/a-0492830483.js"}', /^"keys" must be a list of at most 10000 strings .*got a string of 22 characters/],
      ['{"keys": [1, "a"]}', /^"keys" must be a list .*got a list of 2 \(number, string\)/],
      ['{"prefix": 3}', /^"prefix" must be a non-empty string .*got a number/],
      ['{}', /^Nothing to purge: expected a JSON object with "keys"/],
      ['{"keys": ["../etc/passwd"]}', /^keys\[0\] is not a valid asset path/],
    ];
    for (const [body, message] of cases) {
      const res = await send(body);
      assert.equal(res.status, 400, body);
      assert.equal(res.body.error.code, 'E_BAD_PURGE', body);
      assert.match(res.body.error.message, message, body);
    }
  } finally {
    await node.close();
  }
});

test('another method than POST on the purge route is 405 with Allow: POST, not 404', async () => {
  const node = await startTestEdge({ 'admin-token': TOKEN }, new TestOrigin());
  try {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${node.url}/_hashedge/purge`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'POST', method);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'E_METHOD_NOT_ALLOWED');
    }
  } finally {
    await node.close();
  }
});

test('a purge sent to one node removes the key from every node of the cluster', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(3, origin, { 'admin-token': TOKEN });
  try {
    const [owner] = nodes as [Edge];
    const key = keyOwnedBy(nodes, owner, 'assets/takedown');
    const other = keyOwnedBy(nodes, owner, 'assets/stays');
    origin.put(key, 'oops');
    origin.put(other, 'fine');
    // Twice on every node: the owner keeps it in its main cache, the others in their hot caches.
    for (let i = 0; i < 2; i++) for (const node of nodes) for (const k of [key, other]) await request(`${node.url}/${k}`);
    assert.equal(origin.count(key), 1);

    const res = await purge(nodes[1]!, { keys: [`/${key}`] });
    assert.equal(res.status, 200);
    assert.equal(res.body.removed, 3);
    assert.deepEqual(res.body.nodes.map((n) => n.node).sort(), nodes.map((n) => n.cluster!.self).sort());
    for (const n of res.body.nodes) assert.equal(n.removed, 1, n.node);

    // Every node now goes back to the owner, which goes back to the origin once; the other key stays.
    for (const node of nodes) assert.notEqual((await request(`${node.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(key), 2);
    for (const node of nodes) assert.equal((await request(`${node.url}/${other}`)).headers['cache-status'], 'hashedge; hit');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a prefix purge removes every key under it and nothing else', async () => {
  const origin = new TestOrigin();
  const node = await startTestEdge({ 'admin-token': TOKEN }, origin);
  try {
    const keys = ['assets/old/a-0492830483.js', 'assets/old/b-0492830483.css', 'assets/new/c-0492830483.js'];
    for (const key of keys) origin.put(key, key);
    for (const key of keys) await request(`${node.url}/${key}`);
    const res = await purge(node, { prefix: '/assets/old/' });
    assert.equal(res.status, 200);
    assert.equal(res.body.removed, 2);
    assert.equal(node.group.cacheItems, 1);
    assert.equal((await purge(node, { prefix: '/' })).body.removed, 1, '"/" purges everything');
  } finally {
    await node.close();
  }
});

test('when a member cannot be told, the purge answers 502 naming it, after purging the others', async () => {
  const origin = new TestOrigin();
  const [port, deadPort] = [await freePort(), await freePort()];
  const self = `http://127.0.0.1:${port}`;
  const dead = `http://127.0.0.1:${deadPort}`;
  const node = await startTestEdge({ port: String(port), self, peers: `${self},${dead}`, 'admin-token': TOKEN }, origin);
  try {
    origin.put('assets/x-0492830483.js', 'x');
    // Twice: whichever member owns it, this node then holds a copy.
    for (let i = 0; i < 2; i++) await request(`${node.url}/assets/x-0492830483.js`);
    assert.equal(node.group.cacheItems + node.group.hotCache.items, 1);
    const res = await purge(node, { keys: ['assets/x-0492830483.js'] });
    assert.equal(res.status, 502);
    assert.equal(res.body.error?.code, 'E_PURGE_INCOMPLETE');
    assert.deepEqual(res.body.nodes.find((n) => n.node === dead), { node: dead, error: 'unreachable' });
    assert.equal(res.body.nodes.find((n) => n.node === self)?.removed, 1);
  } finally {
    await node.close();
  }
});

test('a key purged while its load is in flight is not cached when the load completes', async () => {
  const origin = new TestOrigin();
  const node = await startTestEdge({ 'admin-token': TOKEN }, origin);
  try {
    const key = 'assets/racing-0492830483.js';
    const body = origin.put(key, 'v1');
    origin.gate = new Gate();
    const pending = request(`${node.url}/${key}`);
    await origin.arrived(1, key);
    assert.equal((await purge(node, { keys: [key] })).status, 200);
    origin.gate.open();
    const res = await pending;
    assert.equal(res.status, 200, 'the request that was waiting still gets its answer');
    assert.ok(res.body.equals(body));
    assert.equal(node.group.cacheItems, 0);
    await request(`${node.url}/${key}`);
    assert.equal(origin.count(key), 2);
  } finally {
    await node.close();
  }
});

test('a request after a purge does not join the purged fill: it loads afresh', { timeout: 20_000 }, async () => {
  const origin = new TestOrigin();
  const node = await startTestEdge({ 'admin-token': TOKEN }, origin);
  try {
    const key = 'media/big-0492830483.bin';
    const bytes = origin.put(key, Buffer.alloc(3 * 1024 * 1024, 1));
    origin.midBodyGate = new Gate(); // the first fill stalls after its first chunk
    const before = request(`${node.url}/${key}`);
    await origin.arrived(1, key);
    assert.equal((await purge(node, { keys: [key] })).status, 200);
    const after = request(`${node.url}/${key}`);
    await origin.arrived(2, key); // a second load, not a seat on the first
    origin.midBodyGate.open();
    for (const res of await Promise.all([before, after])) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(bytes));
    }
    assert.equal(origin.count(key), 2);
  } finally {
    await node.close();
  }
});
