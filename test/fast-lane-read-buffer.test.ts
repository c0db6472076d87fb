/**
 * The probe of read-buffer.ts on real accepted sockets: the shape it relies on (net.Socket's
 * kBuffer and kBufferCb slots, empty, and a handle with useUserBuffer) gives a ReadBuffer whose
 * reads reach the callback; any other shape (test/fixtures/future-node.ts: the slots renamed,
 * useUserBuffer gone, the slots already in use; no handle at all) gives none, changes nothing,
 * and the socket reads through its stream. Then on real nodes: the lane falls back per connection,
 * and a node whose sockets all lack the shape answers through the stream (the whole lane on that
 * path: fast-lane-stream.test.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import type { Edge } from '../src/edge.js';
import { ReadBuffer } from '../src/http/fast-lane/read-buffer.js';
import { likeFutureNode, reshape, type FutureShape } from './fixtures/future-node.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { nextServerSocket, rawConnection } from './helpers/raw-connection.js';

const T = { timeout: 30_000 };
const CSS = 'assets/style-0492830483.css';
const CSS_BODY = Buffer.from('.a { color: red; }\n'.repeat(50));
const SHAPES: readonly FutureShape[] = ['renamed', 'no-user-buffer', 'slots-in-use'];

let server: Server;
let port: number;
/** The server side of the next connection, handed over in 'connection' (before any read). */
let accepted: Array<(socket: Socket) => void> = [];

before(async () => {
  server = createServer({ pauseOnConnect: false }, (socket) => accepted.shift()!(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => {
  server.close();
});

/** A connection to the test server; `onAccept` runs on its server side in 'connection', before any read. */
async function connection<T>(onAccept: (socket: Socket) => T): Promise<{ client: Socket; server: Socket; result: T }> {
  const got = new Promise<{ server: Socket; result: T }>((resolve) => accepted.push((s) => resolve({ server: s, result: onAccept(s) })));
  const client = new Socket().connect(port, '127.0.0.1');
  await once(client, 'connect');
  const { server: s, result } = await got;
  return { client, server: s, result };
}

/** The bytes `server` receives next, through its stream ('data'). */
const nextData = (server: Socket) => once(server, 'data').then(([chunk]) => (chunk as Buffer).toString('latin1'));

test('the shape Node 20 and 26 give an accepted socket: a ReadBuffer whose own onread gives reads to its callback in the shared buffer, not the stream, and the end to net', T, async () => {
  let ended: Promise<unknown> | undefined;
  const read = new Promise<string>((resolve) => void connection((s) => {
    const reads = ReadBuffer.open(s);
    assert.ok(reads !== undefined, 'this Node has the shape');
    assert.equal(reads.ownOnRead, true, 'the handle reads through the lane\'s onread (stream_wrap reachable)');
    assert.equal(reads.attach(s, (buffer, length) => {
      assert.ok(reads.shares(buffer), 'the shared buffer');
      resolve(buffer.toString('latin1', 0, length));
    }), true);
    s.on('data', () => assert.fail("no 'data' event"));
    ended = once(s, 'end'); // the FIN: net's onStreamRead's to handle
  }).then(({ client }) => client.end('hello')));
  assert.equal(await read, 'hello');
  await ended;
});

test('without process.binding (stream_wrap out of reach): the ReadBuffer reads through net\'s onStreamRead and the slot\'s callback', T, async () => {
  const binding = (process as { binding?: unknown }).binding;
  let ended: Promise<unknown> | undefined;
  const read = new Promise<string>((resolve) => void connection((s) => {
    (process as { binding?: unknown }).binding = undefined;
    let reads: ReadBuffer | undefined;
    try {
      reads = ReadBuffer.open(s);
    } finally {
      (process as { binding?: unknown }).binding = binding;
    }
    assert.ok(reads !== undefined);
    assert.equal(reads.ownOnRead, false);
    const netOnRead = (s as unknown as { _handle: { onread: unknown } })._handle.onread;
    assert.equal(reads.attach(s, (buffer, length) => resolve(buffer.toString('latin1', 0, length))), true);
    assert.equal((s as unknown as { _handle: { onread: unknown } })._handle.onread, netOnRead, "the handle's onread is net's");
    s.on('data', () => assert.fail("no 'data' event"));
    ended = once(s, 'end');
  }).then(({ client }) => client.end('by the slot')));
  assert.equal(await read, 'by the slot');
  await ended;
});

for (const shape of SHAPES) {
  test(`a socket with the slots ${shape === 'renamed' ? 'under other names' : shape === 'no-user-buffer' ? 'but a handle without useUserBuffer' : 'already in use'}: no ReadBuffer, attach() refuses and changes nothing, and the socket reads through its stream`, T, async () => {
    // A ReadBuffer from a socket of the right shape, as the lane has when its first connection had it.
    const good = await connection((s) => ReadBuffer.open(s));
    good.client.destroy();
    const reads = good.result!;
    assert.ok(reads !== undefined);
    const { client, server: s, result } = await connection((s) => {
      reshape(s, shape);
      return { opened: ReadBuffer.open(s), attached: reads.attach(s, () => assert.fail('not the callback')) };
    });
    assert.equal(result.opened, undefined, 'the probe says no');
    assert.equal(result.attached, false, 'attach() says no');
    const data = nextData(s);
    client.end('through the stream');
    assert.equal(await data, 'through the stream');
  });
}

test('a socket with no handle (never connected, or destroyed): no ReadBuffer, attach() refuses, nothing thrown', T, async () => {
  assert.equal(ReadBuffer.open(new Socket()), undefined);
  const { client, server: s, result: reads } = await connection((s) => ReadBuffer.open(s));
  assert.ok(reads !== undefined);
  s.destroy();
  assert.equal(reads.attach(s, () => assert.fail('not the callback')), false);
  assert.equal(ReadBuffer.open(s), undefined);
  client.destroy();
});

let origin: TestOrigin;
let edges: Edge[] = [];

async function nodeWithCss(shape?: FutureShape): Promise<Edge> {
  const edge = await startTestEdge({}, origin);
  edges.push(edge);
  if (shape !== undefined) likeFutureNode(edge.server, shape);
  assert.equal((await request(`${edge.url}/${CSS}`)).status, 200); // the fill: the node's first connection, the probe's
  return edge;
}

before(() => {
  origin = new TestOrigin();
  origin.put(CSS, CSS_BODY, { lastModified: new Date('2026-01-02T03:04:05Z') });
});

after(async () => {
  await Promise.all(edges.map((e) => e.close()));
  edges = [];
});

/** Two hits and one with close on one connection to `edge`: the text back and the server's socket. */
async function threeHits(edge: Edge): Promise<{ text: string; server: Socket & { parser?: unknown } }> {
  const get = (extra = '') => `GET /${CSS} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;
  const serverSide = nextServerSocket(edge);
  const client = await rawConnection(edge.port);
  client.socket.end(get() + get() + get('Connection: close\r\n'));
  return { text: await client.closed(), server: await serverSide };
}

test('a lane whose probe passed meets a connection of the wrong shape: that connection reads through its stream, the others through the buffer, all answered by the lane', T, async () => {
  const edge = await nodeWithCss();
  const before = edge.traffic.toJSON().fastLane;
  edge.server.prependOnceListener('connection', (s: Socket) => reshape(s, 'no-user-buffer'));
  const odd = await threeHits(edge);
  const usual = await threeHits(edge);
  for (const { text, server: s } of [odd, usual]) {
    assert.equal(text.split(CSS_BODY.toString('latin1')).length, 4, 'three bodies');
    assert.equal(s.parser, undefined, 'node:http never had it');
  }
  assert.equal(odd.server.listenerCount('data'), 1, "the odd one through a 'data' listener");
  assert.equal(usual.server.listenerCount('data'), 0, 'the usual one into the buffer');
  const now = edge.traffic.toJSON().fastLane;
  assert.equal(now.hits - before.hits, 6);
  assert.deepEqual({ buffer: now.connections.buffer - before.connections.buffer, stream: now.connections.stream - before.connections.stream }, { buffer: 1, stream: 1 });
});

test('a node on which useUserBuffer is missing from the first connection on: every connection reads through the stream, the lane answers, and /metrics says so', T, async () => {
  const edge = await nodeWithCss('no-user-buffer');
  const { text, server: s } = await threeHits(edge);
  assert.equal(text.split(CSS_BODY.toString('latin1')).length, 4, 'three bodies');
  assert.equal(s.parser, undefined);
  assert.equal(edge.traffic.toJSON().fastLane.hits, 3);
  const metrics = (await request(`${edge.url}/metrics`)).body.toString();
  assert.match(metrics, /\nhashedge_fast_lane_connections_total\{reads="buffer"\} 0\n/);
  // the fill's, the hits' and this scrape's (counted at the accept, then handed over: /metrics is node:http's)
  assert.match(metrics, /\nhashedge_fast_lane_connections_total\{reads="stream"\} 3\n/);
});
