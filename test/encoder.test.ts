/**
 * Compression is bounded: a burst of cold compressible misses is answered at once with the
 * identity bytes instead of waiting behind a compression queue, and every asset still gets its
 * variants afterwards (src/cache/encoder.ts).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import { Blob, BLOB_OVERHEAD_BYTES } from '../src/cache/blob.js';
import { Encoder } from '../src/cache/encoder.js';
import { brotliWindowBits, encodeVariants } from '../src/cache/encode.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';

/** Text that compresses like a JS bundle and takes brotli some milliseconds. */
function script(seed: number, bytes: number): Buffer {
  const words = ['function', 'const', 'return', 'import', 'export', '=>', '{', '}', ';', '\n'];
  let out = '';
  let x = seed;
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out += `${words[x % words.length]} v${x % 9973} `;
  }
  return Buffer.from(out.slice(0, bytes));
}

test('an encoder with a full backlog refuses at once; what it accepted it compresses', async () => {
  const encoder = new Encoder({ brotliQuality: 5, concurrency: 1, backlogBytes: 300_000 });
  const bodies = [1, 2, 3].map((seed) => script(seed, 200_000));
  const first = encoder.encode(bodies[0]!); // runs
  const second = encoder.encode(bodies[1]!); // waits (200 KB of 300 KB backlog)
  const third = encoder.encode(bodies[2]!); // would make 400 KB waiting: refused
  assert.ok(first && second);
  assert.equal(third, undefined);
  assert.equal(encoder.idle, false);
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual(brotliDecompressSync(a.br!), bodies[0]);
  assert.deepEqual(brotliDecompressSync(b.br!), bodies[1]);
  assert.equal(encoder.idle, true);
});

test('a burst of cold compressible misses is answered without waiting for compression, and every asset gets brotli afterwards without being asked again', async () => {
  const origin = new TestOrigin();
  const keys = Array.from({ length: 12 }, (_, i) => `app-${String(i).padStart(2, '0')}a1b2c3d4.js`);
  const bodies = new Map(keys.map((key, i) => [key, origin.put(key, script(i + 10, 400_000), { contentType: 'text/javascript' })]));
  const edge = await startTestEdge({}, origin);
  after(() => edge.close());
  // Every fill completes at about the same time: the encoder is busy with the first.
  origin.gate = new Gate();
  const burst = Promise.all(keys.map((key) => request(`${edge.url}/${key}`, { headers: { 'accept-encoding': 'br' } })));
  for (const key of keys) await origin.arrived(1, key);
  origin.gate.open();
  const first = await burst;
  const decoded = (res: (typeof first)[number]) => (res.headers['content-encoding'] === 'br' ? brotliDecompressSync(res.body) : res.body);
  first.forEach((res, i) => {
    assert.equal(res.status, 200);
    assert.deepEqual(decoded(res), bodies.get(keys[i]!));
  });
  assert.ok(first.some((res) => res.headers['content-encoding'] === undefined), 'some answers went with identity bytes instead of waiting for the encoder');

  // The variants follow in the background, without further requests: once the edge says
  // nothing is pending, the next request for every key gets brotli.
  const deadline = Date.now() + 30_000;
  while (edge.group.pendingVariants > 0) {
    assert.ok(Date.now() < deadline, `${edge.group.pendingVariants} assets never got their variants`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const stats = JSON.parse((await request(`${edge.url}/_hashedge/stats`)).body.toString()) as { cache: { pendingVariants: number } };
  assert.equal(stats.cache.pendingVariants, 0);
  for (const key of keys) {
    const res = await request(`${edge.url}/${key}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(res.headers['content-encoding'], 'br', key);
    assert.deepEqual(brotliDecompressSync(res.body), bodies.get(key));
    assert.equal(origin.count(key), 1, 'compression never refetches');
  }
});

test('brotli windows fit the body, and every size still round-trips', async () => {
  assert.deepEqual([300, 1024, 70_000, 600_000, 8_000_000].map(brotliWindowBits), [10, 11, 17, 20, 22]);
  for (const bytes of [300, 70_000, 600_000, 2_500_000]) {
    const body = script(bytes, bytes);
    const { br } = await encodeVariants(body, 9);
    assert.ok(br !== undefined && br.length < body.length / 2, `${bytes} bytes: brotli kept and smaller`);
    assert.deepEqual(brotliDecompressSync(br), body);
  }
});

test('a cached variant holds only its own bytes, so the budget counts what memory holds', async () => {
  const body = script(7, 20_000);
  const { br, gzip } = await encodeVariants(body, 6);
  assert.ok(br && gzip);
  // zlib hands back views into its 16 KiB output chunks: what the cache must not keep as is.
  assert.ok(br.buffer.byteLength > br.length, 'zlib returned a view into a larger chunk');
  const blob = new Blob(
    { key: 'assets/app-0492830483.js', body, sha256: '0'.repeat(64), contentType: 'text/javascript', lastModified: undefined, storedAt: 0, expiresAt: 0, compressible: true, immutability: 'name: hex hash 0492830483' },
    { br, gzip },
  );
  for (const rep of [blob.identity, blob.br!, blob.gzip!]) {
    assert.equal(rep.body.buffer.byteLength, rep.body.length, rep.encoding);
  }
  assert.deepEqual(brotliDecompressSync(blob.br!.body), body);
  assert.equal(blob.byteSize, body.length + br.length + gzip.length + BLOB_OVERHEAD_BYTES);
});
