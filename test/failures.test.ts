/**
 * Failures of what a node loads from: the origin and the key's owner peer. Whatever fails, the
 * client gets the right bytes, or an error status (502/504) before any header was sent, or a
 * cut connection once a 200 was underway; nothing partial is ever cached; the next request
 * succeeds once the failure is gone. Synchronisation is by events and gates, never by sleeps:
 * the only waits are the --peer-timeout / --origin-timeout under test.
 *
 * Already covered elsewhere, not repeated here (origins are disk and S3 behind the Origin
 * interface; TestOrigin is that seam, so "down" and "5xx" are a rejected get()):
 *  - edge-miss.test.ts: origin down/5xx -> 502 E_ORIGIN, no internals leaked, not cached, the
 *    next request loads again; origin slow to answer -> 504 E_ORIGIN_TIMEOUT, then recovers;
 *    a truncated small body -> 502 E_ORIGIN_TRUNCATED, not cached, the next request loads again;
 *    a client that disconnects does not cancel the load others wait for.
 *  - integrity.test.ts: a body not matching its SHA-256 -> 502, or a cut connection mid-stream.
 *  - edge-s3.test.ts: the S3 origin reports an unreachable bucket as E_ORIGIN.
 *  - cluster.test.ts: an owner that was never up (connection refused) -> the node loads from the
 *    origin; a range of an uncached object does not make its owner suspect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get, type IncomingHttpHeaders, type Server } from 'node:http';
import { pipeline, Transform } from 'node:stream';
import { Ring } from '../src/cluster/ring.js';
import { resolveConfig, type RawOptions } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { LANE_REQUEST } from '../src/http/fast-lane/lane.js';
import type { OriginGetOptions, OriginObject } from '../src/origin/origin.js';
import { freePort, keyOwnedBy, startCluster } from './helpers/cluster.js';
import { RETRY_AT_ONCE, startTestEdge } from './helpers/edge.js';
import { FakePeer, type PeerBehaviour } from './helpers/fake-peer.js';
import { errorCode, request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';

/** Above BUFFER_WHOLE_BYTES (1 MiB): a cacheable object streamed to its first clients while it fills. */
const LARGE = 3 * 1024 * 1024;
/** Buffered whole before the first answer: a failure mid-body can still become an error status. */
const SMALL = 100_000;

interface Download {
  /** 0: no response at all. */
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the whole announced body arrived (false: the connection was cut). */
  complete: boolean;
}

/** A GET on its own connection that reports how it ended instead of rejecting. */
function download(url: string): Promise<Download> {
  return new Promise((resolve) => {
    get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', done);
      res.on('error', done);
    }).on('error', () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false }));
  });
}

/**
 * Resolves once the server has taken n more requests: node:http's, and the misses the fast lane
 * holds (LANE_REQUEST). Listeners run in order, so by then the asset handler has run for each
 * and every one is waiting on (or has started) its load.
 */
function requestsTaken(server: Server, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onRequest = () => {
      if (++seen < n) return;
      server.off('request', onRequest);
      server.off(LANE_REQUEST, onRequest);
      resolve();
    };
    server.on('request', onRequest);
    server.on(LANE_REQUEST, onRequest);
  });
}

/** A TestOrigin whose bodies fail with ECONNRESET after `resetAfter` bytes, as when the origin's socket is reset. */
class ResettingOrigin extends TestOrigin {
  resetAfter: number | undefined;

  override async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const object = await super.get(key, options);
    const limit = this.resetAfter;
    if (object === null || limit === undefined) return object;
    let passed = 0;
    const body = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        passed += chunk.length;
        if (passed > limit) callback(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        else callback(null, chunk);
      },
    });
    pipeline(object.body, body, () => {});
    return { ...object, body };
  }
}

// ---- Origin ----

test('an origin that resets mid-body: 502 for a small object (all collapsed waiters), nothing cached, then recovers', async () => {
  const origin = new ResettingOrigin();
  const key = 'assets/reset-0492830483.js';
  const bytes = origin.put(key, randomBytes(SMALL));
  origin.chunkSize = 16 * 1024;
  origin.resetAfter = 40_000;
  origin.gate = new Gate();
  const edge = await startTestEdge(RETRY_AT_ONCE, origin);
  try {
    const taken = requestsTaken(edge.server, 10);
    const waiting = Array.from({ length: 10 }, () => request(`${edge.url}/${key}`));
    await taken;
    origin.gate.open();
    for (const res of await Promise.all(waiting)) {
      assert.equal(res.status, 502);
      assert.equal(errorCode(res), 'E_ORIGIN');
      assert.doesNotMatch(res.body.toString(), /ECONNRESET/, 'no internals reach the client');
    }
    assert.equal(origin.count(key), 1);
    assert.equal(edge.group.stats.collapsed, 9);
    assert.equal(edge.group.cacheItems, 0);
    origin.resetAfter = undefined;
    origin.gate = undefined;
    const again = await request(`${edge.url}/${key}`);
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(bytes));
    assert.equal(again.headers['cache-status'], 'hashedge; fwd=miss; stored');
    assert.equal(origin.count(key), 2);
  } finally {
    await edge.close();
  }
});

test('an origin silent mid-body past --origin-timeout: 504 for a small object, nothing cached, then recovers', { timeout: 10_000 }, async () => {
  const origin = new TestOrigin();
  const key = 'assets/silent-0492830483.js';
  const bytes = origin.put(key, randomBytes(SMALL));
  origin.chunkSize = 16 * 1024;
  origin.midBodyGate = new Gate(); // the first chunk, then silence
  const edge = await startTestEdge({ ...RETRY_AT_ONCE, 'origin-timeout': '300ms' }, origin);
  try {
    const res = await request(`${edge.url}/${key}`);
    assert.equal(res.status, 504);
    assert.equal(errorCode(res), 'E_ORIGIN_TIMEOUT');
    assert.equal(edge.group.cacheItems, 0);
    origin.midBodyGate.open(); // the stale body's late chunks must land nowhere
    origin.midBodyGate = undefined;
    const again = await request(`${edge.url}/${key}`);
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(bytes));
    assert.equal(origin.count(key), 2);
  } finally {
    await edge.close();
  }
});

// Headers (200, Content-Length) are out before the body is known to be whole: for a large
// cacheable object (a fill several clients follow) and for one over --max-object-size (streamed
// uncached), the only signal left is a cut connection. The next request must get it whole.
for (const kind of ['fill', 'uncached'] as const) {
  for (const failure of ['truncated', 'reset', 'silent'] as const) {
    test(`a large ${kind} object whose origin body is ${failure} mid-way cuts every client's connection, caches nothing, then recovers`, { timeout: 10_000 }, async () => {
      const origin = new ResettingOrigin();
      const key = `media/${kind}-${failure}-0492830483.png`;
      const bytes = origin.put(key, randomBytes(LARGE));
      if (failure === 'truncated') origin.behaviour = { kind: 'truncate', bytes: 1024 * 1024 };
      if (failure === 'reset') origin.resetAfter = 1024 * 1024;
      if (failure === 'silent') origin.midBodyGate = new Gate();
      const flags: RawOptions = { 'origin-timeout': '300ms', ...(kind === 'uncached' ? { 'max-object-size': '1MiB' } : {}) };
      const edge = await startTestEdge({ ...RETRY_AT_ONCE, ...flags }, origin);
      try {
        // Clients of a fill share one load (held at the origin until all have joined it);
        // uncached objects are one origin stream per client.
        const clients = kind === 'fill' ? 5 : 1;
        origin.gate = new Gate();
        const taken = requestsTaken(edge.server, clients);
        const downloads = Array.from({ length: clients }, () => download(`${edge.url}/${key}`));
        await taken;
        origin.gate.open();
        origin.gate = undefined;
        for (const res of await Promise.all(downloads)) {
          // The 200 is committed (writeHead) before the first byte; when the origin fails before
          // that byte was flushed, the connection is cut before the status line left (status 0).
          assert.ok(res.status === 200 || res.status === 0, `status ${res.status}`);
          if (res.status === 200) assert.equal(res.headers['content-length'], String(LARGE));
          assert.equal(res.complete, false, 'the client can tell it did not get the whole object');
          assert.ok(res.body.length < LARGE);
          assert.ok(res.body.equals(bytes.subarray(0, res.body.length)), 'what did arrive is the start of the object');
        }
        assert.equal(origin.count(key), 1);
        assert.equal(edge.group.cacheItems, 0);
        origin.behaviour = { kind: 'ok' };
        origin.resetAfter = undefined;
        origin.midBodyGate?.open();
        origin.midBodyGate = undefined;
        const again = await download(`${edge.url}/${key}`);
        assert.equal(again.status, 200);
        assert.ok(again.complete);
        assert.ok(again.body.equals(bytes));
        assert.equal(again.headers['cache-status'], kind === 'fill' ? 'hashedge; fwd=miss; stored' : 'hashedge; fwd=miss; detail=too-large');
        assert.equal(origin.count(key), 2);
      } finally {
        await edge.close();
      }
    });
  }
}

// ---- Peer ----

/** A key `<prefix><i>-0492830483<ext>` that the ring over `members` gives to `owner`. */
function ownedBy(members: readonly string[], owner: string, prefix: string, ext = '.png'): string {
  const ring = new Ring(members);
  for (let i = 0; i < 1000; i++) {
    const key = `${prefix}${i}-0492830483${ext}`;
    if (ring.owner(key) === owner) return key;
  }
  throw new Error(`no key with prefix ${prefix} is owned by ${owner}`);
}

/** A node whose peer probes run only when the test calls `cluster.health.probeAll()`. */
async function startNode(flags: RawOptions, origin: TestOrigin): Promise<Edge> {
  const config = resolveConfig({ host: '127.0.0.1', 'peer-probe-interval': '0', ...flags }, {});
  return startEdge(config, { origin });
}

function peerHealthy(node: Edge, peer: string): boolean | undefined {
  return node.cluster?.status().find((m) => m.url === peer)?.healthy;
}

/**
 * What a misbehaving owner does, and what the client of the asking node sees. A small object
 * is read whole from the owner before anyone is answered, so every failure falls back to the
 * origin. A large one is streamed on as it arrives: a failure before the owner's headers falls
 * back; one after them cuts the client (the 200 is underway), like an origin failing mid-body.
 */
const PEER_CASES: ReadonlyArray<{ behaviour: PeerBehaviour; large: 'served' | 'cut' }> = [
  { behaviour: { kind: 'status', status: 500 }, large: 'served' },
  { behaviour: { kind: 'hang' }, large: 'served' },
  { behaviour: { kind: 'chunked' }, large: 'served' },
  { behaviour: { kind: 'reset', bytes: 40_000 }, large: 'cut' },
  { behaviour: { kind: 'short', bytes: 40_000 }, large: 'cut' },
  { behaviour: { kind: 'stall', bytes: 40_000 }, large: 'cut' },
  { behaviour: { kind: 'garbage' }, large: 'cut' },
];

test('a misbehaving owner: the asking node serves the right bytes from the origin, or cuts a large response it had started; nothing partial is cached', { timeout: 30_000 }, async () => {
  const origin = new TestOrigin();
  const peer = new FakePeer();
  const peerUrl = await peer.start();
  const port = await freePort();
  const self = `http://127.0.0.1:${port}`;
  const node = await startNode({ port: String(port), self, peers: `${self},${peerUrl}`, 'peer-timeout': '200ms', 'origin-timeout': '500ms', ...RETRY_AT_ONCE }, origin);
  try {
    for (const { behaviour, large } of PEER_CASES) {
      for (const size of [SMALL, LARGE]) {
        const label = `${behaviour.kind} ${size === SMALL ? 'small' : 'large'}`;
        // Each case starts with the owner up again: it answers its probe.
        await node.cluster!.health.probeAll();
        assert.equal(peerHealthy(node, peerUrl), true, label);
        const key = ownedBy([self, peerUrl], peerUrl, `media/${behaviour.kind}-${size}-`);
        const bytes = origin.put(key, randomBytes(size));
        peer.objects.set(key, bytes);
        peer.behaviour = behaviour;

        const res = await download(`${node.url}/${key}`);
        assert.equal(peer.count(key), 1, label);
        if (size === SMALL || large === 'served') {
          assert.equal(res.status, 200, label);
          assert.ok(res.complete && res.body.equals(bytes), `${label}: the right bytes, from the origin`);
          assert.equal(origin.count(key), 1, label);
          assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; stored; detail=owner-unavailable', label);
        } else {
          // As with an origin failing mid-body: the 200 is committed; if the failure comes before
          // its first byte was flushed, the cut comes before the status line (status 0).
          assert.ok(res.status === 200 || res.status === 0, `${label}: status ${res.status}`);
          assert.equal(res.complete, false, `${label}: the client can tell it did not get the whole object`);
          assert.ok(res.body.length < size, label);
          assert.equal(origin.count(key), 0, label);
        }

        // The owner failed (a large body's failure, a corrupt copy included, is found by the
        // fill): it is routed around until it answers a probe. The next request gets the whole
        // object, not a partial copy: kept from the fallback, or loaded by the node itself.
        assert.equal(peerHealthy(node, peerUrl), false, label);
        peer.behaviour = { kind: 'ok' };
        const next = await download(`${node.url}/${key}`);
        assert.ok(next.status === 200 && next.complete && next.body.equals(bytes), `${label}: the next request succeeds`);
        assert.equal(peer.count(key), 1, label);
        assert.equal(next.headers['cache-status'], size === SMALL || large === 'served' ? 'hashedge; hit' : 'hashedge; fwd=miss; stored', label);
        assert.equal(origin.count(key), 1, `${label}: one origin load in all`);
      }
    }
  } finally {
    await node.close();
    await peer.close();
  }
});

test('a large body from the owner may take longer than --peer-timeout: the timeout bounds the answer, not the transfer', { timeout: 15_000 }, async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'peer-timeout': '200ms' });
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'media/slow', '.mp4');
    const bytes = origin.put(key, randomBytes(4 * 1024 * 1024));
    // The owner's origin sends its first chunk, then holds the rest for 3x --peer-timeout (each
    // silence within --origin-timeout): the transfer itself outlasts --peer-timeout. The wait is
    // the condition under test, not synchronisation.
    origin.midBodyGate = new Gate();
    const held = setTimeout(() => origin.midBodyGate?.open(), 600);
    const res = await download(`${front.url}/${key}`);
    clearTimeout(held);
    assert.equal(res.status, 200);
    assert.ok(res.complete, 'the transfer was not cut at --peer-timeout');
    assert.ok(res.body.equals(bytes));
    assert.equal(origin.count(key), 1, 'the owner loaded it; the front node did not fall back');
    assert.equal(peerHealthy(front, owner.url), true);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a body the asking node itself drops (HEAD of an object too large to cache) does not make the owner suspect', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin, { 'max-object-size': '1MiB' });
  try {
    const [owner, front] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, owner, 'media/head', '.mp4');
    origin.put(key, randomBytes(LARGE));
    const head = await request(`${front.url}/${key}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(LARGE));
    assert.equal(peerHealthy(front, owner.url), true);
    // Still trusted: a small key it owns is loaded once, by it, for both nodes.
    const small = keyOwnedBy(nodes, owner, 'assets/after-head');
    origin.put(small, 'small');
    assert.equal((await request(`${front.url}/${small}`)).status, 200);
    assert.equal((await request(`${owner.url}/${small}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(small), 1);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

// ---- Cluster membership ----

test('with one of three nodes down, the other two serve every key, its keys through the origin', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(3, origin, { 'peer-timeout': '1s' });
  const [a, b, c] = nodes as [Edge, Edge, Edge];
  try {
    const keys = Array.from({ length: 30 }, (_, i) => `assets/chunk${i}-0492830483.js`);
    const bodies = new Map(keys.map((key) => [key, origin.put(key, `export default ${JSON.stringify(key)};\n`.repeat(20))]));
    const ring = new Ring(nodes.map((n) => n.url));
    const ownedByC = keys.filter((k) => ring.owner(k) === c.url);
    assert.ok(ownedByC.length > 0 && ownedByC.length < keys.length);
    // Each key loaded by its owner, so A and B hold only their own (a non-owner with memory to
    // spare would keep C's keys on their first request, and not need C or the origin for them).
    for (const key of keys) assert.equal((await request(`${nodes.find((n) => n.url === ring.owner(key))!.url}/${key}`)).status, 200);

    await c.close();
    for (const node of [a, b]) {
      for (const key of keys) {
        const res = await request(`${node.url}/${key}`);
        assert.equal(res.status, 200, `${key} on ${node.url}`);
        assert.ok(res.body.equals(bodies.get(key)!));
      }
      assert.equal(peerHealthy(node, c.url), false);
    }
    // Keys of live owners were loaded once; each of C's was loaded by C, then by A and B themselves.
    for (const key of keys) assert.equal(origin.count(key), ownedByC.includes(key) ? 3 : 1, key);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a node restarted at the same URL is asked again once it answers a probe, not before', { timeout: 15_000 }, async () => {
  const origin = new TestOrigin();
  const [portA, portB] = [await freePort(), await freePort()];
  const [urlA, urlB] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
  const peers = `${urlA},${urlB}`;
  const a = await startNode({ port: String(portA), self: urlA, peers }, origin);
  let b = await startNode({ port: String(portB), self: urlB, peers }, origin);
  try {
    const [down, during, after] = ['assets/down', 'assets/during', 'assets/after'].map((p) => ownedBy([urlA, urlB], urlB, p, '.js')) as [string, string, string];
    for (const key of [down, during, after]) origin.put(key, `/* ${key} */`);

    await b.close();
    assert.equal((await request(`${a.url}/${down}`)).status, 200);
    assert.equal(peerHealthy(a, urlB), false);

    b = await startNode({ port: String(portB), self: urlB, peers }, origin);
    // Until a probe finds it ready, A does not ask B: it loads the key itself.
    assert.equal((await request(`${a.url}/${during}`)).headers['cache-status'], 'hashedge; fwd=miss; stored');
    assert.equal(b.group.stats.misses, 0);

    await a.cluster!.health.probeAll();
    assert.equal(peerHealthy(a, urlB), true);
    const res = await request(`${a.url}/${after}`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['cache-status']), /detail=owner/);
    assert.equal(b.group.stats.misses, 1, 'the restarted owner was asked');
    assert.equal((await request(`${b.url}/${after}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal(origin.count(after), 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
