/**
 * Misses against an origin the test controls: one origin load however many requests wait,
 * failures that are never cached, timeouts, large objects streamed with bounded memory.
 * Synchronisation is by gates the test opens, never by sleeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { RETRY_AT_ONCE, startTestEdge } from './helpers/edge.js';
import { errorCode, request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';

const KEY = 'assets/app-0492830483.js';

test('a burst of concurrent misses for one key causes exactly one origin load', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, 'console.log("hashedge");\n'.repeat(100));
  origin.gate = new Gate();
  const edge = await startTestEdge({}, origin);
  try {
    const responses = Array.from({ length: 50 }, () => request(`${edge.url}/${KEY}`));
    await origin.arrived(1, KEY);
    origin.gate.open();
    const results = await Promise.all(responses);
    assert.equal(origin.count(KEY), 1);
    for (const res of results) {
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, body);
    }
    const statuses = results.map((r) => r.headers['cache-status']);
    assert.equal(statuses.filter((s) => s === 'hashedge; fwd=miss; stored').length, 1);
    assert.ok(statuses.every((s) => s === 'hashedge; fwd=miss; stored' || s === 'hashedge; fwd=miss; collapsed; stored' || s === 'hashedge; hit'));
  } finally {
    await edge.close();
  }
});

test('a client that disconnects does not cancel the load others wait for', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, 'x'.repeat(5000));
  origin.gate = new Gate();
  const edge = await startTestEdge({}, origin);
  try {
    const quitter = httpRequest(`${edge.url}/${KEY}`);
    quitter.on('error', () => {});
    quitter.end();
    await origin.arrived(1, KEY);
    const waiting = request(`${edge.url}/${KEY}`);
    quitter.destroy();
    origin.gate.open();
    const res = await waiting;
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, body);
    assert.equal(origin.count(KEY), 1);
  } finally {
    await edge.close();
  }
});

test('an origin error answers 502 with a code, is not cached, and the next request tries again', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, 'ok');
  origin.behaviour = { kind: 'error' };
  const edge = await startTestEdge(RETRY_AT_ONCE, origin);
  try {
    const failed = await request(`${edge.url}/${KEY}`);
    assert.equal(failed.status, 502);
    assert.equal(errorCode(failed), 'E_ORIGIN');
    assert.equal(failed.headers['cache-control'], 'no-store');
    assert.doesNotMatch(failed.body.toString(), /test origin failure|\n\s+at /, 'no internals or stack traces reach the client');
    origin.behaviour = { kind: 'ok' };
    const recovered = await request(`${edge.url}/${KEY}`);
    assert.equal(recovered.status, 200);
    assert.deepEqual(recovered.body, body);
    assert.equal(origin.count(KEY), 2);
  } finally {
    await edge.close();
  }
});

test('an origin that does not answer within --origin-timeout gives 504, then recovers', async () => {
  const origin = new TestOrigin();
  origin.put(KEY, 'late');
  origin.behaviour = { kind: 'hang' };
  const edge = await startTestEdge({ ...RETRY_AT_ONCE, 'origin-timeout': '300ms' }, origin);
  try {
    const res = await request(`${edge.url}/${KEY}`);
    assert.equal(res.status, 504);
    assert.equal(errorCode(res), 'E_ORIGIN_TIMEOUT');
    origin.behaviour = { kind: 'ok' };
    assert.equal((await request(`${edge.url}/${KEY}`)).status, 200);
  } finally {
    await edge.close();
  }
});

test('a truncated origin body is never cached; the next request loads again', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, randomBytes(10_000));
  origin.behaviour = { kind: 'truncate', bytes: 4_000 };
  const edge = await startTestEdge(RETRY_AT_ONCE, origin);
  try {
    const res = await request(`${edge.url}/${KEY}`);
    assert.equal(res.status, 502);
    assert.equal(errorCode(res), 'E_ORIGIN_TRUNCATED');
    origin.behaviour = { kind: 'ok' };
    const again = await request(`${edge.url}/${KEY}`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, body);
    assert.equal(origin.count(KEY), 2);
  } finally {
    await edge.close();
  }
});

test('a large cacheable miss streams to its first client while it fills', async () => {
  const origin = new TestOrigin();
  const body = origin.put('video/clip-0492830483.mp4', randomBytes(4 * 1024 * 1024));
  origin.midBodyGate = new Gate();
  const edge = await startTestEdge({ 'max-object-size': '16MiB' }, origin);
  try {
    const received: Buffer[] = [];
    let firstBytes!: () => void;
    const gotFirstBytes = new Promise<void>((resolve) => (firstBytes = resolve));
    const done = new Promise<{ headers: Record<string, unknown> }>((resolve, reject) => {
      httpRequest(`${edge.url}/video/clip-0492830483.mp4`, (res) => {
        res.on('data', (c: Buffer) => {
          received.push(c);
          firstBytes();
        });
        res.on('end', () => resolve({ headers: res.headers }));
        res.on('error', reject);
      }).end();
    });
    // The origin has sent only its first chunk and waits: the client already has bytes.
    await gotFirstBytes;
    assert.ok(origin.bytesProduced < body.length);
    origin.midBodyGate.open();
    const { headers } = await done;
    assert.deepEqual(Buffer.concat(received), body);
    assert.equal(headers['cache-status'], 'hashedge; fwd=miss; stored');
    const hit = await request(`${edge.url}/video/clip-0492830483.mp4`);
    assert.equal(hit.headers['cache-status'], 'hashedge; hit');
    assert.ok(hit.headers.etag);
    assert.equal(origin.count('video/clip-0492830483.mp4'), 1);
  } finally {
    await edge.close();
  }
});

test('a range of a large object that is still filling is served from the fill', async () => {
  const origin = new TestOrigin();
  const body = origin.put('video/seek-0492830483.mp4', randomBytes(3 * 1024 * 1024));
  const edge = await startTestEdge({}, origin);
  try {
    const res = await request(`${edge.url}/video/seek-0492830483.mp4`, { headers: { range: 'bytes=2000000-2000099' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 2000000-2000099/${body.length}`);
    assert.deepEqual(res.body, body.subarray(2000000, 2000100));
  } finally {
    await edge.close();
  }
});

test('objects over --max-object-size stream through uncached, with backpressure', async () => {
  const origin = new TestOrigin();
  const size = 48 * 1024 * 1024;
  const body = origin.put('video/huge-0492830483.mp4', randomBytes(size));
  const edge = await startTestEdge({ 'max-object-size': '2MiB', 'cache-size': '4MiB' }, origin);
  try {
    // A slow client: it pauses after every chunk and resumes only on the next turn of the loop.
    let maxAhead = 0;
    let got = 0;
    const hash = await new Promise<{ status: number; cacheStatus: unknown; bytes: number; equal: boolean }>((resolve, reject) => {
      const chunks: Buffer[] = [];
      httpRequest(`${edge.url}/video/huge-0492830483.mp4`, (res) => {
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          got += c.length;
          maxAhead = Math.max(maxAhead, origin.bytesProduced - got);
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, cacheStatus: res.headers['cache-status'], bytes: all.length, equal: all.equals(body) });
        });
        res.on('error', reject);
      }).end();
    });
    assert.equal(hash.status, 200);
    assert.equal(hash.bytes, size);
    assert.ok(hash.equal);
    assert.equal(hash.cacheStatus, 'hashedge; fwd=miss; detail=too-large');
    // Buffered whole, the origin would run ~48 MiB ahead of this client; streamed, only
    // socket and stream buffers lie between them.
    assert.ok(maxAhead < 16 * 1024 * 1024, `origin ran ${maxAhead} bytes ahead of the client`);
    const again = await request(`${edge.url}/video/huge-0492830483.mp4`, { method: 'HEAD' });
    assert.equal(again.headers['cache-status'], 'hashedge; fwd=miss; detail=too-large');
  } finally {
    await edge.close();
  }
});

test('a range of an uncached large object is fetched from the origin as a range', async () => {
  const origin = new TestOrigin();
  const body = origin.put('video/big-0492830483.mp4', randomBytes(3 * 1024 * 1024));
  const edge = await startTestEdge({ 'max-object-size': '1MiB' }, origin);
  try {
    const res = await request(`${edge.url}/video/big-0492830483.mp4`, { headers: { range: 'bytes=-1000' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${body.length - 1000}-${body.length - 1}/${body.length}`);
    assert.deepEqual(res.body, body.subarray(body.length - 1000));
  } finally {
    await edge.close();
  }
});

test('the cache holds at most --cache-size bytes, evicting the least recently used', async () => {
  const origin = new TestOrigin();
  const keys = Array.from({ length: 12 }, (_, i) => `assets/blob${i}-0492830483.bin`);
  for (const key of keys) origin.put(key, randomBytes(200 * 1024));
  const edge = await startTestEdge({ 'cache-size': '1MiB', 'max-object-size': '512KiB' }, origin);
  try {
    for (const key of keys) assert.equal((await request(`${edge.url}/${key}`)).status, 200);
    const stats = JSON.parse((await request(`${edge.url}/_hashedge/stats`)).body.toString());
    assert.ok(stats.cache.bytes <= 1024 * 1024, `cache holds ${stats.cache.bytes} bytes`);
    assert.ok(stats.counters.evictions >= 7);
    // The most recent key is still cached; the first was evicted and loads again.
    assert.equal((await request(`${edge.url}/${keys[11]}`)).headers['cache-status'], 'hashedge; hit');
    assert.equal((await request(`${edge.url}/${keys[0]}`)).headers['cache-status'], 'hashedge; fwd=miss; stored');
    assert.equal(origin.count(keys[0]!), 2);
  } finally {
    await edge.close();
  }
});
