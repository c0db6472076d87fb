/**
 * HTTP caching semantics of a cached asset, to the letter of RFC 9110: conditional requests,
 * ranges (single, suffix, open, multipart, If-Range, the range cap) and encoded variants.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Edge } from '../src/edge.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request, type TestResponse } from './helpers/http.js';

let root: string;
let edge: Edge;
const js = Buffer.from(Array.from({ length: 600 }, (_, i) => `export const value${i} = compute(${i}, "${(i * 7919).toString(36)}");\n`).join(''));
const jpg = randomBytes(10_000);
const tiny = Buffer.from('a{b:c}');
const JS = '/assets/app-0492830483.js';
const JPG = '/assets/photo-BwT4yKxK.jpg';
const TINY = '/assets/tiny-3f2a9b1c.css';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hashedge-http-'));
  await mkdir(join(root, 'assets'));
  await writeFile(join(root, JS), js);
  await writeFile(join(root, JPG), jpg);
  await writeFile(join(root, TINY), tiny);
  edge = await startTestEdge({ origin: root });
  for (const path of [JS, JPG, TINY]) assert.equal((await get(path)).status, 200);
});

after(async () => {
  await edge.close();
  await rm(root, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<TestResponse> {
  return request(`${edge.url}${path}`, { headers, method });
}

test('If-None-Match: exact, in a list, weak, and * give 304 with the validators; another tag gives 200', async () => {
  const { headers } = await get(JPG);
  const etag = headers.etag!;
  for (const inm of [etag, `"nope", ${etag}, "other"`, `W/${etag}`, '*']) {
    const res = await get(JPG, { 'if-none-match': inm });
    assert.equal(res.status, 304, inm);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.headers['last-modified'], headers['last-modified']);
  }
  const other = await get(JPG, { 'if-none-match': '"something-else"' });
  assert.equal(other.status, 200);
  assert.ok(other.body.equals(jpg));
  const head = await get(JPG, { 'if-none-match': etag }, 'HEAD');
  assert.equal(head.status, 304);
});

test('If-Modified-Since: same or later gives 304, earlier 200; If-None-Match takes precedence', async () => {
  const { headers } = await get(JPG);
  const lastModified = new Date(headers['last-modified']!);
  assert.equal((await get(JPG, { 'if-modified-since': lastModified.toUTCString() })).status, 304);
  assert.equal((await get(JPG, { 'if-modified-since': new Date(lastModified.getTime() + 60_000).toUTCString() })).status, 304);
  assert.equal((await get(JPG, { 'if-modified-since': new Date(lastModified.getTime() - 60_000).toUTCString() })).status, 200);
  assert.equal((await get(JPG, { 'if-modified-since': 'not a date' })).status, 200);
  const both = await get(JPG, { 'if-none-match': '"other"', 'if-modified-since': lastModified.toUTCString() });
  assert.equal(both.status, 200);
});

test('If-Match and If-Unmodified-Since that do not hold give 412', async () => {
  const { headers } = await get(JPG);
  const failed = await get(JPG, { 'if-match': '"other"' });
  assert.equal(failed.status, 412);
  assert.equal(errorCode(failed), 'E_PRECONDITION_FAILED');
  assert.equal((await get(JPG, { 'if-match': headers.etag! })).status, 200);
  const earlier = new Date(new Date(headers['last-modified']!).getTime() - 60_000).toUTCString();
  assert.equal((await get(JPG, { 'if-unmodified-since': earlier })).status, 412);
});

test('single ranges: bounded, suffix, open-ended and past the end', async () => {
  const cases: Array<[string, number, number]> = [
    ['bytes=0-9', 0, 9],
    ['bytes=-5', jpg.length - 5, jpg.length - 1],
    ['bytes=100-', 100, jpg.length - 1],
    ['bytes=9000-999999', 9000, jpg.length - 1],
  ];
  for (const [range, start, end] of cases) {
    const res = await get(JPG, { range });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${jpg.length}`, range);
    assert.equal(res.headers['content-length'], String(end - start + 1));
    assert.ok(res.body.equals(jpg.subarray(start, end + 1)), range);
  }
});

test('an unsatisfiable range gives 416 with Content-Range: bytes */length', async () => {
  const res = await get(JPG, { range: `bytes=${jpg.length}-` });
  assert.equal(res.status, 416);
  assert.equal(res.headers['content-range'], `bytes */${jpg.length}`);
  assert.equal(errorCode(res), 'E_RANGE_NOT_SATISFIABLE');
});

test('malformed ranges and other units are ignored: 200 with the whole body', async () => {
  for (const range of ['bytes=abc', 'items=0-1']) {
    const res = await get(JPG, { range });
    assert.equal(res.status, 200, range);
    assert.ok(res.body.equals(jpg));
  }
  // An invalid spec (last < first) may be ignored or rejected (RFC 9110 §14.2): we reject it.
  assert.equal((await get(JPG, { range: 'bytes=5-2' })).status, 416);
});

test('several ranges give multipart/byteranges; overlapping ones are coalesced', async () => {
  const res = await get(JPG, { range: 'bytes=0-9,20-29' });
  assert.equal(res.status, 206);
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(res.headers['content-type'] ?? '');
  assert.ok(m);
  const boundary = m[1]!;
  assert.equal(res.headers['content-length'], String(res.body.length));
  const parts = res.body.toString('latin1').split(`--${boundary}`).slice(1, -1);
  assert.equal(parts.length, 2);
  const expected = [[0, 9], [20, 29]] as const;
  parts.forEach((part, i) => {
    const [head, bytes] = part.split('\r\n\r\n');
    const [start, end] = expected[i]!;
    assert.match(head!, new RegExp(`Content-Range: bytes ${start}-${end}/${jpg.length}`));
    assert.match(head!, /Content-Type: image\/jpeg/);
    assert.ok(Buffer.from(bytes!.slice(0, -2), 'latin1').equals(jpg.subarray(start, end + 1)));
  });
  const coalesced = await get(JPG, { range: 'bytes=0-9,5-14' });
  assert.equal(coalesced.status, 206);
  assert.equal(coalesced.headers['content-range'], `bytes 0-14/${jpg.length}`);
});

test('more than 16 ranges are answered with the whole body (CVE-2011-3192)', async () => {
  const range = 'bytes=' + Array.from({ length: 200 }, (_, i) => `${i * 10}-${i * 10 + 5}`).join(',');
  const res = await get(JPG, { range });
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(jpg));
});

test('If-Range: the current ETag or exact date gives 206; another or a weak tag gives 200', async () => {
  const { headers } = await get(JPG);
  assert.equal((await get(JPG, { range: 'bytes=0-9', 'if-range': headers.etag! })).status, 206);
  assert.equal((await get(JPG, { range: 'bytes=0-9', 'if-range': headers['last-modified']! })).status, 206);
  assert.equal((await get(JPG, { range: 'bytes=0-9', 'if-range': '"other"' })).status, 200);
  assert.equal((await get(JPG, { range: 'bytes=0-9', 'if-range': `W/${headers.etag}` })).status, 200);
});

test('Range is served from the identity bytes even when br is accepted, and ignored for HEAD', async () => {
  const identity = await get(JS);
  const res = await get(JS, { range: 'bytes=0-99', 'accept-encoding': 'br, gzip' });
  assert.equal(res.status, 206);
  assert.equal(res.headers['content-encoding'], undefined);
  assert.equal(res.headers.etag, identity.headers.etag);
  assert.ok(res.body.equals(js.subarray(0, 100)));
  const head = await get(JS, { range: 'bytes=0-99' }, 'HEAD');
  assert.equal(head.status, 200);
});

test('Accept-Encoding picks brotli or gzip variants made at fill, each with its own ETag', async () => {
  const identity = await get(JS);
  assert.equal(identity.headers['content-encoding'], undefined);
  const br = await get(JS, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers.etag, identity.headers.etag!.replace(/"$/, '-br"'));
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(br.headers['content-length'], String(br.body.length));
  assert.ok(br.body.length < js.length);
  assert.ok(brotliDecompressSync(br.body).equals(js));
  const gz = await get(JS, { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.etag, identity.headers.etag!.replace(/"$/, '-gz"'));
  assert.ok(gunzipSync(gz.body).equals(js));
  for (const res of [identity, br, gz]) assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
});

test('q-values decide the encoding', async () => {
  const cases: Array<[string, string | undefined]> = [
    ['br;q=0.5, gzip;q=0.8', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0', undefined],
    ['*', 'br'],
    ['identity', undefined],
    ['', undefined],
  ];
  for (const [ae, expected] of cases) {
    const res = await get(JS, ae === '' ? {} : { 'accept-encoding': ae });
    assert.equal(res.headers['content-encoding'], expected, ae);
  }
});

test('incompressible and tiny assets have no variants', async () => {
  const photo = await get(JPG, { 'accept-encoding': 'br, gzip' });
  assert.equal(photo.headers['content-encoding'], undefined);
  assert.equal(photo.headers.vary, undefined);
  const small = await get(TINY, { 'accept-encoding': 'br, gzip' });
  assert.equal(small.headers['content-encoding'], undefined);
  assert.ok(small.body.equals(tiny));
});

test('a variant revalidates against its own ETag', async () => {
  const br = await get(JS, { 'accept-encoding': 'br' });
  assert.equal((await get(JS, { 'accept-encoding': 'br', 'if-none-match': br.headers.etag! })).status, 304);
  assert.equal((await get(JS, { 'if-none-match': br.headers.etag! })).status, 200);
});
