/**
 * Real clusters: three edge nodes on real sockets sharing one origin that counts its loads.
 * A cold key requested on every node at once is loaded from the origin exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { Ring } from '../src/cluster/ring.js';
import type { Edge } from '../src/edge.js';
import { startTestEdge } from './helpers/edge.js';
import { freePort, keyOwnedBy, startCluster } from './helpers/cluster.js';
import { errorCode, request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';
import { FakePeer } from './helpers/fake-peer.js';

/** One value of a /metrics sample, e.g. `hashedge_origin_fetches_total`. */
async function metric(node: Edge, name: string): Promise<number> {
  const text = (await request(`${node.url}/metrics`)).body.toString();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

/** Cache-Status of a request answered by the origin load a failed owner caused, by joining it, or by its result. */
const OWNER_DOWN = ['hashedge; fwd=miss; stored; detail=owner-unavailable', 'hashedge; fwd=miss; collapsed; stored', 'hashedge; hit'];

/** A key the ring over `members` gives to `owner`. */
function ownedBy(members: readonly string[], owner: string, prefix: string): string {
  const ring = new Ring(members);
  for (let i = 0; i < 1000; i++) if (ring.owner(`${prefix}${i}-0492830483.js`) === owner) return `${prefix}${i}-0492830483.js`;
  throw new Error(`no key with prefix ${prefix} for ${owner}`);
}

test('500 concurrent requests for one cold key, spread over three nodes, cause exactly one origin load', async () => {
  const origin = new TestOrigin();
  const key = 'assets/hero-0492830483.js';
  const body = origin.put(key, randomBytes(200_000));
  origin.gate = new Gate();
  // 500 requests at once on a busy 2-core machine can keep an owner's answer past the 2 s
  // default: an owner that slow is routed around (an origin load each), which is not what
  // this test is about.
  const nodes = await startCluster(3, origin, { 'peer-timeout': '15s' });
  try {
    const responses = Array.from({ length: 500 }, (_, i) => request(`${nodes[i % 3]!.url}/${key}`));
    await origin.arrived(1, key);
    origin.gate.open();
    const results = await Promise.all(responses);
    for (const res of results) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(body));
    }
    assert.equal(origin.count(key), 1);
    // Every node now answers it without the origin.
    for (const node of nodes) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    assert.equal(origin.count(key), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('every node of the cluster agrees on the owner, so N cold keys cost N origin loads in all', async () => {
  const origin = new TestOrigin();
  const keys = Array.from({ length: 30 }, (_, i) => `assets/chunk${i}-0492830483.js`);
  for (const key of keys) origin.put(key, `export default ${JSON.stringify(key)};`);
  const nodes = await startCluster(3, origin);
  try {
    for (const key of keys) for (const node of nodes) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    for (const key of keys) assert.equal(origin.count(key), 1, key);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('when the owner is down, a node loads from the origin itself and the client sees no error', async () => {
  const origin = new TestOrigin();
  const [alivePort, deadPort] = [await freePort(), await freePort()];
  const alive = `http://127.0.0.1:${alivePort}`;
  const dead = `http://127.0.0.1:${deadPort}`;
  const ring = new Ring([alive, dead]);
  const key = Array.from({ length: 100 }, (_, i) => `assets/k${i}-0492830483.css`).find((k) => ring.owner(k) === dead)!;
  const body = origin.put(key, 'a{}'.repeat(100));
  const node = await startTestEdge({ port: String(alivePort), self: alive, peers: `${alive},${dead}`, 'peer-timeout': '1s' }, origin);
  try {
    const res = await request(`${node.url}/${key}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(body));
    assert.equal(origin.count(key), 1);
  } finally {
    await node.close();
  }
});

test('owner down: N requests through one node cost the origin one load, kept, and every header and counter says the owner failed', async () => {
  const origin = new TestOrigin();
  const [alivePort, deadPort] = [await freePort(), await freePort()];
  const alive = `http://127.0.0.1:${alivePort}`;
  const dead = `http://127.0.0.1:${deadPort}`;
  const key = ownedBy([alive, dead], dead, 'assets/orphan');
  const body = origin.put(key, 'export default 1;\n'.repeat(50));
  // No probes: the first request finds out that the owner is down.
  const node = await startTestEdge({ port: String(alivePort), self: alive, peers: `${alive},${dead}`, 'peer-probe-interval': '0' }, origin);
  try {
    const first = await Promise.all(Array.from({ length: 20 }, () => request(`${node.url}/${key}`)));
    for (const res of first) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(body));
      // Joined the load through the owner, or (once the owner was routed around) the origin load, or came after it.
      assert.ok(OWNER_DOWN.includes(String(res.headers['cache-status'])), String(res.headers['cache-status']));
    }
    assert.ok(first.some((res) => res.headers['cache-status'] === OWNER_DOWN[0]));
    for (let i = 0; i < 5; i++) assert.equal((await request(`${node.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(key), 1, 'one origin load for 25 requests');
    assert.deepEqual({ originFetches: node.group.stats.originFetches, peerFetches: node.group.stats.peerFetches, peerFailures: node.group.stats.peerFailures }, { originFetches: 1, peerFetches: 1, peerFailures: 1 });
    assert.equal(await metric(node, 'hashedge_origin_fetches_total'), 1);
    assert.equal(await metric(node, 'hashedge_peer_errors_total'), 1);
    assert.equal(await metric(node, 'hashedge_peer_fetches_total'), 0);
    assert.equal(node.cluster!.status().find((m) => m.url === dead)!.state, 'suspect');
    // Routed around now: another of its keys goes to the origin at once, without asking it.
    const other = ownedBy([alive, dead], dead, 'assets/orphan-next');
    origin.put(other, 'x');
    assert.equal((await request(`${node.url}/${other}`)).headers['cache-status'], 'hashedge; fwd=miss; stored');
    assert.equal(node.group.stats.peerFetches, 1);
  } finally {
    await node.close();
  }
});

test('owner failing mid-body: the same one origin load in the same flight, nothing partial served or kept', async () => {
  const origin = new TestOrigin();
  const peer = new FakePeer();
  const peerUrl = await peer.start();
  const port = await freePort();
  const self = `http://127.0.0.1:${port}`;
  const node = await startTestEdge({ port: String(port), self, peers: `${self},${peerUrl}`, 'peer-probe-interval': '0' }, origin);
  try {
    const key = ownedBy([self, peerUrl], peerUrl, 'assets/cut');
    const bytes = origin.put(key, randomBytes(200_000));
    peer.objects.set(key, bytes);
    peer.behaviour = { kind: 'reset', bytes: 50_000 };
    const answers = await Promise.all(Array.from({ length: 10 }, () => request(`${node.url}/${key}`)));
    for (const res of answers) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(bytes));
      assert.ok(OWNER_DOWN.includes(String(res.headers['cache-status'])), String(res.headers['cache-status']));
    }
    assert.ok(answers.some((res) => res.headers['cache-status'] === OWNER_DOWN[0]));
    assert.equal(peer.count(key), 1);
    assert.equal(origin.count(key), 1);
    assert.equal((await request(`${node.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
  } finally {
    await node.close();
    await peer.close();
  }
});

test('a member is unknown until it first answers: routed to meanwhile, not counted up; its first answer makes it up', async () => {
  const origin = new TestOrigin();
  // No probes: only the fetch below can move the owner out of unknown.
  const nodes = await startCluster(2, origin, { 'peer-probe-interval': '0' });
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const stateOfOwner = (): string | undefined => front.cluster!.status().find((m) => m.url === owner.cluster!.self)?.state;
    assert.equal(stateOfOwner(), 'unknown');
    assert.equal(await metric(front, 'hashedge_cluster_healthy_members'), 1, 'only the node itself is counted up');
    const key = keyOwnedBy(nodes, owner, 'assets/first');
    origin.put(key, 'first answer');
    const res = await request(`${front.url}/${key}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'first answer');
    assert.equal(owner.group.stats.originFetches, 1, 'an unknown owner is asked, not routed around');
    assert.equal(front.group.stats.originFetches, 0);
    assert.equal(stateOfOwner(), 'up');
    assert.equal(await metric(front, 'hashedge_cluster_healthy_members'), 2);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test("an owner whose origin fails answers 502 E_ORIGIN: the asking node answers the same, neither loads from the origin again nor routes around the owner", async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'peer-probe-interval': '0' });
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'assets/failing');
    origin.put(key, 'x');
    origin.behaviour = { kind: 'error' };
    const res = await request(`${front.url}/${key}`);
    assert.equal(res.status, 502);
    assert.equal(errorCode(res), 'E_ORIGIN');
    assert.equal(origin.count(key), 1, 'only the owner asked the origin');
    assert.equal(front.group.stats.peerFailures, 0);
    assert.equal(front.cluster!.status().find((m) => m.url === owner.cluster!.self)!.state, 'up');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('the peer route refuses requests without the peer secret', async () => {
  const origin = new TestOrigin();
  origin.put('assets/x-0492830483.js', 'x');
  const nodes = await startCluster(2, origin, { 'peer-secret': 'a-long-enough-shared-secret' });
  try {
    const res = await request(`${nodes[0]!.url}/_hashedge/peer/${encodeURIComponent('assets/x-0492830483.js')}`);
    assert.equal(res.status, 401);
    assert.equal(errorCode(res), 'E_UNAUTHORIZED');
    const forged = await request(`${nodes[0]!.url}/_hashedge/peer/${encodeURIComponent('assets/x-0492830483.js')}`, { headers: { 'x-hashedge-hop': '1', authorization: 'Bearer wrong-secret-of-some-length' } });
    assert.equal(forged.status, 401);
    const traversal = await request(`${nodes[0]!.url}/_hashedge/peer/${encodeURIComponent('../etc/passwd')}`, { headers: { authorization: 'Bearer a-long-enough-shared-secret' } });
    assert.equal(traversal.status, 400);
    // Through the cluster with the secret, both nodes serve it.
    for (const node of nodes) assert.equal((await request(`${node.url}/assets/x-0492830483.js`)).status, 200);
    assert.equal(origin.count('assets/x-0492830483.js'), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a range of an uncached large object does not make a healthy owner look failed', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'max-object-size': '1MiB' });
  try {
    const [a, b] = nodes as [Edge, Edge];
    const ring = new Ring([a.url, b.url]);
    const ownedByB = (prefix: string) => Array.from({ length: 200 }, (_, i) => `${prefix}${i}-0492830483.bin`).find((k) => ring.owner(k) === b.url)!;
    const big = ownedByB('video/big');
    const bytes = origin.put(big, randomBytes(2 * 1024 * 1024));
    const part = await request(`${a.url}/${big}`, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(bytes.subarray(100, 200)));
    // B is still trusted as the owner: a cold key it owns is loaded once for both nodes.
    const small = ownedByB('assets/small');
    origin.put(small, 'small');
    assert.equal((await request(`${a.url}/${small}`)).status, 200);
    assert.equal((await request(`${b.url}/${small}`)).status, 200);
    assert.equal(origin.count(small), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

// If a hop buffered the whole object, the first byte would wait for the gate: fail, don't hang.
test('a large cacheable object streams origin -> owner -> node -> client, not buffered whole on the way', { timeout: 20_000 }, async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'media/clip', '.bin');
    const bytes = origin.put(key, randomBytes(8 * 1024 * 1024));
    // The origin sends its first 64 KiB, then holds the rest until the client has seen bytes.
    origin.midBodyGate = new Gate();
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${front.url}/${key}`, resolve).on('error', reject));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(bytes.length));
    const chunks: Buffer[] = [];
    const firstChunk = new Promise<void>((resolve) => res.once('data', () => resolve()));
    res.on('data', (c: Buffer) => chunks.push(c));
    await firstChunk;
    assert.ok(origin.bytesProduced < bytes.length / 4, `the client had bytes when the origin had sent ${origin.bytesProduced}`);
    origin.midBodyGate.open();
    await once(res, 'end');
    assert.ok(Buffer.concat(chunks).equals(bytes));
    assert.equal(origin.count(key), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a hop header forged by a client on the asset path changes nothing: the node still asks the owner', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'assets/forged');
    origin.put(key, 'forged');
    const res = await request(`${front.url}/${key}`, { headers: { 'x-hashedge-hop': '1' } });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['cache-status']), /detail=owner/);
    assert.equal((await request(`${owner.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(key), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

// Nodes that disagree about the ring (a membership change half-applied): each thinks the other
// owns the key. The hop header stops the second forward, so neither loops nor waits on the other.
test('nodes that each think the other owns a key neither loop nor deadlock', { timeout: 20_000 }, async () => {
  const origin = new TestOrigin();
  const [pa, pb] = [await freePort(), await freePort()];
  const a = `http://127.0.0.1:${pa}`;
  const b = `http://127.0.0.1:${pb}`;
  const aAsSeenByB = `http://localhost:${pa}`;
  const ringA = new Ring([a, b]);
  const ringB = new Ring([aAsSeenByB, b]);
  const key = Array.from({ length: 1000 }, (_, i) => `assets/split${i}-0492830483.js`).find((k) => ringA.owner(k) === b && ringB.owner(k) === aAsSeenByB)!;
  const body = origin.put(key, 'split brain');
  origin.gate = new Gate();
  const nodeA = await startTestEdge({ port: String(pa), self: a, peers: `${a},${b}` }, origin);
  const nodeB = await startTestEdge({ port: String(pb), self: b, peers: `${aAsSeenByB},${b}` }, origin);
  try {
    const responses = [...Array.from({ length: 10 }, () => request(`${a}/${key}`)), ...Array.from({ length: 10 }, () => request(`${b}/${key}`))];
    await origin.arrived(1, key);
    origin.gate.open();
    for (const res of await Promise.all(responses)) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(body));
    }
    // Each node's peer request was served by the other from the origin: at most one load each.
    assert.ok(origin.count(key) <= 2, `origin loads: ${origin.count(key)}`);
  } finally {
    await Promise.all([nodeA.close(), nodeB.close()]);
  }
});
