/**
 * Known attacks, one named test each, against real edge nodes on real sockets: path traversal
 * in every encoding, over-long URLs and headers, range amplification (CVE-2011-3192), header
 * injection through origin metadata, request smuggling shapes, slowloris, cache poisoning, and
 * the peer and admin routes without their secret. Raw HTTP shapes are written byte for byte on
 * a `net` socket and the answer is read until the server closes the connection.
 *
 * Where node:http (llhttp, strict) refuses a shape itself, the test asserts what it does: a
 * bare `400 Bad Request` (431, 408) with `Connection: close`, the connection closed, and the
 * request never handed to hashedge (its key never reaches the origin).
 *
 * Covered elsewhere, not repeated: hostile paths over a disk origin and a 3 KB path -> 414
 * (edge-disk.test.ts), 17 and 200 ranges -> 200 and overlapping ranges coalesced
 * (http-semantics.test.ts), Host and query string not in the key (edge-disk.test.ts), the peer
 * route with a wrong secret and a forged hop header on the asset path (cluster.test.ts), purge
 * without or with a wrong token (purge.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import type { OriginGetOptions, OriginObject } from '../src/origin/origin.js';
import { startTestEdge } from './helpers/edge.js';
import { keyOwnedBy, startCluster } from './helpers/cluster.js';
import { errorCode, request, type TestResponse } from './helpers/http.js';
import { Gate, TestOrigin, isEdgeOwnKey } from './helpers/origins.js';

const TOKEN = 'admin-token-for-tests-0123456789';
const SECRET = 'a-long-enough-shared-peer-secret';
const LAST_MODIFIED = new Date('2024-05-01T10:00:00Z');
/** Every test fails instead of hanging when a connection the server must close stays open. */
const T = { timeout: 10_000 };

/** ~3 KB of JS-like text: compressible, so the node keeps br and gzip variants. */
const JS_BODY = Buffer.from(Array.from({ length: 60 }, (_, i) => `export const v${i} = ${JSON.stringify('value ' + i)};\n`).join(''));
/** Larger than --max-object-size below: streamed through, never cached. */
const LARGE = randomBytes(300_000);

let origin: TestOrigin;
let edge: Edge;
let serial = 0;

before(async () => {
  origin = new TestOrigin();
  origin.put('secret-0492830483.js', 'SECRET outside assets/');
  edge = await startTestEdge({ 'max-object-size': '256KB', 'admin-token': TOKEN }, origin);
});

after(async () => {
  await edge?.close();
});

/** Remembers the bodies it hands out, so a test can find one nobody read or destroyed. */
class RecordingOrigin extends TestOrigin {
  readonly bodies: Readable[] = [];

  override async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const object = await super.get(key, options);
    if (object !== null) this.bodies.push(object.body);
    return object;
  }
}

/** A key no test has used yet, put at the origin: its first request is a cold miss. */
function fresh(name: string, body: Buffer | string = JS_BODY, meta: { contentType?: string } = {}, ext = '.js'): string {
  const key = `assets/${name}${++serial}-0492830483${ext}`;
  origin.put(key, body, { lastModified: LAST_MODIFIED, ...meta });
  return key;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over a socket
// ---------------------------------------------------------------------------------------------

interface RawResponse {
  readonly status: number;
  /** The status line and header lines, as sent. */
  readonly head: string;
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: Buffer;
}

interface Exchange {
  readonly responses: readonly RawResponse[];
  /** The server ended the connection (the client never does, in `exchange`). */
  readonly closedByServer: boolean;
}

/**
 * Writes `bytes` (latin1: every char one byte) on a new connection and reads until the server
 * closes it, so each exchange must end in a close: a refused shape, or a last request that
 * says `Connection: close`. Whatever was answered is in `responses`, in order. With `endWhen`,
 * the client ends its side once what it received satisfies it (the server then closes).
 */
async function exchange(bytes: string, options: { localAddress?: string; port?: number; endWhen?: (received: Buffer) => boolean } = {}): Promise<Exchange> {
  const socket = connect({ port: options.port ?? edge.port, host: '127.0.0.1', ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  const chunks: Buffer[] = [];
  let closedByServer = false;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    if (options.endWhen?.(Buffer.concat(chunks))) socket.end();
  });
  socket.on('end', () => (closedByServer = true));
  // A reset after the answer (the server closing with bytes unread) is a close too.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') closedByServer = true;
  });
  socket.write(Buffer.from(bytes, 'latin1'));
  await once(socket, 'close');
  return { responses: parseResponses(Buffer.concat(chunks)), closedByServer };
}

/** The responses in a byte stream, bodies delimited by Content-Length, chunked, or the close. */
function parseResponses(raw: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', pos);
    assert.ok(headEnd !== -1, `an incomplete response head: ${JSON.stringify(raw.subarray(pos, pos + 200).toString('latin1'))}`);
    const head = raw.subarray(pos, headEnd).toString('latin1');
    const [statusLine = '', ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    assert.ok(m, `not a status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `not a header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    pos = headEnd + 4;
    let body: Buffer;
    const length = headers.get('content-length');
    if (length !== undefined) {
      body = raw.subarray(pos, pos + Number(length[0]));
      pos += body.length;
    } else if (headers.get('transfer-encoding')?.[0] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', pos);
        const size = parseInt(raw.subarray(pos, lineEnd).toString('latin1'), 16);
        pos = lineEnd + 2;
        if (size === 0) {
          pos += 2;
          break;
        }
        parts.push(raw.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else {
      body = raw.subarray(pos);
      pos = raw.length;
    }
    responses.push({ status, head, headers, body });
  }
  return responses;
}

function get(key: string, extra = ''): string {
  return `GET /${key} HTTP/1.1\r\nHost: edge.test\r\n${extra}\r\n`;
}

/** A well-formed request that closes the connection after its answer. */
function closing(key: string): string {
  return get(key, 'Connection: close\r\n');
}

/** Asserts node:http refused the shape itself: one bare 400, connection closed. */
function assertRefusedByNode(result: Exchange, label: string, status = 400): void {
  assert.equal(result.responses.length, 1, `${label}: ${result.responses.map((r) => r.status).join(', ')}`);
  const [res] = result.responses as [RawResponse];
  assert.equal(res.status, status, label);
  assert.deepEqual(res.headers.get('connection'), ['close'], label);
  assert.equal(res.headers.get('x-hashedge-error'), undefined, `${label}: hashedge never saw it`);
  assert.ok(result.closedByServer, `${label}: connection closed`);
}

/** Comparable headers: without the ones that change with time or with the connection. */
function stable(res: TestResponse): Record<string, unknown> {
  const { date: _date, age: _age, connection: _connection, 'keep-alive': _keepAlive, ...rest } = res.headers;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Path traversal
// ---------------------------------------------------------------------------------------------

/** [attack, raw request target, status, code (undefined: node:http refuses it itself)] */
const TRAVERSALS: ReadonlyArray<readonly [string, string, number, string | undefined]> = [
  ['raw ..', '/assets/../secret-0492830483.js', 400, 'E_TRAVERSAL'],
  ['%2e%2e', '/assets/%2e%2e/secret-0492830483.js', 400, 'E_TRAVERSAL'],
  ['%2E%2e mixed case', '/assets/%2E%2e/secret-0492830483.js', 400, 'E_TRAVERSAL'],
  ['.%2e half encoded', '/assets/.%2e/secret-0492830483.js', 400, 'E_TRAVERSAL'],
  ['%2e. half encoded', '/assets/%2e./secret-0492830483.js', 400, 'E_TRAVERSAL'],
  ['%2F encoded slash', '/assets%2F..%2Fsecret-0492830483.js', 400, 'E_BAD_PATH'],
  ['%2f lowercase encoded slash', '/assets/..%2fsecret-0492830483.js', 400, 'E_BAD_PATH'],
  ['%5C encoded backslash', '/assets/..%5Csecret-0492830483.js', 400, 'E_BAD_PATH'],
  ['raw backslash', '/assets/..\\secret-0492830483.js', 400, 'E_BAD_PATH'],
  ['overlong UTF-8 dot %c0%ae', '/assets/%c0%ae%c0%ae/secret-0492830483.js', 400, 'E_BAD_PATH'],
  ['overlong UTF-8 slash %c0%af', '/assets/..%c0%afsecret-0492830483.js', 400, 'E_BAD_PATH'],
  ['3-byte overlong dot %e0%80%ae', '/assets/%e0%80%ae%e0%80%ae/secret-0492830483.js', 400, 'E_BAD_PATH'],
  ['double encoding %252e', '/assets/%252e%252e/secret-0492830483.js', 400, 'E_BAD_PATH'],
  ['double-encoded slash %252f', '/assets/..%252fsecret-0492830483.js', 400, 'E_BAD_PATH'],
  ['IIS %u002e', '/assets/%u002e%u002e/secret-0492830483.js', 400, 'E_BAD_PATH'],
  ['Tomcat ..;', '/assets/..;/secret-0492830483.js', 404, 'E_DOTFILE'],
  ['NUL %00', '/secret-0492830483.js%00.png', 400, 'E_BAD_PATH'],
  ['CR LF %0d%0a', '/secret-0492830483.js%0d%0aX-Evil:%201', 400, 'E_BAD_PATH'],
  ['raw NUL byte', '/secret-0492830483.js\u0000.png', 400, undefined],
  ['raw overlong bytes C0 AE', '/assets/\u00c0\u00ae\u00c0\u00ae/secret-0492830483.js', 400, undefined],
];

test('path traversal in every encoding (%2e%2e, %2F, %5C, overlong UTF-8, double encoding, NUL) is refused before the origin is asked', T, async () => {
  const before = origin.requests.length;
  for (const [attack, target, status, code] of TRAVERSALS) {
    const result = await exchange(`GET ${target} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n`);
    if (code === undefined) {
      assertRefusedByNode(result, attack, status);
      continue;
    }
    assert.equal(result.responses.length, 1, attack);
    const [res] = result.responses as [RawResponse];
    assert.equal(res.status, status, attack);
    assert.equal(JSON.parse(res.body.toString()).error.code, code, attack);
    assert.doesNotMatch(res.body.toString(), /SECRET/, attack);
  }
  // Not one of them reached the origin, under any name.
  assert.deepEqual(origin.requests.slice(before).filter((k) => !isEdgeOwnKey(k)), []);
});

test('Unicode look-alikes (fullwidth dots) are not normalised into a traversal: the origin is asked for the literal name', T, async () => {
  const res = await request(edge.url, { path: '/assets/%EF%BC%8E%EF%BC%8E/secret-0492830483.js' });
  assert.equal(res.status, 404);
  assert.equal(errorCode(res), 'E_NOT_FOUND');
  assert.equal(origin.count('assets/\uff0e\uff0e/secret-0492830483.js'), 1);
  assert.equal(origin.count('secret-0492830483.js'), 0);
});

test('the peer route decodes its key once and re-checks it: traversal in every encoding is refused there too, even with the secret', T, async () => {
  const peerOrigin = new TestOrigin();
  peerOrigin.put('secret-0492830483.js', 'SECRET');
  const nodes = await startCluster(2, peerOrigin, { 'peer-secret': SECRET });
  try {
    const keys = [
      '%2e%2e%2fsecret-0492830483.js', // ../secret
      'assets%2f..%2f..%2fsecret-0492830483.js',
      '..%5csecret-0492830483.js',
      '%252e%252e%252fsecret-0492830483.js', // decoded once: %2e%2e%2f, refused, never decoded again
      '%c0%ae%c0%ae%2fsecret-0492830483.js',
      'secret-0492830483.js%00.png',
      'assets%2f%2fsecret-0492830483.js',
      '.%2fsecret-0492830483.js',
    ];
    for (const key of keys) {
      const res = await request(nodes[0]!.url, { path: `/_hashedge/peer/${key}`, headers: { authorization: `Bearer ${SECRET}`, 'x-hashedge-hop': '1' } });
      assert.equal(res.status, 400, key);
      assert.match(String(errorCode(res)), /^E_(BAD_PATH|TRAVERSAL)$/, key);
    }
    assert.deepEqual(peerOrigin.assetRequests, []);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

// ---------------------------------------------------------------------------------------------
// Very long URLs and headers
// ---------------------------------------------------------------------------------------------

test('very long URLs: 10 KB gets 414 E_URI_TOO_LONG from hashedge, 20 KB gets 431 from node:http and the connection closed', T, async () => {
  const key = fresh('long');
  const tenKb = await exchange(closing(`${'a/'.repeat(5000)}${key}`));
  assert.equal(tenKb.responses.length, 1);
  assert.equal(tenKb.responses[0]!.status, 414);
  assert.equal(tenKb.responses[0]!.headers.get('x-hashedge-error')?.[0], 'E_URI_TOO_LONG');
  // The request line counts against node's 16 KB header limit (maxHeaderSize).
  const twentyKb = await exchange(closing(`${'a/'.repeat(10_000)}${key}`));
  assertRefusedByNode(twentyKb, '20 KB URL', 431);
  assert.equal(origin.count(key), 0);
});

test('overlong headers: one 20 KB header, or 100 headers of 200 bytes, get 431 from node:http and the connection closed', T, async () => {
  const key = fresh('headers');
  const one = await exchange(get(key, `X-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n`));
  assertRefusedByNode(one, 'one 20 KB header', 431);
  const many = Array.from({ length: 100 }, (_, i) => `X-H${i}: ${'y'.repeat(200)}\r\n`).join('');
  const hundred = await exchange(get(key, `${many}Connection: close\r\n`));
  assertRefusedByNode(hundred, '100 headers of 200 bytes', 431);
  assert.equal(origin.count(key), 0);
  // The node still serves the asset to a normal client.
  assert.equal((await request(`${edge.url}/${key}`)).status, 200);
});

// ---------------------------------------------------------------------------------------------
// Range amplification
// ---------------------------------------------------------------------------------------------

test('CVE-2011-3192: 2000 overlapping ranges are refused, not multiplied (cached and streamed objects)', T, async () => {
  const body = randomBytes(64 * 1024);
  const cached = fresh('ranges', body, {}, '.bin');
  const streamed = fresh('ranges-large', LARGE, {}, '.bin');
  const attacks = [
    'bytes=' + Array.from({ length: 2000 }, () => '0-').join(','),
    'bytes=' + Array.from({ length: 1000 }, (_, i) => `0-${i}`).join(','),
    'bytes=0-0' + ','.repeat(2000), // thousands of empty ranges
  ];
  for (const [key, bytes] of [[cached, body], [streamed, LARGE]] as const) {
    for (const range of attacks) {
      const res = await request(`${edge.url}/${key}`, { headers: { range } });
      assert.equal(res.status, 200, `${key} ${range.slice(0, 20)}`);
      assert.equal(res.headers['content-length'], String(bytes.length));
      assert.ok(res.body.equals(bytes));
    }
  }
  // Within the 16-range cap, 16 overlapping whole-object ranges are coalesced: one copy, not 16.
  const sixteen = await request(`${edge.url}/${cached}`, { headers: { range: 'bytes=' + Array.from({ length: 16 }, () => '0-').join(',') } });
  assert.equal(sixteen.status, 206);
  assert.equal(sixteen.headers['content-range'], `bytes 0-${body.length - 1}/${body.length}`);
  assert.ok(sixteen.body.equals(body));
});

// ---------------------------------------------------------------------------------------------
// Header injection through origin metadata
// ---------------------------------------------------------------------------------------------

/** Content-Types an origin might hold, each trying to add a header or split the response. */
const INJECTED_TYPES = ['text/plain\r\nSet-Cookie: x=1', 'text/html\nX-Evil: 1', 'text/plain\r\n\r\n<script>alert(1)</script>', 'text/plain\u0000X-Evil: 1'];

test('header injection: an origin Content-Type with CR/LF cannot split the response or add a header (hit, miss, HEAD, multipart range, streamed)', T, async () => {
  // The in-process origin carries any string; an S3 object cannot: the SDK refuses CR/LF/NUL in
  // ContentType (ERR_INVALID_CHAR) and llhttp refuses them in the bucket's response headers.
  for (const contentType of INJECTED_TYPES) {
    const small = fresh('inject', 'abcdefghij', { contentType }, '.zzq');
    const large = fresh('inject-large', LARGE, { contentType }, '.zzq');
    const shapes = [
      closing(small), // miss
      closing(small), // hit
      `HEAD /${small} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n`,
      get(small, 'Range: bytes=0-0,4-5\r\nConnection: close\r\n'),
      closing(large),
    ];
    for (const shape of shapes) {
      const result = await exchange(shape);
      const label = `${JSON.stringify(contentType)} ${shape.split('\r\n')[0]}`;
      assert.equal(result.responses.length, 1, label);
      const res = result.responses[0]!;
      assert.ok(res.status === 200 || res.status === 206, `${label}: ${res.status}`);
      assert.doesNotMatch(res.head, /^(set-cookie|x-evil):/im, label);
      assert.equal(res.headers.get('set-cookie'), undefined, label);
      if (res.status === 206) {
        assert.match(res.headers.get('content-type')?.[0] ?? '', /^multipart\/byteranges; boundary=\w+$/, label);
        // The parts' own headers are built from the stored type: it must be the sane one.
        const parts = res.body.toString('latin1');
        assert.doesNotMatch(parts, /Set-Cookie|X-Evil|<script>/i, label);
        assert.equal(parts.match(/\r\nContent-Type: application\/octet-stream\r\n/g)?.length, 2, label);
      } else {
        assert.deepEqual(res.headers.get('content-type'), ['application/octet-stream'], label);
      }
    }
  }
});

test(
  'header injection: the peer route does not pass an origin Content-Type with CR/LF through for streamed objects',
  T,
  async () => {
    const peerOrigin = new RecordingOrigin();
    const nodes = await startCluster(2, peerOrigin, { 'peer-secret': SECRET, 'max-object-size': '256KB' });
    const key = 'assets/inject-0492830483.zzq';
    peerOrigin.put(key, LARGE, { contentType: INJECTED_TYPES[0] });
    let res: TestResponse;
    let leaked: Readable[];
    try {
      res = await request(`${nodes[0]!.url}/_hashedge/peer/${encodeURIComponent(key)}`, { headers: { authorization: `Bearer ${SECRET}` } });
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      // A body nobody reads nor destroys keeps its origin stream, and the idle guard's timer
      // (which waits on a consumer that is behind), for ever: the test process would not exit.
      leaked = peerOrigin.bodies.filter((b) => !b.destroyed && !b.readableEnded);
      for (const body of leaked) body.destroy();
    }
    assert.equal(res.headers['set-cookie'], undefined);
    if (res.status !== 200) assert.fail(`the owner answered ${res.status} ${errorCode(res)}`);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.ok(res.body.equals(LARGE));
    assert.equal(leaked.length, 0, 'origin bodies neither read to the end nor destroyed');
  },
);

// ---------------------------------------------------------------------------------------------
// Request smuggling and malformed framing: node:http (llhttp, strict) refuses these itself
// ---------------------------------------------------------------------------------------------

/** A request for a key that must never be asked of the origin: its answer would mean smuggling. */
function smuggled(): { key: string; bytes: string } {
  const key = fresh('smuggled');
  return { key, bytes: get(key) };
}

const SMUGGLING_SHAPES: ReadonlyArray<readonly [string, (key: string, inner: string) => string]> = [
  ['CL.TE: Content-Length then Transfer-Encoding: chunked', (k, inner) => get(k, `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n`) + `0\r\n\r\n${inner}`],
  ['TE.CL: Transfer-Encoding: chunked then Content-Length', (k, inner) => get(k, `Transfer-Encoding: chunked\r\nContent-Length: ${inner.length + 5}\r\n`) + `0\r\n\r\n${inner}`],
  ['two different Content-Length headers', (k, inner) => get(k, `Content-Length: 0\r\nContent-Length: ${inner.length}\r\n`) + inner],
  ['two equal Content-Length headers', (k, inner) => get(k, `Content-Length: ${inner.length}\r\nContent-Length: ${inner.length}\r\n`) + inner],
  ['a Content-Length list (0, N)', (k, inner) => get(k, `Content-Length: 0, ${inner.length}\r\n`) + inner],
  ['Transfer-Encoding: chunked, identity', (k, inner) => get(k, 'Transfer-Encoding: chunked, identity\r\n') + `0\r\n\r\n${inner}`],
  ['two Transfer-Encoding headers (chunked, identity)', (k, inner) => get(k, 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n') + `0\r\n\r\n${inner}`],
  ['whitespace before the colon (Transfer-Encoding : chunked)', (k, inner) => get(k, 'Transfer-Encoding : chunked\r\n') + `0\r\n\r\n${inner}`],
  ['a signed Content-Length (+5)', (k, inner) => get(k, 'Content-Length: +5\r\n') + `hello${inner}`],
  ['a negative Content-Length', (k, inner) => get(k, 'Content-Length: -1\r\n') + inner],
];

const MALFORMED_SHAPES: ReadonlyArray<readonly [string, (key: string, inner: string) => string]> = [
  ['bare LF line endings', (k, inner) => `GET /${k} HTTP/1.1\nHost: edge.test\nContent-Length: ${inner.length}\n\n${inner}`],
  ['a bare LF inside the headers', (k, inner) => `GET /${k} HTTP/1.1\r\nHost: edge.test\nContent-Length: ${inner.length}\r\n\r\n${inner}`],
  ['a bare CR inside the headers', (k, inner) => `GET /${k} HTTP/1.1\r\nHost: edge.test\rContent-Length: ${inner.length}\r\n\r\n${inner}`],
  ['obs-fold (a header continued on the next line)', (k, inner) => get(k, `X-Folded: a\r\n Content-Length: ${inner.length}\r\n`) + inner],
  ['a NUL byte in a header value', (k, inner) => get(k, 'X-Nul: a\u0000b\r\n') + inner],
  ['a lowercase method', (k, inner) => `get /${k} HTTP/1.1\r\nHost: edge.test\r\n\r\n${inner}`],
  ['an invalid HTTP version', (k, inner) => `GET /${k} HTTP/1.1x\r\nHost: edge.test\r\n\r\n${inner}`],
  ['a tab in the request target', (k, inner) => `GET /${k}\t HTTP/1.1\r\nHost: edge.test\r\n\r\n${inner}`],
];

for (const [kind, shapes] of [['request smuggling shape', SMUGGLING_SHAPES], ['malformed request', MALFORMED_SHAPES]] as const) {
  for (const [shape, build] of shapes) {
    test(`${kind}, ${shape}: 400 from node:http, connection closed, nothing after it answered`, T, async () => {
      const key = fresh('front');
      const inner = smuggled();
      const result = await exchange(build(key, inner.bytes));
      assertRefusedByNode(result, shape);
      assert.equal(origin.count(key), 0, 'the request itself never reached hashedge');
      assert.equal(origin.count(inner.key), 0, 'the smuggled request was never answered');
    });
  }
}

test('an HTTP/1.1 request without Host gets 400 from node:http (requireHostHeader) and the connection closed', T, async () => {
  // Not a framing error: a request pipelined behind it is still read (its answer is dropped, as
  // the connection closes), so this shape carries no second request.
  const key = fresh('no-host');
  const result = await exchange(`GET /${key} HTTP/1.1\r\n\r\n`);
  assertRefusedByNode(result, 'no Host');
  assert.equal(origin.count(key), 0);
});

test('request smuggling: a Transfer-Encoding other than chunked (identity, gzip, xchunked) answers the head at most, then the connection is closed; the bytes after it never run', T, async () => {
  // llhttp hands the head to the server, then refuses the first body byte (RFC 9112 §6.3 wants
  // 400 and close): a cache hit is already answered by then, so node only closes; a miss still
  // in flight gets the 400.
  const hit = fresh('te-hit');
  assert.equal((await request(`${edge.url}/${hit}`)).status, 200);
  for (const coding of ['identity', 'gzip', 'xchunked', 'chunked;x=1']) {
    const inner = smuggled();
    const result = await exchange(get(hit, `Transfer-Encoding: ${coding}\r\n`) + inner.bytes + closing(hit));
    assert.deepEqual(result.responses.map((r) => r.status), [200], coding);
    assert.ok(result.responses[0]!.body.equals(JS_BODY), coding);
    assert.ok(result.closedByServer, coding);
    assert.equal(origin.count(inner.key), 0, coding);
  }
  const miss = fresh('te-miss');
  origin.gate = new Gate();
  try {
    const inner = smuggled();
    const result = await exchange(get(miss, 'Transfer-Encoding: gzip\r\n') + inner.bytes);
    assertRefusedByNode(result, 'Transfer-Encoding: gzip on a miss');
    assert.equal(origin.count(inner.key), 0);
  } finally {
    origin.gate.open();
    origin.gate = undefined;
  }
});

test('request smuggling: a GET whose Content-Length body holds a second request: the body is discarded, never answered as a request', T, async () => {
  const front = fresh('fat-get');
  const next = fresh('fat-get-next', 'next');
  const inner = smuggled();
  const result = await exchange(get(front, `Content-Length: ${inner.bytes.length}\r\n`) + inner.bytes + closing(next));
  assert.deepEqual(result.responses.map((r) => r.status), [200, 200]);
  assert.ok(result.responses[0]!.body.equals(JS_BODY));
  assert.equal(result.responses[1]!.body.toString(), 'next');
  assert.ok(result.closedByServer);
  assert.equal(origin.count(inner.key), 0);
});

test('request smuggling: a chunked GET whose chunk holds a second request: the chunk is discarded, never answered as a request', T, async () => {
  const front = fresh('chunked-get');
  const next = fresh('chunked-get-next', 'next');
  const inner = smuggled();
  const body = `${inner.bytes.length.toString(16)}\r\n${inner.bytes}\r\n0\r\n\r\n`;
  const result = await exchange(get(front, 'Transfer-Encoding: chunked\r\n') + body + closing(next));
  assert.deepEqual(result.responses.map((r) => r.status), [200, 200]);
  assert.equal(result.responses[1]!.body.toString(), 'next');
  assert.equal(origin.count(inner.key), 0);
});

test('request smuggling: Upgrade: h2c / websocket is not honoured (no 101, no tunnel); the bytes after it are never answered as requests', T, async () => {
  // node:http without an 'upgrade' listener answers the request and then ignores every later
  // byte on the connection (llhttp stays paused on the upgrade) until the keep-alive timeout
  // closes it: the client ends its side once it has the answer instead of waiting 66 s.
  const key = fresh('upgrade');
  const upgrades = [
    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n',
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
  ];
  for (const upgrade of upgrades) {
    const inner = smuggled();
    const result = await exchange(get(key, upgrade) + inner.bytes + closing(key), { endWhen: (received) => received.subarray(-JS_BODY.length).equals(JS_BODY) });
    assert.deepEqual(result.responses.map((r) => r.status), [200]);
    assert.ok(result.responses[0]!.body.equals(JS_BODY));
    assert.equal(result.responses[0]!.headers.get('upgrade'), undefined);
    assert.equal(origin.count(inner.key), 0);
  }
});

test('absolute-form and authority-form targets: another host\'s URL is 400 E_BAD_PATH, CONNECT opens no tunnel', T, async () => {
  const key = fresh('absolute');
  const absolute = await exchange(`GET http://evil.example/${key} HTTP/1.1\r\nHost: evil.example\r\n\r\n` + closing(key));
  assert.deepEqual(absolute.responses.map((r) => r.status), [400, 200]);
  assert.equal(absolute.responses[0]!.headers.get('x-hashedge-error')?.[0], 'E_BAD_PATH');
  const schemeRelative = await exchange(closing(`/evil.example/${key}`));
  assert.equal(schemeRelative.responses[0]!.headers.get('x-hashedge-error')?.[0], 'E_BAD_PATH');
  // No 'connect' listener: node:http closes the socket without an answer.
  const tunnel = await exchange('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
  assert.deepEqual(tunnel.responses, []);
  assert.ok(tunnel.closedByServer);
  assert.equal(origin.count(key), 1); // only the closing request's
});

test('duplicate Host headers are accepted by node:http (the first wins) but choose nothing: hashedge never keys on or reflects Host', T, async () => {
  // RFC 9112 §3.2 says 400. node:http 20 does not enforce it; hashedge's key, headers and
  // bodies never depend on Host, so two Hosts that a front proxy and the edge read differently
  // have nothing to disagree about.
  const key = fresh('dup-host');
  const normal = await exchange(closing(key));
  const dup = await exchange(`GET /${key} HTTP/1.1\r\nHost: edge.test\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  assert.equal(dup.responses.length, 1);
  const res = dup.responses[0]!;
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(JS_BODY));
  assert.doesNotMatch(res.head, /evil\.example|edge\.test/);
  assert.equal(res.headers.get('etag')?.[0], normal.responses[0]!.headers.get('etag')?.[0]);
  assert.equal(origin.count(key), 1);
});

// ---------------------------------------------------------------------------------------------
// Slowloris: an edge with timeouts in milliseconds
// ---------------------------------------------------------------------------------------------

const TIMED = { headersTimeoutMs: 150, requestTimeoutMs: 300, checkIntervalMs: 10 };

async function startTimedEdge(): Promise<Edge> {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', 'admin-token': TOKEN }, {});
  return startEdge(config, { origin, serverTimeouts: TIMED });
}

/** A connection the test writes to by hand; resolves with what came back once the server closes it. */
function slowClient(port: number): { socket: Socket; closed: Promise<{ text: string; ms: number; byServer: boolean }> } {
  const started = performance.now();
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let byServer = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => (byServer = true));
  socket.on('error', () => (byServer = true));
  const closed = once(socket, 'close').then(() => ({ text: Buffer.concat(chunks).toString('latin1'), ms: performance.now() - started, byServer }));
  return { socket, closed };
}

test('slowloris: a client that stops mid-headers gets 408 at headersTimeout and is closed, while another client is served meanwhile', T, async () => {
  const timed = await startTimedEdge();
  try {
    const key = fresh('slow-headers');
    const slow = slowClient(timed.port);
    slow.socket.write(`GET /${key} HTTP/1.1\r\nHost: edge.test\r\nX-Slow: `);
    const normal = await request(`${timed.url}/${key}`);
    assert.equal(normal.status, 200);
    const { text, ms, byServer } = await slow.closed;
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\nConnection: close\r\n\r\n$/);
    assert.ok(byServer);
    assert.ok(ms >= TIMED.headersTimeoutMs - 10, `closed after ${ms} ms`);
    assert.equal(origin.count(key), 1); // the normal client's
  } finally {
    await timed.close();
  }
});

test('slowloris: headers dribbled one byte at a time are cut at headersTimeout, not kept alive by each byte', T, async () => {
  const timed = await startTimedEdge();
  try {
    const key = fresh('dribble');
    const head = get(key, `X-Padding: ${'p'.repeat(200)}\r\n`);
    const slow = slowClient(timed.port);
    let sent = 0;
    // The attack's own pace: one byte every 10 ms would take 2.6 s to finish the head.
    const dribble = setInterval(() => {
      if (sent < head.length && slow.socket.writable) slow.socket.write(head[sent++]!);
    }, 10);
    try {
      const { text, ms } = await slow.closed;
      assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(sent < head.length, `the head was cut after ${sent} of ${head.length} bytes`);
      assert.ok(ms >= TIMED.headersTimeoutMs - 10, `closed after ${ms} ms`);
    } finally {
      clearInterval(dribble);
    }
    assert.equal(origin.count(key), 0);
  } finally {
    await timed.close();
  }
});

test('slowloris: a connection that never sends a byte is closed at headersTimeout', T, async () => {
  const timed = await startTimedEdge();
  try {
    const silent = slowClient(timed.port);
    const { text, ms, byServer } = await silent.closed;
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(byServer);
    assert.ok(ms >= TIMED.headersTimeoutMs - 10, `closed after ${ms} ms`);
  } finally {
    await timed.close();
  }
});

test('slow body: a purge whose body never completes gets 408 at requestTimeout and purges nothing', T, async () => {
  const timed = await startTimedEdge();
  try {
    const key = fresh('slow-body');
    assert.equal((await request(`${timed.url}/${key}`)).status, 200);
    const slow = slowClient(timed.port);
    const body = JSON.stringify({ keys: [key] });
    slow.socket.write(`POST /_hashedge/purge HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    const { text, ms, byServer } = await slow.closed;
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(byServer);
    assert.ok(ms >= TIMED.requestTimeoutMs - 10, `closed after ${ms} ms`);
    assert.equal((await request(`${timed.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
  } finally {
    await timed.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Cache poisoning: what the filling request carries must not change what the next client gets
// ---------------------------------------------------------------------------------------------

interface Poisoning {
  readonly name: string;
  /** Sends the poisoned requests for `key` (the other asset's key is `other`). */
  readonly send: (key: string, other: string) => Promise<void>;
}

async function poisonWith(key: string, headerSets: ReadonlyArray<Record<string, string>>, paths: readonly string[] = [`/${key}`]): Promise<void> {
  for (const path of paths) {
    for (const headers of headerSets) {
      const res = await request(edge.url, { path, headers });
      assert.doesNotMatch(JSON.stringify(res.headers), /evil/i, `${path} ${JSON.stringify(headers)}: reflected`);
    }
  }
}

const POISONINGS: readonly Poisoning[] = [
  {
    name: 'X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix, X-Host',
    send: (key) => poisonWith(key, [{ 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http', 'x-forwarded-scheme': 'nothttps', 'x-forwarded-prefix': '/evil', 'x-host': 'evil.example', forwarded: 'host=evil.example;proto=http' }]),
  },
  {
    name: 'X-Original-URL and X-Rewrite-URL naming another asset',
    send: (key, other) => poisonWith(key, [{ 'x-original-url': `/${other}` }, { 'x-rewrite-url': `/${other}` }, { 'x-original-url': `/${other}`, 'x-rewrite-url': `/${other}` }]),
  },
  {
    name: 'Host variations (another host, a port, absolute-form, two Hosts)',
    send: async (key) => {
      await poisonWith(key, [{ host: 'evil.example' }, { host: 'evil.example:8443' }, { host: 'EDGE.test.' }]);
      await exchange(`GET http://evil.example/${key} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
      await exchange(`GET /${key} HTTP/1.1\r\nHost: evil.example\r\nHost: edge.test\r\nConnection: close\r\n\r\n`);
    },
  },
  {
    name: 'query strings (?v=evil, an encoded CR/LF, a long one)',
    send: (key) => poisonWith(key, [{}], [`/${key}?v=evil`, `/${key}?x=%0d%0aSet-Cookie:%20evil=1`, `/${key}?${'q'.repeat(1500)}=evil`, `/${key}?`, `/${key}#evil`]),
  },
  {
    name: 'X-HTTP-Method-Override: PURGE/DELETE and the PURGE method',
    send: async (key) => {
      await poisonWith(key, [{ 'x-http-method-override': 'PURGE' }, { 'x-http-method-override': 'DELETE', 'x-method-override': 'DELETE', 'x-http-method': 'DELETE' }]);
      for (const method of ['PURGE', 'DELETE']) {
        const res = await request(`${edge.url}/${key}`, { method });
        assert.equal(res.status, 405, method);
      }
    },
  },
  {
    name: 'an Accept-Encoding the edge does not know, or a compressed one',
    send: (key) => poisonWith(key, [{ 'accept-encoding': 'evil' }, { 'accept-encoding': 'x-evil;q=1, identity;q=0' }, { 'accept-encoding': 'br;q=abc, gzip;q=2' }, { 'accept-encoding': 'gzip' }, { 'accept-encoding': '*' }]),
  },
  {
    name: 'HEAD, a Range or a conditional',
    send: async (key) => {
      const head = await request(`${edge.url}/${key}`, { method: 'HEAD' });
      assert.equal(head.body.length, 0);
      await poisonWith(key, [{ range: 'bytes=0-9' }, { range: 'bytes=999999-' }, { 'if-none-match': '*' }, { 'if-match': '"evil"' }, { 'if-modified-since': new Date().toUTCString() }]);
    },
  },
];

for (const poisoning of POISONINGS) {
  test(`cache poisoning: ${poisoning.name} on the filling request change nothing the next normal client gets`, T, async () => {
    const cold = fresh('poison-cold');
    const twin = fresh('poison-twin'); // same bytes, filled by a normal request
    const warm = fresh('poison-warm');
    const other = fresh('poison-other', 'the other asset');
    const normals: ReadonlyArray<Record<string, string>> = [{}, { 'accept-encoding': 'gzip, deflate, br' }];
    const get = (key: string, headers: Record<string, string>) => request(`${edge.url}/${key}`, { headers });
    for (const headers of normals) await get(twin, headers);
    await get(warm, {});
    const warmBefore = await Promise.all(normals.map((h) => get(warm, h)));

    await poisoning.send(cold, other); // fills the cold key
    await poisoning.send(warm, other);

    for (const [i, headers] of normals.entries()) {
      const [coldAfter, twinAfter, warmAfter] = await Promise.all([get(cold, headers), get(twin, headers), get(warm, headers)]);
      for (const res of [coldAfter, twinAfter, warmAfter]) assert.equal(res.headers['cache-status'], 'hashedge; hit');
      assert.deepEqual(stable(coldAfter), stable(twinAfter), JSON.stringify(headers));
      assert.ok(coldAfter.body.equals(twinAfter.body));
      assert.deepEqual(stable(warmAfter), stable(warmBefore[i]!), JSON.stringify(headers));
      assert.ok(warmAfter.body.equals(warmBefore[i]!.body));
    }
    assert.equal((await get(cold, {})).body.toString(), JS_BODY.toString());
    assert.equal(origin.count(cold), 1);
    assert.equal(origin.count(other), 0);
  });
}

test('cache poisoning: a page Origin on the filling request is never served to other origins (--cors-origin list)', T, async () => {
  const listed = await startTestEdge({ 'cors-origin': 'https://app.example' }, origin);
  try {
    const key = fresh('cors');
    const allowed = await request(`${listed.url}/${key}`, { headers: { origin: 'https://app.example' } });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
    for (const page of [undefined, 'https://evil.example', 'null']) {
      const res = await request(`${listed.url}/${key}`, { headers: page === undefined ? {} : { origin: page } });
      assert.equal(res.headers['cache-status'], 'hashedge; hit');
      assert.equal(res.headers['access-control-allow-origin'], undefined, String(page));
      assert.match(String(res.headers.vary), /Origin/);
    }
  } finally {
    await listed.close();
  }
});

// ---------------------------------------------------------------------------------------------
// The peer and admin routes without their secret
// ---------------------------------------------------------------------------------------------

test('the peer route refuses a client from an address outside the cluster (no --peer-secret), forged hop header or not', T, async () => {
  const peerOrigin = new TestOrigin();
  const key = 'assets/peer-only-0492830483.js';
  peerOrigin.put(key, 'peer only');
  // The members are 127.0.0.1; a client connecting from 127.0.0.2 (Linux loopback) is not one.
  const nodes = await startCluster(2, peerOrigin);
  try {
    const path = `/_hashedge/peer/${encodeURIComponent(key)}`;
    for (const extra of ['', 'X-Hashedge-Hop: 1\r\n', 'X-Hashedge-Hop: 1\r\nX-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\n']) {
      for (const method of ['GET', 'HEAD', 'POST']) {
        const result = await exchange(`${method} ${path} HTTP/1.1\r\nHost: edge.test\r\n${extra}Connection: close\r\n\r\n`, { port: nodes[0]!.port, localAddress: '127.0.0.2' });
        assert.equal(result.responses[0]?.status, 401, `${method} ${extra}`);
        assert.equal(result.responses[0]!.headers.get('x-hashedge-error')?.[0], 'E_UNAUTHORIZED');
      }
    }
    assert.equal(peerOrigin.count(key), 0);
    // From a member's address the same request is served (the refusal above is the address).
    const fromPeer = await exchange(`GET ${path} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n`, { port: nodes[0]!.port });
    assert.equal(fromPeer.responses[0]?.status, 200);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('the peer route refuses a forged hop header without the secret (--peer-secret), whatever the method or Authorization form', T, async () => {
  const peerOrigin = new TestOrigin();
  const key = 'assets/peer-secret-0492830483.js';
  peerOrigin.put(key, 'peer only');
  const nodes = await startCluster(2, peerOrigin, { 'peer-secret': SECRET });
  try {
    const path = `/_hashedge/peer/${encodeURIComponent(key)}`;
    const forms: ReadonlyArray<Record<string, string>> = [{}, { authorization: `bearer ${SECRET}` }, { authorization: SECRET }, { authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}` }];
    for (const auth of forms) {
      for (const method of ['GET', 'HEAD']) {
        const res = await request(nodes[0]!.url, { path, method, headers: { 'x-hashedge-hop': '1', ...auth } });
        assert.equal(res.status, 401, `${method} ${JSON.stringify(auth)}`);
      }
    }
    assert.equal(peerOrigin.count(key), 0);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('purge without the admin token, or under another spelling of its path, is refused and purges nothing, forged hop header or not', T, async () => {
  const key = fresh('purge-guard');
  assert.equal((await request(`${edge.url}/${key}`)).status, 200);
  const items = edge.group.cacheItems;
  const body = JSON.stringify({ prefix: '/' });
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['/_hashedge/purge', 401],
    ['/_hashedge/PURGE', 401],
    ['/_hashedge/purge/', 401],
    ['/_hashedge/purge?token=' + TOKEN, 401],
    ['/_hashedge//purge', 404],
    ['/_hashedge/%70urge', 404],
    ['/_hashedge/x/../purge', 404],
  ];
  for (const [path, status] of cases) {
    for (const extra of ['', 'X-Hashedge-Hop: 1\r\n', `Authorization: Bearer not-${TOKEN}\r\nX-Hashedge-Hop: 1\r\n`, `Cookie: token=${TOKEN}\r\n`]) {
      const result = await exchange(`POST ${path} HTTP/1.1\r\nHost: edge.test\r\n${extra}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      assert.equal(result.responses[0]?.status, status, `${path} ${extra}`);
    }
  }
  assert.equal(edge.group.cacheItems, items);
  assert.equal((await request(`${edge.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
});

test('purge with the token and a forged hop header only narrows the purge to that node (the token is the check; the hop header grants nothing)', T, async () => {
  // Acceptable: whoever holds the admin token may purge every node anyway; the hop header can
  // only make a purge smaller (this node only), never skip the token check (previous test).
  const clusterOrigin = new TestOrigin();
  const nodes = await startCluster(2, clusterOrigin, { 'admin-token': TOKEN });
  try {
    const [a, b] = nodes as [Edge, Edge];
    const key = keyOwnedBy(nodes, b, 'assets/narrow');
    clusterOrigin.put(key, 'narrow');
    assert.equal((await request(`${b.url}/${key}`)).status, 200); // cached on its owner, b
    const res = await fetch(`${a.url}/_hashedge/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-hashedge-hop': '1' },
      body: JSON.stringify({ keys: [key] }),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { nodes: Array<{ node: string }> };
    assert.deepEqual(answer.nodes.map((n) => n.node), [a.url]);
    assert.equal((await request(`${b.url}/${key}`)).headers['cache-status'], 'hashedge; hit');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
