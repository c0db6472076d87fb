/**
 * TLS and HTTP/2 give browsers the same asset semantics as plain HTTP/1.1. The RFC 9110 cases of
 * http-semantics.test.ts run again over HTTP/2 (ALPN h2) and over HTTP/1.1 over TLS, each
 * against a node with a certificate from a throwaway CA; then one node with a plain --port and
 * a --tls-port answers the same requests over all three with the same status, headers, body,
 * access-log fields and counters (HSTS only over TLS), and refuses its admin paths over HTTP/2
 * with HTTP_1_1_REQUIRED while serving them over HTTP/1.1 on the same TLS port.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectH2, constants } from 'node:http2';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import type { Logger } from '../src/log.js';
import { errorCode, request, requestH2, requestHttps, type TestResponse } from './helpers/http.js';
import { defineSemanticsCases } from './helpers/semantics-cases.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';
import { edgeTls, type EdgeTls } from './helpers/tls.js';

let tls: EdgeTls;

before(() => {
  tls = edgeTls();
});

after(() => tls?.remove());

const tlsFlags = () => tls.flags;

defineSemanticsCases({ name: 'HTTP/2', flags: () => ({ ...tlsFlags(), 'h2-lane': 'off' }), request: (url, options) => requestH2(url, { ...options, ca: tls.ca.caPem }) });
defineSemanticsCases({ name: 'HTTP/2 lane', flags: () => ({ ...tlsFlags(), 'h2-lane': 'on' }), request: (url, options) => requestH2(url, { ...options, ca: tls.ca.caPem }) });
defineSemanticsCases({ name: 'HTTP/1.1 over TLS', flags: tlsFlags, request: (url, options) => requestHttps(url, { ...options, ca: tls.ca.caPem }) });

// -------------------------------------------------------------------------------------------
// One node, three ways in: the same answers
// -------------------------------------------------------------------------------------------

const JS = '/assets/app-0492830483.js';
const js = Buffer.from(Array.from({ length: 300 }, (_, i) => `export const v${i} = ${i * 7919};\n`).join(''));

let origin: TempDir;
let edge: Edge;
/** The same node with --h2-lane on: its HTTP/2 is the lane's. */
let laneEdge: Edge;
const accessLines: Array<Record<string, unknown>> = [];

before(async () => {
  origin = await diskOrigin({ [JS]: js }, 'tls');
  const accessLog: Logger = { debug() {}, info: (line: Record<string, unknown>) => void accessLines.push(line), warn() {}, error() {} };
  const config = resolveConfig({ port: '0', 'tls-port': '0', host: '127.0.0.1', origin: origin.dir, 'access-log': 'true', hsts: '8760h', 'h2-lane': 'off', ...tlsFlags() }, {});
  edge = await startEdge(config, { accessLog });
  laneEdge = await startEdge(resolveConfig({ port: '0', 'tls-port': '0', host: '127.0.0.1', origin: origin.dir, 'access-log': 'true', hsts: '8760h', 'h2-lane': 'on', ...tlsFlags() }, {}), { accessLog });
  assert.equal((await request(`${edge.url}${JS}`)).status, 200); // cached from here on
  assert.equal((await request(`${laneEdge.url}${JS}`)).status, 200);
});

after(async () => {
  await edge?.close();
  await laneEdge?.close();
  await origin?.remove();
});

type Way = 'plain' | 'h1-tls' | 'h2' | 'h2-lane';
const WAYS: readonly Way[] = ['plain', 'h1-tls', 'h2', 'h2-lane'];

/** The node a way asks: the lane's own for the lane. */
const nodeOf = (way: Way): Edge => (way === 'h2-lane' ? laneEdge : edge);

function ask(way: Way, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<TestResponse> {
  if (way === 'plain') return request(`${edge.url}${path}`, { headers, method });
  if (way === 'h2-lane') return requestH2(`${laneEdge.tlsUrl}${path}`, { headers, method, ca: tls.ca.caPem });
  const url = `${edge.tlsUrl}${path}`;
  return way === 'h2' ? requestH2(url, { headers, method, ca: tls.ca.caPem }) : requestHttps(url, { headers, method, ca: tls.ca.caPem });
}

/** What must be the same on every transport: headers but the connection's own, Date and Age's value; multipart boundaries blanked. */
function comparable(res: TestResponse): { status: number; headers: Record<string, unknown>; body: string } {
  const boundary = /boundary=(\w+)/.exec(String(res.headers['content-type'] ?? ''))?.[1];
  const blank = (text: string) => (boundary === undefined ? text : text.split(boundary).join('<boundary>'));
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (['date', 'connection', 'keep-alive', 'transfer-encoding', 'strict-transport-security'].includes(name)) continue;
    // Age counts seconds since the fill: a second may tick between two ways of asking.
    if (name === 'age') {
      assert.match(String(value), /^\d+$/);
      continue;
    }
    headers[name] = typeof value === 'string' ? blank(value) : value;
  }
  return { status: res.status, headers, body: blank(res.body.toString('latin1')) };
}

test('plain HTTP/1.1, HTTP/1.1 over TLS and HTTP/2 give the same status, headers and body; access log and counters agree; HSTS only over TLS', async () => {
  const etag = (await ask('plain', JS)).headers.etag!;
  const requests: Array<[string, Record<string, string>, string?]> = [
    [JS, {}], // hit
    [JS, { 'accept-encoding': 'br, gzip' }], // variant
    [JS, { 'if-none-match': etag }], // 304
    [JS, { 'if-match': '"other"' }], // 412 E_PRECONDITION_FAILED
    [JS, { range: 'bytes=0-9' }], // 206
    [JS, { range: 'bytes=0-3,10-12' }], // multipart 206
    [JS, { range: 'bytes=999999-' }], // 416
    [JS, {}, 'HEAD'],
    [JS, { origin: 'https://site.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' }, 'OPTIONS'], // CORS preflight
    [JS, {}, 'DELETE'], // 405
    ['/assets/readme.txt', {}], // 404 E_NOT_HASHED
    ['/assets/gone-0492830483.js', {}], // 404 E_NOT_FOUND (origin)
    ['/assets/%2e%2e/etc/passwd', {}], // refused path
  ];
  // Once first, so the origin's 404 is remembered (a negative-cache hit) for every way below.
  for (const [path, headers, method] of requests) {
    await ask('plain', path, headers, method);
    await request(`${laneEdge.url}${path}`, { headers, method });
  }
  const seen = new Map<Way, Array<ReturnType<typeof comparable>>>();
  const counted = new Map<Way, unknown>();
  const logged = new Map<Way, unknown[]>();
  for (const way of WAYS) {
    const before = nodeOf(way).traffic.toJSON();
    accessLines.length = 0;
    const answers: Array<ReturnType<typeof comparable>> = [];
    for (const [path, headers, method] of requests) {
      const res = await ask(way, path, headers, method);
      const hsts = res.headers['strict-transport-security'];
      if (way === 'plain') assert.equal(hsts, undefined, `${path}: no HSTS over plain HTTP`);
      else if (res.status !== 204) assert.equal(hsts, 'max-age=31536000', `${way} ${method ?? 'GET'} ${path}: HSTS`);
      answers.push(comparable(res));
    }
    const after = nodeOf(way).traffic.toJSON();
    counted.set(way, { requests: after.requests - before.requests, bytes: after.bytesSent - before.bytesSent, byStatus: Object.fromEntries(Object.entries(after.byStatus).map(([s, n]) => [s, n - (before.byStatus[s] ?? 0)])) });
    logged.set(way, accessLines.map(({ method, path, status, cache, bytes, proto }) => ({ method, path, status, cache, bytes, proto: way === 'plain' ? proto : proto === (way === 'h1-tls' ? 'http/1.1' : 'h2') })));
    seen.set(way, answers);
  }
  const plain = seen.get('plain')!;
  assert.deepEqual(plain.map((a) => a.status), [200, 200, 304, 412, 206, 206, 416, 200, 204, 405, 404, 404, 404]);
  assert.equal(plain[1]!.headers['content-encoding'], 'br');
  assert.equal(plain[0]!.headers['cache-status'], 'hashedge; hit');
  assert.equal(plain[0]!.headers['cross-origin-resource-policy'], 'cross-origin');
  assert.equal(plain[0]!.headers['access-control-allow-origin'], '*');
  for (const way of ['h1-tls', 'h2', 'h2-lane'] as const) {
    assert.deepEqual(seen.get(way), plain, `${way}: same answers as plain HTTP/1.1`);
    assert.deepEqual(counted.get(way), counted.get('plain'), `${way}: same counters`);
    assert.deepEqual(logged.get(way), logged.get('plain')!.map((line) => ({ ...(line as object), proto: true })), `${way}: same access-log lines, its protocol named`);
  }
  assert.equal((logged.get('plain') as unknown[]).length, requests.length);
  assert.equal(errorCode({ ...plain[3]!, headers: {}, body: Buffer.from(plain[3]!.body, 'latin1') }), 'E_PRECONDITION_FAILED');
});

for (const lane of [false, true]) test(`over HTTP/2${lane ? ' (the lane)' : ''} the admin paths are refused with HTTP_1_1_REQUIRED; over HTTP/1.1 on the TLS port they answer`, async () => {
  const edge = lane ? laneEdge : globalEdge();
  const session = connectH2(edge.tlsUrl!, { ca: tls.ca.caPem, servername: 'localhost' });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/_hashedge/health/live' });
      req.on('close', () => resolve(req.rstCode));
      req.on('error', () => {}); // the reset, read from rstCode
      req.on('response', () => reject(new Error('answered over HTTP/2')));
      req.end();
    });
    assert.equal(code, constants.NGHTTP2_HTTP_1_1_REQUIRED);
  } finally {
    session.close();
  }
  const live = await requestHttps(`${edge.tlsUrl}/_hashedge/health/live`, { ca: tls.ca.caPem });
  assert.equal(live.status, 200);
});

function globalEdge(): Edge {
  return edge;
}
