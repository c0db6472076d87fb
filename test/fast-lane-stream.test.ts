/**
 * The fast lane on a Node without the socket internals it reads through (read-buffer.ts): such a
 * Node (test/fixtures/future-node.ts gives this file's lane node the shape of one whose net.js
 * renamed the kBuffer/kBufferCb slots) makes the lane read each connection through a 'data'
 * listener, the path every Node release before and after the internals' shape changes gets. Node
 * 20 and 26 both have the internals, so without this that path would never run in CI.
 *
 * What it must do there is what it does on the other path: hits answered by the lane (not
 * node:http), a pipelined batch split at every offset, a held miss followed by hits, hand-overs
 * with the unread bytes put back, keep-alive across writes, `Connection: close`, backpressure;
 * answers held to a `--fast-lane off` node byte for byte where the lane holds a request, and
 * `traffic.fastLane.connections` saying which path read each connection. Last, `hashedge serve`
 * as a child process with the fixture preloaded (`--import`), the other shape (no useUserBuffer),
 * seen from outside: /_hashedge/stats and /metrics.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { Edge } from '../src/edge.js';
import { likeFutureNode, pretendNoProcessBinding } from './fixtures/future-node.js';
import { CLI } from './helpers/cli.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { assertPipelinedBackpressure } from './helpers/backpressure.js';
import { nextServerSocket, rawConnection, readBy } from './helpers/raw-connection.js';
import { diskOrigin } from './helpers/temp-dir.js';

const CSS = 'assets/style-0492830483.css';
const PNG = 'assets/logo-0492830483.png';
const BIG = 'assets/big-0492830483.js';
const LAST_MODIFIED = new Date('2026-01-02T03:04:05Z');
const CSS_BODY = Buffer.from('.a { color: red; }\n'.repeat(50));
/** Many times a socket's write buffer: one response fills it. */
const BIG_BODY = Buffer.alloc(256 * 1024, 'x');
const T = { timeout: 60_000 };

let origin: TestOrigin;
/** The lane on a Node without the internals. */
let lane: Edge;
/** node:http alone, the reference for bytes. */
let off: Edge;

before(async () => {
  origin = new TestOrigin();
  origin.put(CSS, CSS_BODY, { lastModified: LAST_MODIFIED });
  origin.put(PNG, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)), { lastModified: LAST_MODIFIED });
  origin.put(BIG, BIG_BODY, { lastModified: LAST_MODIFIED });
  for (const name of ['miss', 'close']) origin.put(`assets/${name}-0492830483.css`, `.${name} { color: blue; }\n`.repeat(80), { lastModified: LAST_MODIFIED });
  // A Node without the internals: the lane's reads through the stream (this server's sockets)
  // and its writes too (the whole process: `off` is node:http alone either way).
  pretendNoProcessBinding();
  lane = await startTestEdge({}, origin);
  likeFutureNode(lane.server, 'renamed');
  off = await startTestEdge({ 'fast-lane': 'off' }, origin);
  for (const edge of [lane, off]) {
    for (const key of [CSS, PNG, BIG]) assert.equal((await request(`${edge.url}/${key}`, { headers: { 'accept-encoding': 'gzip, br' } })).status, 200);
  }
  // The probe ran on the first connection (the fills above), found the shape wrong, and every connection read through the stream.
  assert.deepEqual(lane.traffic.toJSON().fastLane.connections, { buffer: 0, stream: 3 });
});

test('without the stream_wrap binding the lane writes every hit through the socket\'s stream, and counts it', T, async () => {
  const before = lane.traffic.toJSON().fastLane.writes;
  assert.equal(before.handle, 0);
  const client = await rawConnection(lane.port);
  client.socket.end(get(CSS) + get(CSS, '', 'HEAD') + get(BIG));
  const text = await client.closed();
  assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK']);
  assert.deepEqual(lane.traffic.toJSON().fastLane.writes, { handle: 0, stream: before.stream + 3 });
});

after(async () => {
  await Promise.all([lane?.close(), off?.close()]);
});

const get = (key: string, extra = '', method = 'GET') => `${method} /${key} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;

/** Date and Age tick. */
function normalise(text: string): string {
  return text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: *').replace(/\r\nage: \d+/g, '\r\nage: *');
}

/** How many whole responses (to GETs) `text` holds. */
function whole(text: string): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return n;
    const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(at, end));
    const status = Number(text.slice(at + 9, at + 12));
    const next = end + 4 + (status === 304 || length === null ? 0 : Number(length[1]));
    if (next > text.length) return n;
    n++;
    at = next;
  }
}

function statuses(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3} [^\r]*)\r\n/g)].map((m) => m[1]!);
}

/** What `edge` sends back until it closes, for `pieces` written one by one, each read by the server before the next. */
async function transcript(edge: Edge, pieces: readonly string[]): Promise<{ text: string; server: Socket & { parser?: unknown } }> {
  const accepted = nextServerSocket(edge);
  const client = await rawConnection(edge.port);
  const server = await accepted;
  let sent = 0;
  for (const [i, piece] of pieces.entries()) {
    if (i === pieces.length - 1) client.socket.end(piece);
    else client.socket.write(piece);
    sent += Buffer.byteLength(piece, 'latin1');
    // Each piece its own read (a later one would otherwise be read with it): the server has read it before the next is sent.
    if (i < pieces.length - 1) await readBy(server, sent);
  }
  return { text: await client.closed(), server };
}

/** The lane's counters since `before`. */
function laneSince(before: ReturnType<Edge['traffic']['toJSON']>) {
  const now = lane.traffic.toJSON();
  return {
    hits: now.fastLane.hits - before.fastLane.hits,
    held: now.fastLane.held - before.fastLane.held,
    handovers: now.fastLane.handovers - before.fastLane.handovers,
    buffer: now.fastLane.connections.buffer - before.fastLane.connections.buffer,
    stream: now.fastLane.connections.stream - before.fastLane.connections.stream,
  };
}

test("hits of GET and HEAD, and one with Connection: close, are answered by the lane reading through the socket's stream: node:http never has the connection, and the connection is counted as read through the stream", T, async () => {
  const before = lane.traffic.toJSON();
  const stream = get(CSS) + get(CSS, '', 'HEAD') + get(CSS, 'Accept-Encoding: gzip\r\nConnection: close\r\n');
  const { text, server } = await transcript(lane, [stream]);
  assert.equal(server.parser, undefined, 'node:http never attached its parser');
  assert.equal(server.listenerCount('data'), 1, "the lane read it through a 'data' listener");
  assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK']);
  assert.equal(normalise(text), normalise((await transcript(off, [stream])).text), "node:http's bytes");
  assert.deepEqual(laneSince(before), { hits: 3, held: 0, handovers: 0, buffer: 0, stream: 1 });
});

test('a pipelined batch split into two reads at every offset: the same bytes as node:http, every request the lane\'s, no hand-over', { timeout: 300_000 }, async () => {
  const stream =
    get(CSS, 'Accept-Encoding: gzip, br\r\nUser-Agent: split\r\n') +
    get(PNG, '', 'HEAD') +
    get(CSS, 'If-None-Match: *\r\n') +
    get(PNG, 'Range: bytes=0-9\r\n') +
    get(CSS, 'Connection: close\r\n');
  const expected = normalise((await transcript(off, [stream])).text);
  assert.deepEqual(statuses(expected), ['200 OK', '200 OK', '304 Not Modified', '206 Partial Content', '200 OK']);
  const before = lane.traffic.toJSON();
  for (let at = 1; at < stream.length; at++) {
    const { text, server } = await transcript(lane, [stream.slice(0, at), stream.slice(at)]);
    assert.equal(normalise(text), expected, `split at ${at}: ${JSON.stringify(stream.slice(Math.max(0, at - 20), at))}|${JSON.stringify(stream.slice(at, at + 20))}`);
    assert.equal(server.parser, undefined, `split at ${at}: not handed over`);
  }
  const n = stream.length - 1;
  assert.deepEqual(laneSince(before), { hits: 3 * n, held: 2 * n, handovers: 0, buffer: 0, stream: n });
});

test('a held miss on a kept-alive connection, then hits in later writes, then Connection: close: node:http\'s bytes, all on the lane', T, async () => {
  const miss = 'assets/miss-0492830483.css';
  const close = 'assets/close-0492830483.css';
  const before = lane.traffic.toJSON();
  // One request per write, each sent once the answer before it is in: keep-alive across writes.
  const converse = async (edge: Edge) => {
    const accepted = nextServerSocket(edge);
    const client = await rawConnection(edge.port);
    const server = await accepted;
    const answers = [get(miss), get(miss, 'Accept-Encoding: gzip\r\n'), get(CSS), get(close, 'Connection: close\r\n')];
    for (const [i, req] of answers.entries()) {
      client.socket.write(req);
      if (i === answers.length - 1) break;
      while (whole(client.received()) <= i) await once(client.socket, 'data');
    }
    return { text: await client.closed(), server };
  };
  const [withLane, plain] = [await converse(lane), await converse(off)];
  assert.deepEqual(statuses(withLane.text), ['200 OK', '200 OK', '200 OK', '200 OK']);
  assert.match(withLane.text, /cache-status: hashedge; fwd=miss; stored/);
  assert.equal(normalise(withLane.text), normalise(plain.text));
  assert.equal(withLane.server.parser, undefined);
  assert.deepEqual(laneSince(before), { hits: 2, held: 2, handovers: 0, buffer: 0, stream: 1 });
});

test('hand-overs with unread bytes: a read with a DELETE after the lane answered a hit and a Range, and a head in more than three reads, go to node:http with every byte after them, as without the lane', T, async () => {
  const before = lane.traffic.toJSON();
  // A hit and a held Range answered by the lane; then a read with a DELETE (not the lane's: a 405 from node:http) and a hit behind it; then a later write.
  const pipelined = [get(CSS) + get(CSS, 'Range: bytes=0-3\r\n'), `DELETE /${CSS} HTTP/1.1\r\nHost: edge\r\n\r\n` + get(PNG), get(CSS, 'Connection: close\r\n')];
  const a = await transcript(lane, pipelined);
  assert.notEqual(a.server.parser, undefined, 'handed over');
  assert.deepEqual(statuses(a.text), ['200 OK', '206 Partial Content', '405 Method Not Allowed', '200 OK', '200 OK']);
  assert.equal(normalise(a.text), normalise((await transcript(off, pipelined)).text));
  const pieces = [`GET /${CSS} HT`, 'TP/1.1\r\nHo', 'st: edge\r\n', `Accept: */*\r\n\r\n${get(CSS, 'If-None-Match: *\r\n')}${get(CSS, 'Connection: close\r\n')}`];
  const b = await transcript(lane, pieces);
  assert.notEqual(b.server.parser, undefined, 'handed over after the third read');
  assert.deepEqual(statuses(b.text), ['200 OK', '304 Not Modified', '200 OK']);
  assert.equal(normalise(b.text), normalise((await transcript(off, pieces)).text));
  assert.deepEqual(laneSince(before), { hits: 1, held: 1, handovers: 2, buffer: 0, stream: 2 });
});

test('a client that ends its side part-way through a head: node:http is given the bytes and the end, and answers 400 as without the lane', T, async () => {
  const pieces = [get(CSS), `GET /${CSS} HTTP/1.1\r\nHost: ed`];
  const withLane = await transcript(lane, pieces);
  assert.deepEqual(statuses(withLane.text), ['200 OK', '400 Bad Request']);
  assert.equal(normalise(withLane.text), normalise((await transcript(off, pieces)).text));
});

test('backpressure: a client that pipelines and does not read gets no more answers ahead than the kernel takes, the process holds at most one response and a bounded read, and all come, in order, once it reads', T, async () => {
  await assertPipelinedBackpressure(lane, get(BIG), BIG_BODY.length);
});

test('hashedge serve as a child process with the fixture preloaded (a Node without useUserBuffer): the lane answers a miss and hits through the stream, and /_hashedge/stats and /metrics say so', { timeout: 120_000 }, async () => {
  const dir = await diskOrigin({ [CSS]: CSS_BODY });
  const fixture = new URL('./fixtures/future-node.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', fixture, CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--origin', dir.dir], {
    env: { ...process.env, HASHEDGE_SHUTDOWN_DELAY: '0', FUTURE_NODE_SHAPE: 'no-user-buffer,no-process-binding' },
    stdio: 'pipe',
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (c) => {
        stdout += c;
        const m = /listening on (\S+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`serve exited before listening: ${stderr}`)));
    });
    const port = Number(new URL(url).port);
    const client = await rawConnection(port);
    // A miss the lane holds, then (once it is answered) two hits and one that closes, pipelined.
    client.socket.write(get(CSS));
    while (whole(client.received()) < 1) await once(client.socket, 'data');
    client.socket.end(get(CSS) + get(CSS, '', 'HEAD') + get(CSS, 'Connection: close\r\n'));
    const text = await client.closed();
    assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK', '200 OK']);
    assert.equal(text.split(CSS_BODY.toString('latin1')).length, 4, 'three bodies (and a HEAD)');
    const stats = JSON.parse((await request(`${url}/_hashedge/stats`)).body.toString()) as { traffic: ReturnType<Edge['traffic']['toJSON']> };
    assert.deepEqual(stats.traffic.fastLane, { hits: 3, held: 1, handovers: 1, connections: { buffer: 0, stream: 2 }, writes: { handle: 0, stream: 3 } }, 'the stats request itself is the hand-over');
    const metrics = (await request(`${url}/metrics`)).body.toString();
    assert.match(metrics, /\nhashedge_fast_lane_hits_total 3\n/);
    assert.match(metrics, /\nhashedge_fast_lane_connections_total\{reads="buffer"\} 0\n/);
    assert.match(metrics, /\nhashedge_fast_lane_connections_total\{reads="stream"\} 3\n/);
    assert.match(metrics, /\nhashedge_fast_lane_writes_total\{to="handle"\} 0\n/);
    assert.match(metrics, /\nhashedge_fast_lane_writes_total\{to="stream"\} 3\n/);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await dir.remove();
  }
  assert.equal(stderr, '', 'nothing on stderr (no warning, no error)');
});
