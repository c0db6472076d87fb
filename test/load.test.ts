/**
 * Load and memory, bounded to a few seconds on loopback: a soak of mixed traffic over a working
 * set several times the cache, and many slow clients on one large object. Memory is measured
 * after a forced GC as V8 heap used + ArrayBuffers (every Node Buffer: cached bodies, socket
 * chunks), which is what would grow if the node kept per-request or per-client copies.
 * Synchronisation is by events (responses, 'close' of sockets and origin bodies, worker
 * messages), never by sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import type { Edge } from '../src/edge.js';
import type { OriginGetOptions, OriginObject } from '../src/origin/origin.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// The runner's flags are not ours to change: expose gc() to this process from here.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap used + ArrayBuffers (Node Buffers) of this thread after a full GC, in bytes. */
function liveMemory(): number {
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Open file descriptors of this process (sockets included); undefined where /proc is missing. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/** Seeded randomness (mulberry32): the same sizes and request mix on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Counts the bodies it hands out and how many have closed (read to the end, or destroyed). */
class CountingOrigin extends TestOrigin {
  opened = 0;
  closed = 0;
  #waiting: Array<() => void> = [];

  override async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const object = await super.get(key, options);
    if (object !== null) {
      this.opened++;
      object.body.once('close', () => {
        this.closed++;
        for (const wake of this.#waiting.splice(0)) wake();
      });
    }
    return object;
  }

  /** Resolves once every body handed out so far has closed. */
  async settled(): Promise<void> {
    while (this.closed < this.opened) await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
}

/** Tracks a server's connections; closed() resolves when none is open. */
function trackSockets(server: Server): { open: () => number; closed: () => Promise<void> } {
  const sockets = new Set<Socket>();
  let wake: (() => void) | undefined;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) wake?.();
    });
  });
  return {
    open: () => sockets.size,
    closed: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve))),
  };
}

function getConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Whether the body is exactly `expected` (checked chunk by chunk as it arrives, no copy). */
  matches: boolean;
  /** The body, kept only when it is encoded (to decode it) or when nothing was expected. */
  body: Buffer;
}

/** A request on the shared keep-alive agent; the body is compared with `expected` as it streams. */
function send(url: string, agent: Agent, method: string, headers: Record<string, string>, expected?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, method, headers }, (res) => {
      const keep = expected === undefined || res.headers['content-encoding'] !== undefined;
      const chunks: Buffer[] = [];
      let offset = 0;
      let matches = true;
      res.on('data', (c: Buffer) => {
        if (keep) chunks.push(c);
        else matches &&= offset + c.length <= expected.length && c.equals(expected.subarray(offset, offset + c.length));
        offset += c.length;
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (keep) matches = expected !== undefined && decoded(res.headers, body).equals(expected);
        else matches &&= offset === expected.length;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, matches, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decoded(headers: IncomingHttpHeaders, body: Buffer): Buffer {
  switch (headers['content-encoding']) {
    case 'br':
      return brotliDecompressSync(body);
    case 'gzip':
      return gunzipSync(body);
    default:
      return body;
  }
}

test('soak: mixed traffic over a working set ~4x the cache keeps memory and the cache within budget, leaks nothing, and never errs', { timeout: 60_000 }, async () => {
  const random = prng(20240611);
  const origin = new CountingOrigin();
  const objects = new Map<string, Buffer>();
  // 56 images of 50-200 KB (not compressible: no variants), 4 scripts (compressed once per
  // fill; their variants count against the budget too), 2 videos over --max-object-size
  // (streamed uncached): ~7 MiB cacheable.
  for (let i = 0; i < 56; i++) {
    const key = `assets/image${i}-0492830483.png`;
    objects.set(key, origin.put(key, randomBytes(50_000 + Math.floor(random() * 150_000))));
  }
  for (let i = 0; i < 4; i++) {
    const key = `assets/script${i}-0492830483.js`;
    const lines = Array.from({ length: 1500 + Math.floor(random() * 1500) }, (_, n) => `export const v${n} = ${JSON.stringify((random() * 1e9).toString(36))};\n`);
    objects.set(key, origin.put(key, lines.join(''), { contentType: 'text/javascript' }));
  }
  const large = ['video/large0-0492830483.mp4', 'video/large1-0492830483.mp4'];
  for (const key of large) objects.set(key, origin.put(key, Buffer.alloc(1536 * KiB, key)));
  const cacheable = [...objects.keys()].filter((k) => !large.includes(k));
  const workingSet = cacheable.reduce((n, k) => n + objects.get(k)!.length, 0);
  const budget = 2 * MiB;
  assert.ok(workingSet > 3 * budget, `working set ${mb(workingSet)}`);

  const edge: Edge = await startTestEdge({ 'cache-size': '2MiB', 'max-object-size': '1MiB' }, origin);
  const sockets = trackSockets(edge.server);
  try {
    const memoryBefore = liveMemory();
    const fdsBefore = openFds();

    const CLIENTS = 32;
    const PER_CLIENT = 50;
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const failures: string[] = [];
    let peakCacheBytes = 0;
    const counts = { get: 0, encoded: 0, range: 0, head: 0, missing: 0 };
    const fail = (what: string) => failures.length < 20 && failures.push(what);

    const client = async () => {
      for (let n = 0; n < PER_CLIENT; n++) {
        const r = random();
        const key = r < 0.08 ? `assets/missing${Math.floor(random() * 20)}-0492830483.js` : random() < 0.04 ? large[Math.floor(random() * 2)]! : cacheable[Math.floor(random() * cacheable.length)]!;
        const url = `${edge.url}/${key}`;
        const bytes = objects.get(key);
        if (bytes === undefined) {
          counts.missing++;
          const reply = await send(url, agent, 'GET', {});
          if (reply.status !== 404) fail(`GET ${key}: ${reply.status}, expected 404`);
        } else if (r < 0.18) {
          counts.head++;
          const reply = await send(url, agent, 'HEAD', {});
          if (reply.status !== 200 || reply.headers['content-length'] !== String(bytes.length) || reply.body.length !== 0) fail(`HEAD ${key}: ${reply.status} ${reply.headers['content-length']}`);
        } else if (r < 0.3) {
          counts.range++;
          const start = Math.floor(random() * bytes.length);
          const end = Math.min(bytes.length - 1, start + Math.floor(random() * 100_000));
          const reply = await send(url, agent, 'GET', { range: `bytes=${start}-${end}` }, bytes.subarray(start, end + 1));
          if (reply.status !== 206 || reply.headers['content-range'] !== `bytes ${start}-${end}/${bytes.length}` || !reply.matches) fail(`GET ${key} bytes=${start}-${end}: ${reply.status} ${reply.headers['content-range']}`);
        } else if (r < 0.4) {
          counts.encoded++;
          const reply = await send(url, agent, 'GET', { 'accept-encoding': 'br, gzip' }, bytes);
          if (reply.status !== 200 || !reply.matches) fail(`GET ${key} (br, gzip): ${reply.status} ${reply.headers['content-encoding']}`);
        } else {
          counts.get++;
          const reply = await send(url, agent, 'GET', {}, bytes);
          if (reply.status !== 200 || !reply.matches) fail(`GET ${key}: ${reply.status}, not the object's bytes`);
        }
        peakCacheBytes = Math.max(peakCacheBytes, edge.group.cacheBytes);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const seconds = (performance.now() - started) / 1000;

    const stats = JSON.parse((await request(`${edge.url}/_hashedge/stats`)).body.toString()) as { cache: { bytes: number; budgetBytes: number }; counters: { evictions: number; misses: number; hits: number } };
    agent.destroy();
    await sockets.closed();
    await origin.settled();
    const memoryAfter = liveMemory();
    const fdsAfter = openFds();

    const total = CLIENTS * PER_CLIENT;
    console.log(`# soak: ${total} requests in ${seconds.toFixed(2)} s (${Math.round(total / seconds)}/s) ${JSON.stringify(counts)}; working set ${mb(workingSet)}, cache peak ${mb(peakCacheBytes)} of ${mb(budget)}, evictions ${stats.counters.evictions}, misses ${stats.counters.misses}, hits ${stats.counters.hits}; live memory ${mb(memoryBefore)} -> ${mb(memoryAfter)}; fds ${fdsBefore} -> ${fdsAfter}; origin bodies ${origin.opened} opened, ${origin.closed} closed`);

    assert.deepEqual(failures, [], 'every response has the expected status and bytes');
    assert.equal(edge.group.cacheBudget, budget);
    assert.ok(peakCacheBytes <= budget && edge.group.cacheBytes <= budget, `cache peak ${peakCacheBytes} bytes`);
    assert.ok(stats.cache.bytes <= stats.cache.budgetBytes);
    assert.ok(stats.counters.evictions > 0, 'the working set did not fit: keys were evicted');
    assert.ok(stats.counters.misses > 100, 'the soak exercised misses, not only hits');
    // Everything the node keeps is bounded by --cache-size (plus the negative cache and the
    // key counters, a few KB); 16 MiB covers JIT, parsers and pools warmed up by the soak.
    // A leak of one object per miss would be ~100 KB x hundreds of misses.
    assert.ok(memoryAfter - memoryBefore < budget + 16 * MiB, `live memory grew by ${mb(memoryAfter - memoryBefore)}`);
    // No leaked sockets or bodies: the server holds no connection, every origin body was read
    // to its end or destroyed (an S3 body left open would hold a pooled socket), and no file
    // descriptor outlived the soak (a few lazily created by the runtime are allowed).
    assert.equal(await getConnections(edge.server), 0);
    assert.equal(origin.closed, origin.opened);
    if (fdsBefore !== undefined && fdsAfter !== undefined) assert.ok(fdsAfter <= fdsBefore + 4, `fds ${fdsBefore} -> ${fdsAfter}`);
  } finally {
    await edge.close();
  }
});

/**
 * Slow clients in a worker thread, so their sockets and buffers are not in this thread's
 * measured memory: each GETs the URL, takes the first chunk, then pauses with its socket open.
 */
class SlowClients {
  readonly #worker = new Worker(
    `
    const { parentPort } = require('node:worker_threads');
    const http = require('node:http');
    const requests = [];
    parentPort.on('message', ({ type, url, count }) => {
      if (type === 'close') {
        for (const req of requests) req.destroy();
        parentPort.postMessage({ type: 'closed' });
        return;
      }
      const statuses = [];
      for (let i = 0; i < count; i++) {
        const req = http.get(url, { agent: false }, (res) => {
          res.once('data', () => {
            res.pause();
            statuses.push(res.statusCode);
            if (statuses.length === count) parentPort.postMessage({ type: 'paused', statuses });
          });
        });
        req.on('error', (err) => parentPort.postMessage({ type: 'error', message: err.message }));
        requests.push(req);
      }
    });
    `,
    { eval: true },
  );

  #next(): Promise<{ type: string; statuses?: number[]; message?: string }> {
    return new Promise((resolve, reject) => {
      this.#worker.once('message', resolve);
      this.#worker.once('error', reject);
    });
  }

  /** Opens `count` more clients; resolves once each has its first chunk and has paused. */
  async open(url: string, count: number): Promise<void> {
    const reply = this.#next();
    this.#worker.postMessage({ type: 'open', url, count });
    const message = await reply;
    assert.equal(message.type, 'paused', message.message);
    assert.ok(message.statuses!.every((s) => s === 200));
  }

  async close(): Promise<void> {
    const reply = this.#next();
    this.#worker.postMessage({ type: 'close' });
    await reply;
    await this.#worker.terminate();
  }
}

/**
 * Most payload the kernel can hold for one TCP connection: the sender's send buffer and the
 * receiver's receive buffer, each at the largest size Linux autotuning may grow it to
 * (tcp_wmem and tcp_rmem maxima). A response larger than this plus its client's own stream
 * buffers cannot be wholly handed to the kernel while its client reads nothing.
 */
function socketBufferMaxBytes(): number {
  try {
    const wmemMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
    const rmemMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[2]);
    if (Number.isSafeInteger(wmemMax) && Number.isSafeInteger(rmemMax)) return wmemMax + rmemMax;
  } catch {
    // not Linux: assume its defaults
  }
  return 4 * MiB + 6 * MiB;
}

test('many paused clients of a cached large object: memory does not grow with their count', { timeout: 30_000 }, async () => {
  const origin = new TestOrigin();
  const key = 'video/big-0492830483.mp4';
  // Larger than the kernel can take for one connection, so every client's response is still
  // being sent when memory is measured. (With 8 MiB, loopback autotuning sometimes took a whole
  // response: node:http then closed that Connection: close socket while its client had read
  // only its first chunk, and the test counted 99 of 100 connections; more often on Node 22+,
  // whose 64 KiB stream buffers let a paused client read more, so the kernel grows its buffer.)
  const size = Math.max(8 * MiB, Math.ceil((socketBufferMaxBytes() + 2 * MiB) / MiB) * MiB);
  origin.put(key, Buffer.alloc(size, 'hashedge'));
  const edge = await startTestEdge({ 'max-object-size': `${size / MiB}MiB`, 'cache-size': `${(2 * size) / MiB}MiB` }, origin);
  const clients = new SlowClients();
  let sockets: ReturnType<typeof trackSockets> | undefined;
  try {
    const base = liveMemory();
    assert.equal((await request(`${edge.url}/${key}`)).status, 200);
    assert.equal((await request(`${edge.url}/${key}`, { method: 'HEAD' })).headers['cache-status'], 'hashedge; hit');
    const cached = liveMemory();
    sockets = trackSockets(edge.server); // the paused clients' connections, not those two
    await clients.open(`${edge.url}/${key}`, 50);
    const with50 = liveMemory();
    await clients.open(`${edge.url}/${key}`, 50);
    const with100 = liveMemory();
    assert.equal(sockets.open(), 100, 'every paused client is still being sent its response');
    const perClient = (with100 - with50) / 50;
    console.log(`# paused clients of a cached ${mb(size)} object: cached ${mb(cached - base)}, 50 clients ${mb(with50 - base)}, 100 clients ${mb(with100 - base)} (+${Math.round(perClient / KiB)} KiB per client from 50 to 100)`);
    // The object is held once, by the cache; each response writes that same Buffer to its
    // socket (no copy), so what a client adds is its connection's objects and stream buffers
    // (tens of KiB), while the kernel holds what is in flight. A copy per client would add the
    // object's size each: 50 times that from 50 to 100.
    assert.ok(with100 - with50 < 20 * MiB, `50 more paused clients added ${mb(with100 - with50)}`);
    assert.ok(perClient < 256 * KiB, `${Math.round(perClient / KiB)} KiB per client`);
    // With 50 or 100 clients the node holds the object once (not twice: no copy while they
    // read) plus a fixed allowance, far below --cache-size (twice the object).
    for (const [n, used] of [[50, with50], [100, with100]] as const) {
      assert.ok(used - base < size + 16 * MiB, `${n} clients: ${mb(used - base)} above the empty node`);
    }
  } finally {
    await clients.close();
    await sockets?.closed();
    await edge.close();
  }
});

/** Most bytes the kernel may buffer for one loopback connection: the sender's maximum send buffer and the receiver's initial receive buffer. */
function socketBufferBytes(): number {
  try {
    const wmemMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
    const rmemDefault = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[1]);
    if (Number.isSafeInteger(wmemMax) && Number.isSafeInteger(rmemDefault)) return wmemMax + rmemDefault;
  } catch {
    // not Linux: assume its defaults
  }
  return 4 * MiB + 128 * KiB;
}

test('many paused clients of an object too large to cache: each origin stream is read only as fast as its client reads', { timeout: 30_000 }, async () => {
  // edge-miss.test.ts checks one slow client of such an object; here many stay paused at once.
  const origin = new CountingOrigin();
  const key = 'video/huge-0492830483.mp4';
  const size = 64 * MiB;
  origin.put(key, Buffer.alloc(size, 'hashedge'));
  const edge = await startTestEdge({ 'max-object-size': '1MiB', 'cache-size': '4MiB' }, origin);
  const sockets = trackSockets(edge.server);
  const clients = new SlowClients();
  const CLIENTS = 20;
  // What may lie between the origin and a paused client: kernel socket buffers, plus 2 MiB
  // for the stream buffers of the origin body, the timeout guard, the response and the client.
  const ahead = socketBufferBytes() + 2 * MiB;
  assert.ok(ahead < size / 4, `socket buffers of ${mb(ahead)} are too large for this test to mean anything`);
  try {
    await clients.open(`${edge.url}/${key}`, CLIENTS);
    liveMemory(); // a pause in which unbounded streams would run on
    const produced = origin.bytesProduced;
    console.log(`# ${CLIENTS} paused clients of an uncached ${mb(size)} object: the origin produced ${mb(produced)} (${mb(produced / CLIENTS)} per client; allowed ${mb(ahead)})`);
    assert.equal(origin.opened, CLIENTS, 'one origin stream per client');
    // Without backpressure each stream would be read to its end (64 MiB) at once.
    assert.ok(produced < CLIENTS * ahead, `the origin produced ${mb(produced)}`);
  } finally {
    await clients.close();
    await sockets.closed();
    await origin.settled(); // every origin stream of a client that left was destroyed
    await edge.close();
  }
});
