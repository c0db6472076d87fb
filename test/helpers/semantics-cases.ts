/**
 * The HTTP caching semantics cases of a cached asset, to the letter of RFC 9110: conditional
 * requests (§13), ranges (§14: single, suffix, open, clamped, multipart, coalesced, If-Range,
 * the range cap) and content-coding variants (§12.5.3), through one real edge node over a disk
 * origin, over any transport: test/http-semantics.test.ts runs them over plain HTTP/1.1,
 * test/tls-semantics.test.ts over HTTP/2 and HTTP/1.1 over TLS (the same answers expected).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { RawOptions } from '../../src/config.js';
import type { Edge } from '../../src/edge.js';
import { startTestEdge } from './edge.js';
import { parseMultipart } from './multipart.js';
import { diskOrigin, type TempDir } from './temp-dir.js';
import { errorCode, type TestResponse } from './http.js';

/** How the cases reach the edge. */
export interface Transport {
  readonly name: string;
  /** Flags the edge needs for it (TLS: the certificate), read when the edge starts. */
  flags(): RawOptions;
  request(url: string, options: { method: string; headers: Record<string, string> }): Promise<TestResponse>;
}

export function defineSemanticsCases(transport: Transport): void {
  const IMMUTABLE = 'public, max-age=31536000, immutable';

  /** ~20 KB of varied JS-like text: brotli and gzip both save far more than 5%. */
  const js = Buffer.from(
    Array.from({ length: 215 }, (_, i) => {
      const name = `handler${i.toString(36)}`;
      return `export function ${name}(event, ctx) {\n  return ctx.dispatch("${(i * 7919).toString(36)}", event.detail ?? ${i % 17});\n}\n`;
    }).join(''),
  );
  /** Random bytes: incompressible, so no variant saves 5%. */
  const jpg = randomBytes(10_000);
  /** Under MIN_COMPRESS_BYTES (256): never compressed. */
  const tiny = Buffer.from('body{margin:0;color:#14213d}\n');

  const JS = '/assets/app-0492830483.js';
  const JPG = '/assets/photo-BwT4yKxK.jpg';
  const TINY = '/assets/tiny-3f2a9b1c.css';
  const ASSETS: ReadonlyArray<readonly [string, Buffer]> = [
    [JPG, jpg],
    [JS, js],
  ];

  let origin: TempDir;
  let edge: Edge;

  describe(transport.name, () => {
  before(async () => {
    assert.ok(js.length > 18_000 && js.length < 24_000, `js fixture is ${js.length} bytes`);
    assert.ok(tiny.length < 256);
    origin = await diskOrigin({ [JS]: js, [JPG]: jpg, [TINY]: tiny }, 'http');
    edge = await startTestEdge({ origin: origin.dir, ...transport.flags() });
    // Fill the cache, so every test below talks to a cached blob with its variants.
    for (const path of [JS, JPG, TINY]) assert.equal((await get(path)).status, 200, path);
  });

  after(async () => {
    await edge?.close();
    await origin?.remove();
  });

  function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<TestResponse> {
    return transport.request(`${edge.url}${path}`, { headers, method });
  }

  /** The 200 response to a plain GET (no Accept-Encoding): identity bytes and validators. */
  async function plain(path: string): Promise<TestResponse> {
    const res = await get(path);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.ok(res.headers.etag);
    assert.ok(res.headers['last-modified']);
    return res;
  }

  function shiftDate(httpDate: string, ms: number): string {
    return new Date(new Date(httpDate).getTime() + ms).toUTCString();
  }


  function boundaryOf(res: TestResponse): string {
    const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/.exec(res.headers['content-type'] ?? '');
    assert.ok(m, `content-type ${res.headers['content-type']}`);
    return m[2]!;
  }

  // ---------------------------------------------------------------------------------------------
  // Conditional requests (RFC 9110 §13)
  // ---------------------------------------------------------------------------------------------

  test('If-None-Match with the exact ETag gives 304 with no body and the 200 validators and Vary', async () => {
    for (const path of [JS, JPG]) {
      const full = await plain(path);
      const res = await get(path, { 'if-none-match': full.headers.etag! });
      assert.equal(res.status, 304, path);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.etag, full.headers.etag);
      assert.equal(res.headers['cache-control'], IMMUTABLE);
      assert.equal(res.headers['last-modified'], full.headers['last-modified']);
      // RFC 9110 §15.4.5: a 304 carries the Vary the 200 would have had.
      assert.equal(res.headers.vary, full.headers.vary, path);
    }
    assert.equal((await plain(JS)).headers.vary, 'Accept-Encoding');
  });

  test('If-None-Match with a list containing the ETag gives 304', async () => {
    const { headers } = await plain(JPG);
    const res = await get(JPG, { 'if-none-match': `"nope", ${headers.etag!}, "other"` });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, headers.etag);
  });

  test('If-None-Match with the weak form of the ETag gives 304 (weak comparison)', async () => {
    const { headers } = await plain(JPG);
    const res = await get(JPG, { 'if-none-match': `W/${headers.etag!}` });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, headers.etag);
  });

  test('If-None-Match: * gives 304', async () => {
    const res = await get(JPG, { 'if-none-match': '*' });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
  });

  test('If-None-Match with another tag gives 200 and the full body', async () => {
    const res = await get(JPG, { 'if-none-match': '"something-else", W/"another"' });
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(jpg));
  });

  test('If-Modified-Since equal to Last-Modified or later gives 304; earlier gives 200', async () => {
    const lastModified = (await plain(JPG)).headers['last-modified']!;
    const same = await get(JPG, { 'if-modified-since': lastModified });
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    assert.equal((await get(JPG, { 'if-modified-since': shiftDate(lastModified, 60_000) })).status, 304);
    const earlier = await get(JPG, { 'if-modified-since': shiftDate(lastModified, -60_000) });
    assert.equal(earlier.status, 200);
    assert.ok(earlier.body.equals(jpg));
    // An invalid date is ignored (§13.1.3).
    assert.equal((await get(JPG, { 'if-modified-since': 'not a date' })).status, 200);
  });

  test('If-None-Match takes precedence over If-Modified-Since', async () => {
    const lastModified = (await plain(JPG)).headers['last-modified']!;
    const res = await get(JPG, { 'if-none-match': '"other"', 'if-modified-since': lastModified });
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(jpg));
  });

  test('If-Match that does not match gives 412 E_PRECONDITION_FAILED', async () => {
    const { headers } = await plain(JPG);
    const res = await get(JPG, { 'if-match': '"other"' });
    assert.equal(res.status, 412);
    assert.equal(errorCode(res), 'E_PRECONDITION_FAILED');
    // If-Match uses the strong comparison (§13.1.1): a weak tag never matches.
    const weak = await get(JPG, { 'if-match': `W/${headers.etag!}` });
    assert.equal(weak.status, 412);
    assert.equal(errorCode(weak), 'E_PRECONDITION_FAILED');
  });

  test('If-Match that matches (or *) gives 200 and the full body', async () => {
    const { headers } = await plain(JPG);
    for (const ifMatch of [headers.etag!, `"other", ${headers.etag!}`, '*']) {
      const res = await get(JPG, { 'if-match': ifMatch });
      assert.equal(res.status, 200, ifMatch);
      assert.ok(res.body.equals(jpg));
    }
  });

  test('If-Unmodified-Since earlier than Last-Modified gives 412; equal gives 200', async () => {
    const lastModified = (await plain(JPG)).headers['last-modified']!;
    const res = await get(JPG, { 'if-unmodified-since': shiftDate(lastModified, -60_000) });
    assert.equal(res.status, 412);
    assert.equal(errorCode(res), 'E_PRECONDITION_FAILED');
    assert.equal((await get(JPG, { 'if-unmodified-since': lastModified })).status, 200);
  });

  test('HEAD with If-None-Match gives 304', async () => {
    const { headers } = await plain(JS);
    const res = await get(JS, { 'if-none-match': headers.etag! }, 'HEAD');
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, headers.etag);
  });

  // ---------------------------------------------------------------------------------------------
  // Ranges (RFC 9110 §14), on the incompressible and the compressible asset
  // ---------------------------------------------------------------------------------------------

  test('bytes=0-9 gives 206 with Content-Range, Content-Length 10 and the same slice as the 200', async () => {
    for (const [path, bytes] of ASSETS) {
      const full = await plain(path);
      assert.ok(full.body.equals(bytes));
      const res = await get(path, { range: 'bytes=0-9' });
      assert.equal(res.status, 206, path);
      assert.equal(res.headers['content-range'], `bytes 0-9/${bytes.length}`);
      assert.equal(res.headers['content-length'], '10');
      assert.ok(res.body.equals(full.body.subarray(0, 10)), path);
      assert.equal(res.headers.etag, full.headers.etag);
    }
  });

  test('suffix, open-ended and past-the-end ranges give the right slices', async () => {
    for (const [path, bytes] of ASSETS) {
      const size = bytes.length;
      const cases: Array<[string, number, number]> = [
        ['bytes=-5', size - 5, size - 1],
        ['bytes=100-', 100, size - 1],
        ['bytes=0-999999', 0, size - 1],
      ];
      for (const [range, start, end] of cases) {
        const res = await get(path, { range });
        assert.equal(res.status, 206, `${path} ${range}`);
        assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${size}`, `${path} ${range}`);
        assert.equal(res.headers['content-length'], String(end - start + 1));
        assert.ok(res.body.equals(bytes.subarray(start, end + 1)), `${path} ${range}`);
      }
    }
  });

  test('a suffix range longer than the asset gives the whole asset as a 206', async () => {
    // RFC 9110 §14.1.3: "If the selected representation is shorter than the specified
    // suffix-length, the entire representation is used." A suffix-range with a non-zero length is
    // always satisfiable (§14.1.1).
    for (const [path, bytes] of ASSETS) {
      const size = bytes.length;
      const res = await get(path, { range: `bytes=-${size + 1000}` });
      // range-parser alone computes a negative start and reports it unsatisfiable; decideRange
      // clamps the suffix first (a regression here answers 416 instead of 206 with every byte).
      assert.equal(res.status, 206, `${path} bytes=-${size + 1000}`);
      assert.equal(res.headers['content-range'], `bytes 0-${size - 1}/${size}`);
      assert.ok(res.body.equals(bytes));
    }
  });

  test('an unsatisfiable range gives 416 with Content-Range: bytes */length', async () => {
    for (const [path, bytes] of ASSETS) {
      const res = await get(path, { range: `bytes=${bytes.length}-` });
      assert.equal(res.status, 416, path);
      assert.equal(res.headers['content-range'], `bytes */${bytes.length}`);
      assert.equal(errorCode(res), 'E_RANGE_NOT_SATISFIABLE');
    }
    // A zero-length suffix is unsatisfiable (§14.1.1); a range whose last < first is invalid and
    // may be ignored or rejected (§14.1.1, §14.2): this edge rejects it.
    for (const range of ['bytes=-0', 'bytes=5-2']) {
      const res = await get(JPG, { range });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers['content-range'], `bytes */${jpg.length}`);
    }
  });

  test('a malformed range or another range unit is ignored: 200 with the full body', async () => {
    for (const [path, bytes] of ASSETS) {
      for (const range of ['bytes=abc', 'items=0-1']) {
        const res = await get(path, { range });
        assert.equal(res.status, 200, `${path} ${range}`);
        assert.equal(res.headers['content-range'], undefined);
        assert.ok(res.body.equals(bytes), `${path} ${range}`);
      }
    }
  });

  test('two ranges give 206 multipart/byteranges with each part\'s Content-Range and bytes', async () => {
    for (const [path, bytes] of ASSETS) {
      const full = await plain(path);
      const res = await get(path, { range: 'bytes=0-9,20-29' });
      assert.equal(res.status, 206, path);
      assert.equal(res.headers['content-range'], undefined, 'a multipart 206 has no top-level Content-Range');
      assert.equal(res.headers['content-length'], String(res.body.length));
      const parts = parseMultipart(res.body, boundaryOf(res));
      assert.equal(parts.length, 2);
      const expected = [[0, 9], [20, 29]] as const;
      parts.forEach((part, i) => {
        const [start, end] = expected[i]!;
        assert.equal(part.headers['content-range'], `bytes ${start}-${end}/${bytes.length}`);
        assert.equal(part.headers['content-type'], full.headers['content-type']);
        assert.ok(part.body.equals(bytes.subarray(start, end + 1)), `${path} part ${i}`);
      });
    }
  });

  test('overlapping ranges are coalesced into one 206', async () => {
    for (const [path, bytes] of ASSETS) {
      const res = await get(path, { range: 'bytes=0-9,5-14' });
      assert.equal(res.status, 206, path);
      assert.equal(res.headers['content-range'], `bytes 0-14/${bytes.length}`);
      assert.equal(res.headers['content-length'], '15');
      assert.ok(res.body.equals(bytes.subarray(0, 15)));
    }
  });

  test('more than 16 ranges give 200 and the full body (CVE-2011-3192); 16 are still served', async () => {
    const seventeen = 'bytes=' + Array.from({ length: 17 }, (_, i) => `${i * 100}-${i * 100 + 9}`).join(',');
    const many = 'bytes=' + Array.from({ length: 200 }, (_, i) => `${i * 10}-${i * 10 + 5}`).join(',');
    for (const [path, bytes] of ASSETS) {
      for (const range of [seventeen, many]) {
        const res = await get(path, { range });
        assert.equal(res.status, 200, path);
        assert.ok(res.body.equals(bytes), path);
      }
    }
    const sixteen = 'bytes=' + Array.from({ length: 16 }, (_, i) => `${i * 100}-${i * 100 + 9}`).join(',');
    const res = await get(JPG, { range: sixteen });
    assert.equal(res.status, 206);
    const parts = parseMultipart(res.body, boundaryOf(res));
    assert.equal(parts.length, 16);
    parts.forEach((part, i) => assert.ok(part.body.equals(jpg.subarray(i * 100, i * 100 + 10))));
  });

  test('If-Range with the current ETag gives 206', async () => {
    for (const [path, bytes] of ASSETS) {
      const { headers } = await plain(path);
      const res = await get(path, { range: 'bytes=0-9', 'if-range': headers.etag! });
      assert.equal(res.status, 206, path);
      assert.ok(res.body.equals(bytes.subarray(0, 10)));
    }
  });

  test('If-Range with another ETag gives 200 and the full body', async () => {
    for (const [path, bytes] of ASSETS) {
      const res = await get(path, { range: 'bytes=0-9', 'if-range': '"other"' });
      assert.equal(res.status, 200, path);
      assert.ok(res.body.equals(bytes));
    }
  });

  test('If-Range with a weak ETag gives 200 and the full body', async () => {
    for (const [path, bytes] of ASSETS) {
      const { headers } = await plain(path);
      const res = await get(path, { range: 'bytes=0-9', 'if-range': `W/${headers.etag!}` });
      assert.equal(res.status, 200, path);
      assert.ok(res.body.equals(bytes));
    }
  });

  test('If-Range with the exact Last-Modified date gives 206', async () => {
    for (const [path, bytes] of ASSETS) {
      const { headers } = await plain(path);
      const res = await get(path, { range: 'bytes=0-9', 'if-range': headers['last-modified']! });
      assert.equal(res.status, 206, path);
      assert.ok(res.body.equals(bytes.subarray(0, 10)));
      const earlier = await get(path, { range: 'bytes=0-9', 'if-range': shiftDate(headers['last-modified']!, -60_000) });
      assert.equal(earlier.status, 200, path);
      assert.ok(earlier.body.equals(bytes));
    }
  });

  test('a Range request with Accept-Encoding: br is answered from the identity bytes', async () => {
    const identity = await plain(JS);
    const res = await get(JS, { range: 'bytes=0-99', 'accept-encoding': 'br' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers.etag, identity.headers.etag);
    assert.equal(res.headers['content-range'], `bytes 0-99/${js.length}`);
    assert.ok(res.body.equals(js.subarray(0, 100)));
  });

  test('HEAD with Range gives 200 (Range is ignored for HEAD)', async () => {
    for (const [path, bytes] of ASSETS) {
      const res = await get(path, { range: 'bytes=0-9' }, 'HEAD');
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-range'], undefined);
      assert.equal(res.headers['content-length'], String(bytes.length));
      assert.equal(res.body.length, 0);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Encodings (RFC 9110 §12.5.3, §8.4)
  // ---------------------------------------------------------------------------------------------

  test('Accept-Encoding: br, gzip gives the brotli variant with its own ETag and Vary', async () => {
    const identity = await plain(JS);
    const res = await get(JS, { 'accept-encoding': 'br, gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'br');
    assert.ok(res.headers.etag!.endsWith('-br"'), res.headers.etag);
    assert.equal(res.headers.etag, identity.headers.etag!.replace(/"$/, '-br"'));
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.equal(res.headers['content-length'], String(res.body.length));
    assert.ok(res.body.length <= js.length * 0.95);
    assert.ok(brotliDecompressSync(res.body).equals(identity.body));
  });

  test('Accept-Encoding: gzip gives the gzip variant', async () => {
    const identity = await plain(JS);
    const res = await get(JS, { 'accept-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers.etag, identity.headers.etag!.replace(/"$/, '-gz"'));
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.equal(res.headers['content-length'], String(res.body.length));
    assert.ok(gunzipSync(res.body).equals(identity.body));
  });

  test('q-values choose the encoding', async () => {
    const identityTag = (await plain(JS)).headers.etag!;
    const cases: Array<[string | undefined, 'br' | 'gzip' | undefined]> = [
      ['br;q=0.5, gzip;q=0.8', 'gzip'],
      ['br;q=0, gzip', 'gzip'],
      ['gzip;q=0', undefined],
      ['*', 'br'],
      ['identity', undefined],
      [undefined, undefined],
    ];
    for (const [ae, expected] of cases) {
      const res = await get(JS, ae === undefined ? {} : { 'accept-encoding': ae });
      const label = ae ?? '(no Accept-Encoding)';
      assert.equal(res.status, 200, label);
      assert.equal(res.headers['content-encoding'], expected, label);
      const suffix = expected === 'br' ? '-br' : expected === 'gzip' ? '-gz' : '';
      assert.equal(res.headers.etag, identityTag.replace(/"$/, `${suffix}"`), label);
      const decoded = expected === 'br' ? brotliDecompressSync(res.body) : expected === 'gzip' ? gunzipSync(res.body) : res.body;
      assert.ok(decoded.equals(js), label);
    }
  });

  test('the incompressible and the tiny asset have no variants; the jpg has no Vary', async () => {
    const photo = await get(JPG, { 'accept-encoding': 'br, gzip' });
    assert.equal(photo.status, 200);
    assert.equal(photo.headers['content-encoding'], undefined);
    assert.equal(photo.headers.vary, undefined);
    assert.equal(photo.headers.etag, (await plain(JPG)).headers.etag);
    assert.ok(photo.body.equals(jpg));
    const small = await get(TINY, { 'accept-encoding': 'br, gzip' });
    assert.equal(small.status, 200);
    assert.equal(small.headers['content-encoding'], undefined);
    assert.match(small.headers.etag ?? '', /^"[A-Za-z0-9_-]{22}"$/);
    assert.ok(small.body.equals(tiny));
  });

  test('If-None-Match with the -br ETag: 304 when asking for br, 200 when asking for identity', async () => {
    const br = await get(JS, { 'accept-encoding': 'br' });
    const tag = br.headers.etag!;
    assert.ok(tag.endsWith('-br"'));
    const revalidated = await get(JS, { 'accept-encoding': 'br', 'if-none-match': tag });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.headers.etag, tag);
    assert.equal(revalidated.headers.vary, 'Accept-Encoding');
    const identity = await get(JS, { 'if-none-match': tag });
    assert.equal(identity.status, 200);
    assert.equal(identity.headers['content-encoding'], undefined);
    assert.ok(identity.body.equals(js));
  });

  test('every variant response is public, max-age=31536000, immutable', async () => {
    const responses: Array<[string, TestResponse]> = [
      ['js identity', await get(JS)],
      ['js br', await get(JS, { 'accept-encoding': 'br' })],
      ['js gzip', await get(JS, { 'accept-encoding': 'gzip' })],
      ['js range', await get(JS, { range: 'bytes=0-9', 'accept-encoding': 'br' })],
      ['jpg', await get(JPG, { 'accept-encoding': 'br, gzip' })],
      ['tiny', await get(TINY, { 'accept-encoding': 'br, gzip' })],
    ];
    for (const [label, res] of responses) {
      assert.ok(res.status === 200 || res.status === 206, label);
      assert.equal(res.headers['cache-control'], IMMUTABLE, label);
    }
    const encodings = responses.slice(0, 3).map(([, res]) => res.headers['content-encoding']);
    assert.deepEqual(encodings, [undefined, 'br', 'gzip']);
  });
  });
  }
