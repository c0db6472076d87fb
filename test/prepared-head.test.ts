/**
 * Cache hits are written with a head serialised once (src/http/prepared-head.ts). These tests
 * read the bytes on the wire: every header once, node:http's own framing and keep-alive
 * headers still there and still right, and invalid headers refused when prepared.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Edge } from '../src/edge.js';
import { EdgeResponse, prepareHead } from '../src/http/prepared-head.js';
import { startTestEdge } from './helpers/edge.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';

const CSS = '/site-0492830483.css';
const css = Buffer.from('body{margin:0;color:#14213d}\n'.repeat(3));

let origin: TempDir;
let edge: Edge;

before(async () => {
  origin = await diskOrigin({ [CSS]: css }, 'head');
  edge = await startTestEdge({ origin: origin.dir });
});

after(async () => {
  await edge?.close();
  await origin?.remove();
});

interface RawResponse {
  readonly statusLine: string;
  /** [lower-case name, value] in wire order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

/** Sends `requests` on one connection (the server closes it) and splits what comes back. */
async function exchange(port: number, requests: readonly string[], bodiless: ReadonlySet<number> = new Set()): Promise<RawResponse[]> {
  const socket = connect(port, '127.0.0.1');
  socket.write(requests.join(''));
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  let data = Buffer.concat(chunks);
  const responses: RawResponse[] = [];
  while (data.length > 0) {
    const end = data.indexOf('\r\n\r\n');
    assert.ok(end > 0, `an incomplete head: ${data.subarray(0, 200).toString('latin1')}`);
    const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
    const headers = lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
    });
    const length = bodiless.has(responses.length) ? 0 : Number(headers.find(([n]) => n === 'content-length')?.[1] ?? 0);
    responses.push({ statusLine, headers, body: data.subarray(end + 4, end + 4 + length) });
    data = data.subarray(end + 4 + length);
  }
  return responses;
}

function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n === name)?.[1];
}

test('a hit carries every header exactly once, with node:http framing and keep-alive intact', async () => {
  const get = (extra = '') => `GET ${CSS} HTTP/1.1\r\nHost: cdn.example.com\r\n${extra}\r\n`;
  const [miss] = await exchange(edge.port, [get('Connection: close\r\n')]);
  assert.equal(miss && header(miss, 'cache-status'), 'hashedge; fwd=miss; stored');
  // hit, HEAD hit, hit that closes: three responses on one connection
  const [hit, head, last] = await exchange(edge.port, [get(), `HEAD ${CSS} HTTP/1.1\r\nHost: x\r\n\r\n`, get('Connection: close\r\n')], new Set([1]));
  assert.ok(miss && hit && head && last);
  for (const res of [hit, head, last]) {
    assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(header(res, 'cache-status'), 'hashedge; hit');
    const names = res.headers.map(([n]) => n);
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], `duplicate headers: ${names.join(', ')}`);
    for (const name of ['content-type', 'cache-control', 'etag', 'last-modified', 'age', 'accept-ranges', 'x-content-type-options', 'access-control-allow-origin', 'date']) {
      assert.ok(header(res, name) !== undefined, `${name} missing: ${names.join(', ')}`);
    }
    assert.equal(header(res, 'content-length'), String(css.length));
    assert.equal(header(res, 'etag'), header(miss, 'etag'));
  }
  assert.deepEqual(hit.body, css);
  assert.equal(header(hit, 'connection'), 'keep-alive');
  assert.equal(header(hit, 'keep-alive'), 'timeout=65');
  assert.equal(header(last, 'connection'), 'close');
  assert.equal(header(last, 'keep-alive'), undefined);
  assert.deepEqual(last.body, css);
});

test('prepareHead refuses what writeHead would refuse, and leaves framing headers to node:http', () => {
  assert.throws(() => prepareHead({ 'x-note': 'a\r\nset-cookie: b' }), { code: 'ERR_INVALID_CHAR' });
  assert.throws(() => prepareHead({ 'bad name': 'x' }), { code: 'ERR_INVALID_HTTP_TOKEN' });
  const head = prepareHead({ 'content-type': 'text/css', 'Content-Length': '12', etag: '"x"', 'x-list': ['a', 'b'] });
  assert.equal(head.lines, 'content-type: text/css\r\netag: "x"\r\nx-list: a\r\nx-list: b\r\n');
  assert.deepEqual(head.managed, { 'Content-Length': '12' });
});

test('a header set before the prepared head (a draining server closing the connection) is kept', async () => {
  const head = prepareHead({ 'content-length': '2', 'cache-status': 'hashedge; hit' });
  const server = createServer<typeof IncomingMessage, typeof EdgeResponse>({ ServerResponse: EdgeResponse }, (_req, res) => {
    res.setHeader('connection', 'close');
    res.writePreparedHead(200, head);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    // Two requests sent; the server closes after the first, as it said it would.
    const responses = await exchange(port, [`GET / HTTP/1.1\r\nHost: x\r\n\r\n`, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.equal(responses.length, 1);
    assert.equal(header(responses[0]!, 'connection'), 'close');
    assert.equal(header(responses[0]!, 'cache-status'), 'hashedge; hit');
    assert.equal(responses[0]!.body.toString(), 'ok');
  } finally {
    server.close();
  }
});
