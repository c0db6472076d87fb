/**
 * The fast lane on a real node over real sockets: what it answers, what it hands to node:http
 * (and that node:http then parses the bytes put back: heads split across reads, pipelined
 * requests after the lane's answers), backpressure, its timeouts, the access log and counters,
 * and shutdown. What it answers is held to node:http byte for byte by fast-lane-fuzz.test.ts;
 * the attacks, properties and shutdown suites run with it too (it is on by default).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { resolveConfig, type RawOptions } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { createLogger } from '../src/log.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { assertPipelinedBackpressure } from './helpers/backpressure.js';
import { nextServerSocket, rawConnection, readBy } from './helpers/raw-connection.js';

const CSS = 'assets/style-0492830483.css';
const BIG = 'assets/big-0492830483.js';
const CSS_BODY = Buffer.from('.a { color: red; }\n'.repeat(50));
/** Many times a socket's write buffer (16 KiB): one response fills it. */
const BIG_BODY = Buffer.alloc(256 * 1024, 'x');
const T = { timeout: 20_000 };

let origin: TestOrigin;
let edge: Edge;

before(async () => {
  origin = new TestOrigin();
  origin.put(CSS, CSS_BODY, { lastModified: new Date('2026-01-02T03:04:05Z') });
  origin.put(BIG, BIG_BODY, { lastModified: new Date('2026-01-02T03:04:05Z') });
  edge = await startTestEdge({}, origin);
  for (const key of [CSS, BIG]) assert.equal((await request(`${edge.url}/${key}`)).status, 200);
});

after(async () => {
  await edge?.close();
});

/** Response heads in `text`, in order (status line and headers of each). */
function heads(text: string): string[] {
  return text.split('HTTP/1.1 ').slice(1).map((part) => 'HTTP/1.1 ' + part.slice(0, part.indexOf('\r\n\r\n')));
}

/** Everything the server sends until it closes, after `write` ran on the connected socket. */
async function exchange(port: number, write: (socket: Socket) => Promise<void> | void): Promise<string> {
  const connection = await rawConnection(port);
  await write(connection.socket);
  return connection.closed();
}

const get = (key: string, extra = '') => `GET /${key} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;

test('hits of plain GET/HEAD are answered by the lane: the connection never reaches node:http, and the hits are counted', T, async () => {
  const before = edge.traffic.toJSON();
  const accepted = nextServerSocket(edge);
  const text = await exchange(edge.port, (s) => {
    s.end(get(CSS) + `HEAD /${CSS} HTTP/1.1\r\nHost: edge\r\n\r\n` + get(CSS, 'Connection: close\r\n'));
  });
  const server = await accepted;
  assert.equal(server.parser, undefined, 'node:http never attached its parser');
  assert.deepEqual(heads(text).map((h) => h.split('\r\n')[0]), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
  assert.ok(heads(text).every((h) => h.includes('\r\ncache-status: hashedge; hit\r\n') && /\r\nage: \d+\r\n/.test(h)));
  assert.match(heads(text)[2]!, /\r\nConnection: close$/);
  const after = edge.traffic.toJSON();
  assert.equal(after.requests - before.requests, 3);
  assert.equal(after.byCache.hit - before.byCache.hit, 3);
  assert.equal(after.bytesSent - before.bytesSent, 2 * CSS_BODY.length);
  assert.equal(after.fastLane.hits - before.fastLane.hits, 3, 'counted as the lane\'s');
  assert.equal(after.fastLane.handovers, before.fastLane.handovers);
  assert.ok(edge.traffic.topKeys().some((k) => k.key === CSS));
});

test('a head that comes in more than three reads is handed to node:http with what was read, and node:http parses it and what follows', T, async () => {
  const accepted = nextServerSocket(edge);
  const client = await rawConnection(edge.port);
  const socket = client.socket;
  const server = await accepted;
  // Each piece is read by the lane before the next is sent (the lane reads the socket until the hand-over).
  let sent = 0;
  for (const piece of [`GET /${CSS} HT`, 'TP/1.1\r\nHo', 'st: edge\r\n']) {
    socket.write(piece);
    sent += piece.length;
    await readBy(server, sent);
  }
  assert.notEqual(server.parser, undefined, 'node:http has the connection after the third read');
  socket.end(`Accept: */*\r\n\r\n${get(CSS, 'If-None-Match: *\r\n')}${get(CSS)}`);
  const text = await client.closed();
  assert.deepEqual(heads(text).map((h) => h.split('\r\n')[0]), ['HTTP/1.1 200 OK', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 200 OK']);
  assert.ok(text.includes(CSS_BODY.toString('latin1')));
});

test("heads that connections send in pieces, interleaved, are each read whole: the bytes a connection keeps between its reads are its own, not the next read's", T, async () => {
  // The lane reads every connection into one buffer (read-buffer.ts): what one keeps of a read
  // must be copied out before another connection's read overwrites it.
  const acceptedA = nextServerSocket(edge);
  const a = connect(edge.port, '127.0.0.1');
  const serverA = await acceptedA;
  const acceptedB = nextServerSocket(edge);
  const b = connect(edge.port, '127.0.0.1');
  const serverB = await acceptedB;
  assert.equal(serverA.listenerCount('data'), 0, "read into the lane's buffer, not through 'data' events (the path under test)");
  const replies = [a, b].map((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    return once(socket, 'close').then(() => Buffer.concat(chunks).toString('latin1'));
  });
  // A: a whole request and the start of the next; B: the start of a longer head; then the rests.
  const pieces: Array<[Socket, Socket, string]> = [
    [a, serverA, get(CSS) + `GET /${CSS} HTTP/1.1\r\nHo`],
    [b, serverB, `GET /${BIG} HTTP/1.1\r\nHost: edge\r\nAccept-Encoding: identity\r\nUser-Agent: x`],
    [a, serverA, 'st: edge\r\nConnection: close\r\n\r\n'],
    [b, serverB, 'yz\r\nConnection: close\r\n\r\n'],
  ];
  const sent = new Map<Socket, number>();
  for (const [client, server, piece] of pieces) {
    client.write(piece);
    sent.set(server, (sent.get(server) ?? 0) + piece.length);
    await readBy(server, sent.get(server)!);
  }
  const [textA, textB] = await Promise.all(replies);
  assert.deepEqual(heads(textA!).map((h) => h.split('\r\n')[0]), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
  assert.equal(textA!.split(CSS_BODY.toString('latin1')).length, 3, 'both CSS bodies');
  assert.deepEqual(heads(textB!).map((h) => h.split('\r\n')[0]), ['HTTP/1.1 200 OK']);
  assert.ok(textB!.endsWith(BIG_BODY.toString('latin1')), 'the big body');
});

test('pipelined: the lane answers hits in order, hands over at the first request it does not answer with the rest put back, and node:http answers the rest', T, async () => {
  const accepted = nextServerSocket(edge);
  const text = await exchange(edge.port, async (s) => {
    // One write: two hits, a conditional, a Range, a hit, a miss (404), a DELETE (not the lane's), a hit.
    s.write(get(CSS) + get(CSS, 'Accept-Encoding: gzip\r\n') + get(CSS, 'If-None-Match: *\r\n') + get(CSS, 'Range: bytes=0-9\r\n') + get(CSS) + get('assets/none-0492830483.css') + `DELETE /${CSS} HTTP/1.1\r\nHost: edge\r\n\r\n` + get(CSS));
    // A later write on the handed-over connection: node:http's parser reads it.
    s.end(get(CSS, 'Connection: close\r\n'));
  });
  assert.notEqual((await accepted).parser, undefined);
  assert.deepEqual(
    heads(text).map((h) => h.split('\r\n')[0]),
    ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 206 Partial Content', 'HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 405 Method Not Allowed', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'],
  );
  assert.ok(text.includes('\r\n\r\n' + CSS_BODY.subarray(0, 10).toString('latin1') + 'HTTP/1.1 200 OK'), 'the 206 carries its 10 bytes');
});

/** One request on its own connection, `Connection: close` last; everything the server sends. */
async function alone(head: string): Promise<string> {
  const connection = await rawConnection(edge.port);
  connection.socket.write(head);
  return connection.closed();
}

test("bytes the lane does not take, at every offset of a 4-byte step of a name or a value, in a short read and a long one (the head parser reads long ones a word at a time), and names with a lane field's length and end bytes: each byte and name judged as it should be", T, async () => {
  // a line of 160 bytes ahead of the one tested makes the read long
  const pad = `X-Pad: ${'p'.repeat(160)}\r\n`;
  const cases = (lines: string[]) => lines.flatMap((line) => ['', pad].map((before) => `GET /${CSS} HTTP/1.1\r\nHost: edge\r\n${before}${line}\r\nConnection: close\r\n\r\n`));
  const offsets = [0, 1, 2, 3, 4, 5, 6, 7];
  const value = (byte: string) => offsets.map((k) => `X-Word: ${'a'.repeat(k)}${byte}${'b'.repeat(9)}`);
  const name = (byte: string) => offsets.map((k) => `X-${'n'.repeat(k)}${byte}${'m'.repeat(5)}: v`);
  // handed over: control bytes, DEL, bytes >= 0x80 in a value; a non-token byte in a name; a Host
  // only by its length and ends (so no Host at all)
  const refused = cases([
    ...['\x00', '\x01', '\x0b', '\x1f', '\x7f', '\x80', '\xff'].flatMap(value),
    ...['"', '(', '@', '\x7f', '\x80'].flatMap(name),
  ]).concat(['Hos4: edge', 'Hxst: edge', 'HOSt: edge\r\nHOST: edge'].map((line) => `GET /${CSS} HTTP/1.1\r\n${line}\r\nConnection: close\r\n\r\n`));
  // taken: SP, HTAB and VCHAR in a value, tchar in a name, names that only share a lane field's
  // length and ends (not Connection, so no second one; not Upgrade, Expect or Transfer-Encoding)
  const taken = cases([
    ...[' ', '\t', '~', '!'].flatMap(value),
    ...['~', '|', '^', '4'].flatMap(name),
    'Connectio.: close', 'Cxnnection: close', 'Upgrad%: websocket', 'Uxgrade: websocket', 'Expec4: 100-continue', "Transfer-Encodin': chunked", "Hashedge-debu': 1",
  ]);
  const before = edge.traffic.toJSON();
  for (const head of refused) await alone(head);
  const middle = edge.traffic.toJSON();
  assert.equal(middle.fastLane.hits - before.fastLane.hits, 0, 'none answered by the lane');
  assert.equal(middle.fastLane.handovers - before.fastLane.handovers, refused.length, 'each handed to node:http');
  for (const head of taken) assert.match(await alone(head), /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(head));
  const after = edge.traffic.toJSON();
  assert.equal(after.fastLane.hits - middle.fastLane.hits, taken.length, 'each answered by the lane');
  assert.equal(after.fastLane.handovers, middle.fastLane.handovers, 'none handed over');
});

test('backpressure: a client that pipelines and does not read gets no more answers ahead than the kernel takes, the process holds at most one, and all come, in order, once it reads', T, async () => {
  await assertPipelinedBackpressure(edge, get(BIG), BIG_BODY.length);
});

test('a client that resets while the socket\'s handle still holds a hit it was sent: its connection closes, its requests still unread are never answered, and the node serves the next client', T, async () => {
  const accepted = nextServerSocket(edge);
  const socket = connect(edge.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause(); // reads nothing: the kernel's buffers fill, the rest of a response waits in the process
  const server = await accepted;
  const paused = once(server, 'pause');
  const before = edge.traffic.toJSON();
  socket.write(get(BIG).repeat(100));
  await paused;
  const handle = (server as unknown as { _handle: { writeQueueSize: number } })._handle;
  assert.ok(handle.writeQueueSize > 0, 'a hit waits in the handle');
  const answered = edge.traffic.requests - before.requests;
  // (not once(): it rejects at the 'error' the reset brings, which the lane takes, as net's socket would have)
  const closed = new Promise((resolve) => server.on('close', resolve));
  socket.resetAndDestroy();
  await closed;
  assert.equal(edge.traffic.requests - before.requests, answered, 'nothing answered after the reset');
  assert.equal(edge.traffic.toJSON().fastLane.writes.handle - before.fastLane.writes.handle, answered, 'every hit went to the handle');
  const next = await request(`${edge.url}/${CSS}`);
  assert.equal(next.status, 200);
  assert.ok(next.body.equals(CSS_BODY));
});

async function startTimedEdge(flags: RawOptions = {}): Promise<Edge> {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', ...flags }, {});
  return startEdge(config, { origin, serverTimeouts: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, checkIntervalMs: 100 } });
}

test("slowloris on the lane: a head that stops, or never starts, gets node:http's 408 at headersTimeout and the connection closed; an idle kept-alive connection is closed at keepAliveTimeout", T, async () => {
  const timed = await startTimedEdge();
  try {
    assert.equal((await request(`${timed.url}/${CSS}`)).status, 200); // cached
    const [stopped, silent, idle] = await Promise.all([
      exchange(timed.port, (s) => void s.write(`GET /${CSS} HTTP/1.1\r\nHo`)),
      exchange(timed.port, () => {}),
      exchange(timed.port, (s) => void s.write(get(CSS))),
    ]);
    assert.equal(stopped, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    assert.equal(silent, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    assert.deepEqual(heads(idle).map((h) => h.split('\r\n')[0]), ['HTTP/1.1 200 OK']);
    assert.ok(idle.endsWith(CSS_BODY.toString('latin1')), 'closed after the whole response, without a 408');
  } finally {
    await timed.close();
  }
});

test('keep-alive: requests a client sends less than keepAliveTimeout apart keep its connection open past that timeout, with the lane as with node:http; once it stops, the connection is closed', T, async () => {
  // Gaps of a quarter of the timeout: a timer that measured from the first response, and not from the last request, would close it.
  const KEEP_ALIVE_MS = 1000;
  const config = (flags: RawOptions) => resolveConfig({ port: '0', host: '127.0.0.1', ...flags }, {});
  const timeouts = { headersTimeoutMs: 5000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: KEEP_ALIVE_MS, checkIntervalMs: 1000 };
  for (const flags of [{}, { 'fast-lane': 'off' }]) {
    const node = await startEdge(config(flags), { origin, serverTimeouts: timeouts });
    try {
      assert.equal((await request(`${node.url}/${CSS}`)).status, 200); // cached
      const client = await rawConnection(node.port);
      const responses = (n: number) => client.received().split('HTTP/1.1 200 OK').length - 1 >= n && client.received().endsWith(CSS_BODY.toString('latin1'));
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < 1.5 * KEEP_ALIVE_MS) {
        client.socket.write(get(CSS));
        sent++;
        while (!responses(sent)) {
          assert.equal(client.socket.readableEnded || client.socket.closed, false, `closed ${Date.now() - started} ms in, at request ${sent} (${JSON.stringify(flags)})`);
          await Promise.race([once(client.socket, 'data'), once(client.socket, 'end')]);
        }
        await new Promise((resolve) => setTimeout(resolve, KEEP_ALIVE_MS / 4));
      }
      assert.equal(client.socket.closed, false, `open after ${sent} requests over ${Date.now() - started} ms (${JSON.stringify(flags)})`);
      const text = await client.closed(); // now idle: closed by the server
      assert.equal(text.split('HTTP/1.1 200 OK').length - 1, sent);
    } finally {
      await node.close();
    }
  }
});

test('the access log and the counters say the same for a hit with the lane and without it', T, async () => {
  const lines = (sink: string[]) => new Writable({ write: (chunk: Buffer, _e, done) => (sink.push(chunk.toString()), done()) });
  const logged: Record<'on' | 'off', string[]> = { on: [], off: [] };
  const nodes = {
    on: await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', 'access-log': 'true' }, {}), { origin, accessLog: createLogger('info', lines(logged.on)) }),
    off: await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', 'access-log': 'true', 'fast-lane': 'off' }, {}), { origin, accessLog: createLogger('info', lines(logged.off)) }),
  };
  try {
    for (const node of Object.values(nodes)) {
      assert.equal((await request(`${node.url}/${CSS}`)).status, 200); // the miss that fills
      await exchange(node.port, (s) => void s.end(get(CSS, 'User-Agent: probe/1.0\r\n') + `HEAD /${CSS}?v=2 HTTP/1.1\r\nHost: edge\r\n\r\n`));
    }
    const fields = (line: string) => {
      const { ms: _ms, time: _time, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    };
    assert.equal(logged.on.length, 3);
    assert.deepEqual(logged.on.map(fields), logged.off.map(fields));
    const hit = fields(logged.on[1]!);
    for (const [name, value] of Object.entries({ event: 'access', method: 'GET', path: `/${CSS}`, status: 200, cache: 'hit', bytes: CSS_BODY.length, client: '127.0.0.1', ua: 'probe/1.0', proto: 'http/1.1' })) assert.deepEqual(hit[name], value, name);
    const { fastLane: laneOn, ...countsOn } = nodes.on.traffic.toJSON();
    const { fastLane: laneOff, ...countsOff } = nodes.off.traffic.toJSON();
    assert.deepEqual(countsOn, countsOff);
    // Only the lane's own figures tell the two apart: the miss held by the lane (answered by the
    // asset handler, counted above as a miss), the two hits answered, nothing handed over.
    // (two connections, each read into the lane's own buffer: this Node has what read-buffer.ts needs)
    assert.deepEqual(laneOn, { hits: 2, held: 1, handovers: 0, connections: { buffer: 2, stream: 0 }, writes: { handle: 2, stream: 0 } });
    assert.deepEqual(laneOff, { hits: 0, held: 0, handovers: 0, connections: { buffer: 0, stream: 0 }, writes: { handle: 0, stream: 0 } });
    assert.deepEqual(nodes.on.traffic.topKeys(), nodes.off.traffic.topKeys());
    assert.equal(nodes.on.group.stats.hits, nodes.off.group.stats.hits);
  } finally {
    await Promise.all([nodes.on.close(), nodes.off.close()]);
  }
});

test('shutdown: an idle lane connection is closed at once, and one whose response is still being sent gets all of it before the FIN', T, async () => {
  const node = await startTestEdge({ 'shutdown-timeout': '20s' }, origin);
  try {
    assert.equal((await request(`${node.url}/${BIG}`)).status, 200); // cached
    const idle = connect(node.port, '127.0.0.1');
    const idleReply: Buffer[] = [];
    idle.on('data', (c: Buffer) => idleReply.push(c));
    const idleServer = nextServerSocket(node);
    await once(idle, 'connect');
    const served = once(idle, 'data');
    idle.write(get(BIG));
    await served;
    // A client that has not read its response yet: most of it is still queued at the server.
    const slow = connect(node.port, '127.0.0.1');
    const slowServer = nextServerSocket(node);
    await once(slow, 'connect');
    slow.pause();
    const server = await slowServer;
    const full = once(server, 'pause');
    slow.write(get(BIG).repeat(100)); // more than the socket buffers take: some wait unanswered
    await full;
    await idleServer;

    const closed = node.close();
    const slowReply: Buffer[] = [];
    slow.on('data', (c: Buffer) => slowReply.push(c));
    const ended = once(slow, 'end');
    slow.resume();
    await ended;
    // Every response whole; the one after shutdown began said `connection: close`, and was the last.
    const text = Buffer.concat(slowReply).toString('latin1');
    const sent = heads(text);
    assert.ok(sent.length >= 2 && sent.length < 100, `${sent.length} responses`);
    assert.match(sent.at(-1)!, /\r\nconnection: close\r\n/);
    assert.ok(sent.slice(0, -1).every((h) => !/connection: close/i.test(h)));
    assert.equal(text.length, sent.reduce((n, h) => n + h.length + 4 + BIG_BODY.length, 0), 'every body whole');
    slow.end();
    idle.on('error', () => {});
    if (!idle.destroyed) await once(idle, 'close');
    await closed;
    assert.ok(Buffer.concat(idleReply).length > BIG_BODY.length, 'the idle connection had its whole response first');
  } finally {
    await node.close();
  }
});
