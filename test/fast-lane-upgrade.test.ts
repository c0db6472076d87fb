/**
 * Upgrade and CONNECT on a kept-alive connection the fast lane served first. The lane hands such
 * a request to node:http (head-parser.ts: Upgrade, and any method but GET/HEAD); node:http's
 * parser then consumes the socket's handle, and for an upgrade it stops consuming
 * (_http_server.js onParserExecuteCommon: unconsume) and either gives the socket to an 'upgrade' /
 * 'connect' listener with the bytes read after the head, or, with none (hashedge's own servers:
 * an Upgrade is then a plain request and a CONNECT is destroyed), closes it. After node:http
 * unconsumes, a socket that read into the lane's buffer delivers its reads to the lane's callback
 * again: read-buffer.ts release() makes that push copies into the stream.
 *
 * Each conversation is held byte for byte to a `--fast-lane off` node (Date and Age masked),
 * with bytes after the upgrade's head in the same write and in later writes, on both of the
 * lane's read paths: its own buffer (this Node) and the stream (a node whose sockets have the
 * shape of a Node without the internals: test/fixtures/future-node.ts). Both ends of every
 * connection must close, and nothing may be thrown (node:test fails the file on an uncaught error).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Edge } from '../src/edge.js';
import { likeFutureNode } from './fixtures/future-node.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { nextServerSocket, rawConnection } from './helpers/raw-connection.js';

const T = { timeout: 60_000 };
const CSS = 'assets/style-0492830483.css';
const PNG = 'assets/logo-0492830483.png';
const LAST_MODIFIED = new Date('2026-01-02T03:04:05Z');

type Kind = 'buffer' | 'stream' | 'off';
const KINDS: readonly Kind[] = ['buffer', 'stream', 'off'];

let origin: TestOrigin;
/** hashedge as it runs: no 'upgrade' or 'connect' listener. */
const plain = new Map<Kind, Edge>();
/** A library user's servers: 'upgrade' and 'connect' listeners that answer and echo what follows. */
const echoing = new Map<Kind, Edge>();

async function start(kind: Kind): Promise<Edge> {
  const edge = await startTestEdge(kind === 'off' ? { 'fast-lane': 'off' } : {}, origin);
  if (kind === 'stream') likeFutureNode(edge.server, 'renamed');
  for (const key of [CSS, PNG]) assert.equal((await request(`${edge.url}/${key}`)).status, 200);
  return edge;
}

/**
 * An 'upgrade' listener that switches protocols (101) and echoes each chunk it is given as it
 * comes, and a 'connect' listener that opens the tunnel (200), echoes the bytes that came with
 * the head at once and keeps every later chunk until the client's FIN, then sends them all (a
 * consumer that holds what it reads: a chunk that were a view of a buffer reused by the next read
 * would come back overwritten). Both say bye at the FIN and end.
 */
function echoUpgrades(server: Server): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end('[bye]'));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.write(head);
    const kept: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => kept.push(chunk));
    socket.on('end', () => socket.end(Buffer.concat([...kept, Buffer.from('[bye]')])));
  });
}

before(async () => {
  origin = new TestOrigin();
  origin.put(CSS, '.a { color: red; }\n'.repeat(50), { lastModified: LAST_MODIFIED });
  origin.put(PNG, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)), { lastModified: LAST_MODIFIED });
  for (const kind of KINDS) {
    plain.set(kind, await start(kind));
    const edge = await start(kind);
    echoUpgrades(edge.server);
    echoing.set(kind, edge);
  }
});

after(async () => {
  await Promise.all([...plain.values(), ...echoing.values()].map((e) => e.close()));
});

const get = (key: string, extra = '') => `GET /${key} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;
const WEBSOCKET = get(CSS, 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n');
const H2C = get(CSS, 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n');
const CONNECT = 'CONNECT edge:443 HTTP/1.1\r\nHost: edge:443\r\n\r\n';
/** A masked WebSocket text frame ("Hello"), RFC 6455 §5.7. */
const WS_FRAME = '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58';
const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/** One write of a conversation, and what must have come back before the next is written. */
interface Step {
  readonly write: string;
  /** The last write: the client ends its side with it. */
  readonly end?: boolean;
  /** Until this holds of everything received so far, the next step waits (and the conversation ends when the server closes). */
  readonly until?: (received: string) => boolean;
}

/** How many whole responses `text` holds (GETs only; a 101 or a CONNECT's 200 has no body). */
function whole(text: string): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0 || !text.startsWith('HTTP/1.1 ', at)) return n;
    const status = Number(text.slice(at + 9, at + 12));
    const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(at, end));
    const next = end + 4 + (status === 304 || status === 101 || length === null ? 0 : Number(length[1]));
    if (next > text.length) return n;
    n++;
    at = next;
  }
}
const responses = (n: number) => (received: string) => whole(received) >= n;
const endsWith = (tail: string) => (received: string) => received.endsWith(tail);

/** The conversation on a fresh connection to `edge`: every byte back until both ends closed, and the server side. */
async function converse(edge: Edge, steps: readonly Step[]): Promise<{ text: string; server: Socket & { parser?: unknown } }> {
  const accepted = nextServerSocket(edge);
  const client = await rawConnection(edge.port);
  client.socket.on('error', () => {}); // a write after the server closed (EPIPE, ECONNRESET): what came back is compared
  const server = await accepted;
  const serverClosed = server.closed ? Promise.resolve() : once(server, 'close');
  let sent = 0;
  for (const step of steps) {
    if (client.socket.destroyed) break;
    if (step.end) client.socket.end(step.write, 'latin1');
    else client.socket.write(step.write, 'latin1');
    sent += Buffer.byteLength(step.write, 'latin1');
    if (step.until === undefined) {
      // Read by the server (or refused: it closed) before the next write, so each write is a read of its own.
      while (server.bytesRead < sent && !server.destroyed) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    while (!step.until(client.received()) && !client.socket.closed) await Promise.race([once(client.socket, 'data'), once(client.socket, 'close')]);
  }
  const text = await client.closed();
  await serverClosed;
  return { text, server };
}

function normalise(text: string): string {
  return text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: *').replace(/\r\nage: \d+/g, '\r\nage: *');
}

function statuses(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3} [^\r]*)\r\n/g)].map((m) => m[1]!);
}

/**
 * The conversation on each kind of node of `nodes`: the lane's two read paths send node:http's
 * bytes; the lane answered the first request (a hit) and handed the connection over.
 * Returns node:http's transcript.
 */
async function differential(nodes: ReadonlyMap<Kind, Edge>, steps: readonly Step[]): Promise<string> {
  const results = new Map<Kind, { text: string; server: Socket & { parser?: unknown } }>();
  for (const kind of KINDS) {
    const edge = nodes.get(kind)!;
    const before = edge.traffic.toJSON().fastLane;
    results.set(kind, await converse(edge, steps));
    const now = edge.traffic.toJSON().fastLane;
    if (kind === 'off') continue;
    assert.equal(now.hits - before.hits, 1, `${kind}: the first request was the lane's hit`);
    assert.equal(now.handovers - before.handovers, 1, `${kind}: then the connection went to node:http`);
    assert.equal(now.connections[kind] - before.connections[kind], 1, `${kind}: read ${kind === 'buffer' ? "into the lane's buffer" : 'through the stream'}`);
  }
  const expected = normalise(results.get('off')!.text);
  for (const kind of ['buffer', 'stream'] as const) assert.equal(normalise(results.get(kind)!.text), expected, `${kind}: node:http's bytes`);
  return results.get('off')!.text;
}

/** A hit the lane answers, whole, before anything else is written. */
const HIT: Step = { write: get(PNG), until: responses(1) };

// Without a listener node:http answers an Upgrade as a plain request, but llhttp stops parsing at
// an upgrade, and node:http drops the rest of that read (onParserExecuteCommon: d.slice(ret) is
// only used for a listener): what follows it in the same write is never answered, a later write is.
test("without 'upgrade' listeners (hashedge's servers): an Upgrade: websocket after a lane hit is a plain request to node:http; a request behind it in the same write is dropped and one in a later write answered, as without the lane", T, async () => {
  const text = await differential(plain, [HIT, { write: WEBSOCKET + get(PNG), until: responses(2) }, { write: get(CSS, 'Connection: close\r\n'), end: true }]);
  assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK']);
});

test("without 'upgrade' listeners: an Upgrade: websocket with a WebSocket frame behind it in the same write, then bytes that are no request: the frame dropped, the connection closed without a 400 (responses were sent on it), as without the lane", T, async () => {
  const text = await differential(plain, [HIT, { write: WEBSOCKET + WS_FRAME }, { write: 'later', end: true }]);
  assert.deepEqual(statuses(text), ['200 OK', '200 OK']);
});

test("without 'upgrade' listeners: an Upgrade: h2c with the HTTP/2 preface behind it, and one with a request behind it then a later write: as without the lane", T, async () => {
  const preface = await differential(plain, [HIT, { write: H2C + H2_PREFACE }, { write: 'later', end: true }]);
  assert.deepEqual(statuses(preface), ['200 OK', '200 OK']);
  const requests = await differential(plain, [HIT, { write: H2C + get(CSS), until: responses(2) }, { write: get(PNG, 'Connection: close\r\n'), end: true }]);
  assert.deepEqual(statuses(requests), ['200 OK', '200 OK', '200 OK']);
});

test("without a 'connect' listener: a CONNECT after a lane hit, with bytes after it in the same write, closes the connection as without the lane", T, async () => {
  const text = await differential(plain, [HIT, { write: CONNECT + 'tunnelled bytes' }, { write: 'later', end: true }]);
  assert.deepEqual(statuses(text), ['200 OK']);
});

test("with a library user's 'upgrade' listener: Upgrade: websocket after a lane hit switches protocols, and the frame in the same write and the bytes of later writes all reach it, on both read paths", T, async () => {
  const text = await differential(echoing, [
    HIT,
    { write: WEBSOCKET + WS_FRAME, until: endsWith(WS_FRAME) },
    { write: 'later write 1', until: endsWith('later write 1') },
    { write: 'later write 2', end: true },
  ]);
  assert.deepEqual(statuses(text), ['200 OK', '101 Switching Protocols']);
  assert.ok(text.endsWith(`\r\n\r\n${WS_FRAME}later write 1later write 2[bye]`));
});

test("with a library user's 'upgrade' listener: Upgrade: h2c with the preface in the same write, its head split across two writes, and later writes", T, async () => {
  const split = H2C.indexOf('Upgrade: h2') + 4; // the lane hands over at the Upgrade line, before the head's end
  const text = await differential(echoing, [
    HIT,
    { write: H2C.slice(0, split) },
    { write: H2C.slice(split) + H2_PREFACE, until: endsWith(H2_PREFACE) },
    { write: 'frames', end: true },
  ]);
  assert.deepEqual(statuses(text), ['200 OK', '101 Switching Protocols']);
  assert.ok(text.endsWith(`${H2_PREFACE}frames[bye]`));
});

test("with a library user's 'connect' listener: a CONNECT after a lane hit opens the tunnel, and bytes in the same write and in later writes (several reads' worth, kept by the listener until the end) go through it whole", T, async () => {
  // Over the lane's 64 KiB read buffer: more than one read, each of which must arrive as bytes of its own.
  const noise = Array.from({ length: 200_000 }, (_, i) => String.fromCharCode((i * 7919 + (i >> 7)) % 256)).join('');
  const text = await differential(echoing, [
    HIT,
    { write: CONNECT + 'tunnelled bytes', until: endsWith('tunnelled bytes') },
    { write: noise },
    { write: 'the end', end: true },
  ]);
  assert.deepEqual(statuses(text), ['200 OK', '200 Connection Established']);
  assert.ok(text.endsWith(`tunnelled bytes${noise}the end[bye]`), 'every byte through the tunnel, in order');
});
