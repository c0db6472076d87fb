/**
 * Requests held by the fast lane: misses, and requests with Range, If-Range or a conditional
 * (cached or not). The asset handler answers them and the lane writes the answer, so the
 * connection stays in the lane for the requests after it. Each answer is held to node:http's
 * (the same origin behind a node with --fast-lane off) byte for byte, Date and Age aside: fills
 * (buffered and streamed), HEAD, 404s, refusals, origin errors, objects too large to keep,
 * `Connection: close`, 304, 412, 206 (one range, a suffix, multipart), 416, If-Range; and the
 * connection's life around a held request: the hits after it, pipelining, a duplicate Range
 * (handed over), a client that goes away or half-closes during the load, SIGTERM during the
 * load, no head timeout during the load. And OPTIONS (a plain one's 204 with Allow, CORS
 * preflights allowed and not, with --cors-origin * and none; the allow-list keeps the lane off):
 * held the same way, except where node:http does not give it to the asset handler (admin paths,
 * /metrics), `OPTIONS *`, a duplicate CORS header, a body: handed over.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { resolveConfig, type RawOptions } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { createLogger } from '../src/log.js';
import { RETRY_AT_ONCE, startTestEdge } from './helpers/edge.js';
import { Gate, TestOrigin } from './helpers/origins.js';
import { nextServerSocket, rawConnection, type RawConnection } from './helpers/raw-connection.js';

const T = { timeout: 30_000 };
const LAST_MODIFIED = new Date('2026-01-02T03:04:05Z');
/** Over the 1 MiB an object is buffered whole below: streamed to the client as it fills. */
const FILL_BYTES = 1536 * 1024;
/** Over --max-object-size below: streamed from the origin, not kept. */
const LARGE_BYTES = 3 * 1024 * 1024;
const FLAGS: RawOptions = { 'max-object-size': '2MiB', ...RETRY_AT_ONCE };

let origin: TestOrigin;
let on: Edge;
let off: Edge;

const key = (name: string, ext = 'css') => `assets/${name}-0492830483.${ext}`;

before(async () => {
  origin = new TestOrigin();
  for (const name of ['fill', 'head', 'close', 'br', 'after', 'shutdown', 'gone', 'fin', 'slow', 'second', 'cond', 'mix', 'dup']) {
    origin.put(key(name), `.${name} { color: red; }\n`.repeat(100), { lastModified: LAST_MODIFIED });
  }
  origin.put(key('filling', 'js'), noise(FILL_BYTES), { lastModified: LAST_MODIFIED });
  origin.put(key('rangefill', 'js'), noise(FILL_BYTES), { lastModified: LAST_MODIFIED });
  origin.put(key('large', 'js'), noise(LARGE_BYTES), { lastModified: LAST_MODIFIED });
  on = await startTestEdge(FLAGS, origin);
  off = await startTestEdge({ ...FLAGS, 'fast-lane': 'off' }, origin);
});

after(async () => {
  await Promise.all([on?.close(), off?.close()]);
});

function noise(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 104729 + (i >> 3)) % 256));
}

const get = (path: string, extra = '', method = 'GET') => `${method} /${path} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;

/** Date and Age tick. */
function normalise(text: string): string {
  return text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: *').replace(/\r\nage: \d+/g, '\r\nage: *');
}

/** The length of the first whole response in `buf` (`head`: a HEAD request's), or undefined. */
function responseLength(buf: Buffer, head: boolean): number | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const length = /\r\ncontent-length: (\d+)/i.exec(buf.toString('latin1', 0, end));
  const status = Number(buf.toString('latin1', 9, 12));
  const body = head || status === 304 || length === null ? 0 : Number(length[1]);
  return buf.length >= end + 4 + body ? end + 4 + body : undefined;
}

/**
 * One connection: each request written once the answer to the one before has arrived whole (no
 * pipelining: node:http would start every pipelined load at once), then, after the last, what
 * the server sends until it closes (the last request says `Connection: close`).
 */
async function converse(port: number, requests: readonly string[]): Promise<{ text: string; server: Socket & { parser?: unknown } }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let waiting: Buffer = Buffer.alloc(0);
  let wake = () => {};
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    waiting = Buffer.concat([waiting, c]);
    wake();
  });
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  for (const [i, req] of requests.entries()) {
    socket.write(req);
    if (i === requests.length - 1) break;
    const isHead = req.startsWith('HEAD ');
    let length: number | undefined;
    while ((length = responseLength(waiting, isHead)) === undefined) await new Promise<void>((resolve) => (wake = resolve));
    waiting = waiting.subarray(length);
  }
  await closed;
  return { text: Buffer.concat(chunks).toString('latin1'), server: socket as never };
}

/** The same conversation with the lane and without it, each on a fresh key: the same bytes. */
async function differential(requests: readonly string[], lane: Edge = on, plain: Edge = off): Promise<string> {
  const [a, b] = await Promise.all([converse(lane.port, requests), converse(plain.port, requests)]);
  assert.equal(normalise(a.text), normalise(b.text));
  return a.text;
}

/**
 * The fill of `k` (a css) on both nodes, and then its compressed variants on both: the
 * comparisons that follow ask for them, and a node still compressing would answer identity
 * where the other answers gzip. Variants are made in the background after a fill
 * (cache/variants.ts) and Group has no event for it: polled, with a deadline, as encoder.test.ts
 * does.
 */
async function filledWithVariants(k: string): Promise<void> {
  await differential([get(k, 'Connection: close\r\n')]);
  const deadline = Date.now() + 20_000;
  for (const edge of [on, off]) {
    while (edge.group.peek(k)?.br === undefined || edge.group.peek(k)?.gzip === undefined) {
      assert.ok(Date.now() < deadline, `${k}: no compressed variants 20 s after the fill`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Response status lines of `text`. */
function statuses(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3} [^\r]*)\r\n/g)].map((m) => m[1]!);
}

/** Everything the server sends on one connection for `stream`, written at once, until it closes. */
async function oneWrite(port: number, stream: string): Promise<string> {
  const connection = await rawConnection(port);
  connection.socket.write(stream);
  return connection.closed();
}

test('a miss that fills, then hits on the same connection: node:http\'s bytes, the miss counted as node:http counts it, and the hits answered by the lane without a hand-over', T, async () => {
  const before = on.traffic.toJSON();
  const accepted = nextServerSocket(on);
  const text = await differential([get(key('fill'), 'Accept-Encoding: br, gzip\r\n'), get(key('fill')), get(key('fill'), 'Accept-Encoding: gzip\r\nConnection: close\r\n')]);
  assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK']);
  assert.match(text, /\r\ncache-status: hashedge; fwd=miss; stored\r\n/);
  assert.equal((await accepted).parser, undefined, 'node:http never had the connection');
  const after = on.traffic.toJSON();
  assert.equal(after.fastLane.hits - before.fastLane.hits, 2, 'the two hits after the miss are the lane\'s');
  assert.equal(after.fastLane.handovers, before.fastLane.handovers, 'no hand-over');
  assert.equal(after.fastLane.held - before.fastLane.held, 1, 'the miss held by the lane');
  assert.equal(after.byCache.miss - before.byCache.miss, 1);
  assert.equal(after.byCache.hit - before.byCache.hit, 2);
});

test('HEAD of a miss, a miss that asks for Connection: close, and one chosen for brotli: node:http\'s bytes', T, async () => {
  const head = await differential([get(key('head'), '', 'HEAD'), get(key('head'), 'Connection: close\r\n', 'HEAD')]);
  assert.deepEqual(statuses(head), ['200 OK', '200 OK']);
  const close = await differential([get(key('close'), 'Connection: close\r\n')]);
  assert.match(close, /\r\nConnection: close\r\n\r\n/);
  await differential([get(key('br'), 'Accept-Encoding: br\r\n'), get(key('br'), 'Accept-Encoding: br\r\nConnection: close\r\n')]);
});

test('a 404 from the origin, its negative-cache hit, a name that is not hashed, and an origin failure: node:http\'s bytes, and the connection stays in the lane', T, async () => {
  const accepted = nextServerSocket(on);
  const text = await differential([get(key('absent')), get(key('absent')), get('assets/plain.css'), get(key('fill'), 'Connection: close\r\n')]);
  assert.deepEqual(statuses(text), ['404 Not Found', '404 Not Found', '404 Not Found', '200 OK']);
  assert.equal((await accepted).parser, undefined);
  origin.behaviour = { kind: 'error' };
  try {
    const failed = await differential([get(key('broken')), get(key('broken'), 'Connection: close\r\n')]);
    assert.deepEqual(statuses(failed), ['502 Bad Gateway', '502 Bad Gateway']);
  } finally {
    origin.behaviour = { kind: 'ok' };
  }
});

test('an object streamed while it fills, and one too large to keep (streamed from the origin): node:http\'s bytes, and a hit after each', T, async () => {
  const filling = await differential([get(key('filling', 'js')), get(key('filling', 'js'), 'Connection: close\r\n')]);
  assert.deepEqual(statuses(filling), ['200 OK', '200 OK']);
  assert.ok(filling.length > 2 * FILL_BYTES);
  const large = await differential([get(key('large', 'js')), get(key('fill'), 'Connection: close\r\n')]);
  assert.deepEqual(statuses(large), ['200 OK', '200 OK']);
  assert.match(large, /\r\ncache-status: hashedge; fwd=miss; detail=too-large\r\n/);
});

/** The lane's counters now (hits, held, handovers). */
const laneCounts = () => on.traffic.toJSON().fastLane;

/**
 * `stream` written at once to the lane and to node:http alone: the same bytes. The lane's
 * answer, whether node:http ever had its connection, and what the lane counted for it.
 */
async function pipelinedInOneWrite(stream: string): Promise<{ text: string; handedOver: boolean; hits: number; held: number; handovers: number }> {
  const before = laneCounts();
  const accepted = nextServerSocket(on);
  const [lane, plain] = await Promise.all([on, off].map((edge) => oneWrite(edge.port, stream)));
  assert.equal(normalise(lane!), normalise(plain!));
  const handedOver = (await accepted).parser !== undefined;
  const after = laneCounts();
  return { text: lane!, handedOver, hits: after.hits - before.hits, held: after.held - before.held, handovers: after.handovers - before.handovers };
}

test('conditionals, Range and If-Range on a cached object: node:http\'s 304, 412, 200, 206 (one range, a suffix, multipart), 416, byte for byte, all held by the lane on one connection, nothing handed over', T, async () => {
  const k = key('cond');
  await filledWithVariants(k);
  const tags = await differential([get(k), get(k, 'Accept-Encoding: br\r\nConnection: close\r\n')]);
  const [etag, brTag] = [...tags.matchAll(/\r\netag: ([^\r]*)/g)].map((m) => m[1]!) as [string, string];
  assert.match(brTag, /-br"$/);
  const modified = LAST_MODIFIED.toUTCString();
  const earlier = 'Thu, 01 Jan 2015 00:00:00 GMT';
  const cases: ReadonlyArray<readonly [request: string, status: string]> = [
    [get(k, `If-None-Match: ${etag}\r\n`), '304 Not Modified'],
    [get(k, 'If-None-Match: *\r\n'), '304 Not Modified'],
    [get(k, `If-None-Match: W/${etag}\r\n`), '304 Not Modified'], // weak comparison
    [get(k, `If-None-Match: "nope", W/"other", ${etag}\r\n`), '304 Not Modified'], // a list
    [get(k, `If-None-Match: \t ${etag} \t\r\n`), '304 Not Modified'], // OWS, trimmed as node:http trims it
    [get(k, `Accept-Encoding: br\r\nIf-None-Match: ${brTag}\r\n`), '304 Not Modified'], // the variant's tag, with Vary
    [get(k, 'If-None-Match: "nope"\r\n'), '200 OK'],
    [get(k, 'If-None-Match:\r\n'), '200 OK'], // empty: matches nothing
    [get(k, `If-Modified-Since: ${modified}\r\n`), '304 Not Modified'],
    [get(k, `If-Modified-Since: ${earlier}\r\n`), '200 OK'],
    [get(k, 'If-Modified-Since: yesterday\r\n'), '200 OK'], // not a date: ignored
    [get(k, 'If-Match: "nope"\r\n'), '412 Precondition Failed'],
    [get(k, `If-Match: ${etag}\r\n`), '200 OK'],
    [get(k, `If-Unmodified-Since: ${earlier}\r\n`), '412 Precondition Failed'],
    [get(k, `If-Unmodified-Since: ${modified}\r\n`), '200 OK'],
    [get(k, `If-Match: "nope"\r\nIf-None-Match: ${etag}\r\n`), '412 Precondition Failed'], // RFC 9110 §13.2.2's order
    [get(k, 'Range: bytes=0-99\r\n'), '206 Partial Content'],
    [get(k, 'Range: bytes=-50\r\n'), '206 Partial Content'], // suffix
    [get(k, 'Accept-Encoding: br\r\nRange: bytes=0-9,20-29,-5\r\n'), '206 Partial Content'], // multipart, from the identity bytes
    [get(k, 'Range: bytes=99999-\r\n'), '416 Range Not Satisfiable'],
    [get(k, 'Range: items=0-9\r\n'), '200 OK'], // another unit: ignored
    [get(k, 'Range: bytes=9-2\r\n'), '416 Range Not Satisfiable'], // inverted: no satisfiable range (range-parser)
    [get(k, `Range: bytes=0-9\r\nIf-Range: ${etag}\r\n`), '206 Partial Content'],
    [get(k, `Range: bytes=0-9\r\nIf-Range: ${modified}\r\n`), '206 Partial Content'],
    [get(k, 'Range: bytes=0-9\r\nIf-Range: "other"\r\n'), '200 OK'], // If-Range fails: the whole object
    [get(k, `Range: bytes=0-9\r\nIf-Range: W/${etag}\r\n`), '200 OK'], // weak: never matches
    [get(k, `If-Range: ${etag}\r\n`), '200 OK'], // without Range: nothing to do
    [get(k, `Range: bytes=0-9\r\nIf-None-Match: ${etag}\r\n`), '304 Not Modified'],
    [get(k, 'Range: bytes=0-9\r\n', 'HEAD'), '200 OK'], // HEAD ignores Range
    [get(k, `If-None-Match: ${etag}\r\n`, 'HEAD'), '304 Not Modified'],
    [get(k, 'If-Match: "nope"\r\n', 'HEAD'), '412 Precondition Failed'],
    [get(k, `If-None-Match: ${etag}\r\nConnection: close\r\n`), '304 Not Modified'],
  ];
  const before = laneCounts();
  const accepted = nextServerSocket(on);
  const text = await differential(cases.map(([request]) => request));
  assert.deepEqual(statuses(text), cases.map(([, status]) => status));
  assert.match(text, /\r\nContent-Type: multipart\/byteranges; boundary=[0-9a-f]{24}\r\n/i);
  assert.match(text, /\r\ncontent-range: bytes \*\/2200\r\n/);
  assert.equal((await accepted).parser, undefined, 'node:http never had the connection');
  const after = laneCounts();
  assert.equal(after.held - before.held, cases.length, 'every one held by the lane and answered by the asset handler');
  assert.equal(after.handovers - before.handovers, 0, 'none handed over');
  assert.equal(after.hits - before.hits, 0, 'none answered as a plain hit');
});

test('Range and conditionals on a miss: a range of an object filling and of one too large to keep, held by the lane, node:http\'s bytes', T, async () => {
  const before = laneCounts();
  // (one request: what a second one gets depends on whether the fill has ended, on either node)
  const filling = await differential([get(key('rangefill', 'js'), 'Range: bytes=100-199\r\nConnection: close\r\n')]);
  assert.deepEqual(statuses(filling), ['206 Partial Content']);
  const large = await differential([get(key('large', 'js'), 'Range: bytes=-1000\r\n'), get(key('large', 'js'), 'If-None-Match: *\r\nRange: bytes=99999999-\r\n'), get(key('large', 'js'), 'If-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT\r\nConnection: close\r\n', 'HEAD')]);
  assert.deepEqual(statuses(large), ['206 Partial Content', '416 Range Not Satisfiable', '200 OK']);
  const after = laneCounts();
  assert.equal(after.held - before.held, 4);
  assert.equal(after.handovers - before.handovers, 0);
});

test('pipelined in one write, kept alive: hits, 304s and 206s answered in order by the lane, node:http\'s bytes, nothing handed over', T, async () => {
  const k = key('mix');
  await filledWithVariants(k);
  const etag = /\r\netag: ([^\r]*)/.exec((await converse(on.port, [get(k, 'Connection: close\r\n')])).text)![1]!;
  const stream = get(k) + get(k, `If-None-Match: ${etag}\r\n`) + get(k, 'Range: bytes=0-9\r\n') + get(k, 'Accept-Encoding: gzip\r\n') +
    get(k, 'Range: bytes=0-0,-1\r\n') + get(k, 'If-Match: "no"\r\n') + get(k, `If-None-Match: ${etag}\r\n`, 'HEAD') + get(k, 'Connection: close\r\n');
  const { text, handedOver, hits, held, handovers } = await pipelinedInOneWrite(stream);
  assert.deepEqual(statuses(text), ['200 OK', '304 Not Modified', '206 Partial Content', '200 OK', '206 Partial Content', '412 Precondition Failed', '304 Not Modified', '200 OK']);
  assert.equal(handedOver, false, 'node:http never had the connection');
  assert.deepEqual([hits, held, handovers], [3, 5, 0]);
});

test('a duplicate Range or conditional is handed to node:http (it joins some duplicates and drops others: the lane does not guess), with node:http\'s answer', T, async () => {
  const k = key('dup');
  await differential([get(k, 'Connection: close\r\n')]);
  for (const extra of ['Range: bytes=0-9\r\nRange: bytes=20-29\r\n', 'If-None-Match: "a"\r\nif-none-match: *\r\n', 'If-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT\r\nIf-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\n', 'Range: bytes=0-9\r\nIf-Range: "x"\r\nIf-Range: "y"\r\n']) {
    const before = laneCounts();
    const accepted = nextServerSocket(on);
    await differential([get(k, extra), get(k, 'Connection: close\r\n')]);
    assert.notEqual((await accepted).parser, undefined, `${JSON.stringify(extra)}: node:http has the connection`);
    const after = laneCounts();
    assert.deepEqual([after.held - before.held, after.handovers - before.handovers], [0, 1], JSON.stringify(extra));
  }
});

test('a held miss keeps the requests pipelined after it, answers them in order once it is answered, and hands over at one the lane does not take (DELETE)', T, async () => {
  const accepted = nextServerSocket(on);
  const first = await rawConnection(on.port);
  // (no FIN: a client's FIN during a load ends the connection before its answer, lane or not)
  first.socket.write(get(key('after')) + get(key('after'), 'Accept-Encoding: gzip\r\n') + get(key('after'), '', 'DELETE') + get(key('after'), 'Connection: close\r\n'));
  const text = await first.closed();
  // The DELETE is read with the rest before anything is answered: node:http gets them all.
  assert.deepEqual(statuses(text), ['200 OK', '200 OK', '405 Method Not Allowed', '200 OK']);
  assert.notEqual((await accepted).parser, undefined);

  const again = await rawConnection(on.port);
  const before = on.traffic.toJSON().fastLane;
  again.socket.write(get(key('second')) + get(key('second')) + get(key('second'), 'Connection: close\r\n'));
  const answers = await again.closed();
  assert.deepEqual(statuses(answers), ['200 OK', '200 OK', '200 OK']);
  assert.deepEqual([...answers.matchAll(/cache-status: ([^\r]*)/g)].map((m) => m[1]), ['hashedge; fwd=miss; stored', 'hashedge; hit', 'hashedge; hit']);
  assert.equal(on.traffic.toJSON().fastLane.hits - before.hits, 2);
});

test('SIGTERM while the lane holds a miss: the load finishes, its answer goes out whole with connection: close, then the node stops', T, async () => {
  const node = await startTestEdge({ 'shutdown-timeout': '20s' }, origin);
  const gate = new Gate();
  try {
    origin.gate = gate;
    const accepted = nextServerSocket(node);
    const client = await rawConnection(node.port);
    const socket = client.socket;
    const arrived = origin.arrived(origin.count(key('shutdown')) + 1, key('shutdown'));
    socket.write(get(key('shutdown')));
    await arrived;
    const closed = node.close();
    gate.open();
    await once(socket, 'end');
    const text = client.received();
    assert.deepEqual(statuses(text), ['200 OK']);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.ok(text.endsWith(`.shutdown { color: red; }\n`.repeat(100)), 'the whole body');
    assert.equal((await accepted).parser, undefined, 'the lane held it to the end');
    socket.end();
    await closed;
  } finally {
    origin.gate = undefined;
    gate.open();
    await node.close();
  }
});

test('a client that goes away, or half-closes, while its miss loads: nothing is written after, the load still fills, the node goes on; the half-close answered as node:http answers it', T, async () => {
  const gate = new Gate();
  origin.gate = gate;
  try {
    // gone: the client closes before the origin answers
    const serverSide = nextServerSocket(on);
    const gone = connect(on.port, '127.0.0.1');
    await once(gone, 'connect');
    const arrived = origin.arrived(origin.count(key('gone')) + 1, key('gone'));
    gone.write(get(key('gone')));
    await arrived;
    const server = await serverSide;
    gone.destroy();
    await once(server, 'close');
    // half-closed: both nodes see the FIN before the origin answers
    const transcripts: RawConnection[] = [];
    for (const edge of [on, off]) {
      const accepted = nextServerSocket(edge);
      const client = await rawConnection(edge.port);
      const asked = origin.arrived(origin.count(key('fin')) + 1, key('fin'));
      client.socket.write(get(key('fin')));
      const serverSocket = await accepted;
      await asked;
      const ended = once(serverSocket, 'end');
      client.socket.end();
      await ended;
      transcripts.push(client);
    }
    gate.open();
    const [laneText, plainText] = (await Promise.all(transcripts.map((client) => client.closed()))).map(normalise);
    assert.equal(laneText, plainText);
  } finally {
    origin.gate = undefined;
    gate.open();
  }
  // The abandoned load went on and filled the cache: the next request is a hit, or, if that load
  // has not ended yet (a loaded machine), joins it (collapsed); either way the origin was asked once.
  const hit = await converse(on.port, [get(key('gone'), 'Connection: close\r\n')]);
  assert.match(hit.text, /\r\ncache-status: hashedge; (hit|fwd=miss; collapsed; stored)\r\n/);
  assert.equal(origin.count(key('gone')), 1, 'one origin load for the abandoned request and the one after it');
});

test('no head timeout while a miss loads: a load longer than headersTimeout is answered, not cut with a 408', T, async () => {
  const timed = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1' }, {}), {
    origin,
    serverTimeouts: { headersTimeoutMs: 200, requestTimeoutMs: 300, keepAliveTimeoutMs: 200, checkIntervalMs: 50 },
  });
  const gate = new Gate();
  try {
    origin.gate = gate;
    const client = await rawConnection(timed.port);
    const arrived = origin.arrived(origin.count(key('slow')) + 1, key('slow'));
    client.socket.write(get(key('slow')));
    await arrived;
    // A witness opened after it: a head that stops gets its 408 once headersTimeout has passed
    // and a check has run; that check would have cut the held miss too, had its head clock run.
    const witness = await rawConnection(timed.port);
    witness.socket.write(`GET /${key('slow')} HTTP/1.1\r\nHo`);
    assert.match(await witness.closed(), /^HTTP\/1\.1 408 /);
    gate.open();
    const text = await client.closed(); // the keep-alive timeout closes it after the answer
    assert.deepEqual(statuses(text), ['200 OK']);
    assert.doesNotMatch(text, /408/);
  } finally {
    origin.gate = undefined;
    gate.open();
    await timed.close();
  }
});

test('the access log has a held miss and the hits pipelined after it in the order they came, each once', T, async () => {
  const logged: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (logged.push(chunk.toString()), done()) });
  const node = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', 'access-log': 'true' }, {}), { origin, accessLog: createLogger('info', sink) });
  try {
    await converse(node.port, [get(key('fill'), 'Connection: close\r\n')]); // cached
    logged.length = 0;
    const { text } = await converse(node.port, [get(key('head')) + get(key('fill')) + get(key('fill'), 'Connection: close\r\n')]);
    assert.deepEqual(statuses(text), ['200 OK', '200 OK', '200 OK']);
    const lines = logged.map((line) => JSON.parse(line) as { path: string; cache: string; status: number });
    assert.deepEqual(lines.map((l) => [l.path, l.cache, l.status]), [[`/${key('head')}`, 'miss', 200], [`/${key('fill')}`, 'hit', 200], [`/${key('fill')}`, 'hit', 200]]);
  } finally {
    await node.close();
  }
});

const options = (path: string, extra = '') => `OPTIONS /${path} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;
const PREFLIGHT = 'Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range, x-trace\r\n';

test('OPTIONS held by the lane: a plain one (204 with Allow), CORS preflights (headers echoed or not), an unknown key, a path that is no key, a query, odd case and spaces, Connection: close: node:http\'s bytes, all on one connection, nothing handed over', T, async () => {
  const k = key('mix');
  const before = laneCounts();
  const accepted = nextServerSocket(on);
  const requests = [
    options(k),
    options(k, PREFLIGHT),
    // not echoed: Access-Control-Request-Headers that is not a list of names
    options(k, 'Origin: https://app.example\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x y\r\n'),
    // an Origin without a method asked for: not a preflight
    options(k, 'Origin: https://app.example\r\n'),
    options('assets/none-0492830483.css', PREFLIGHT),
    options('', PREFLIGHT),
    options('plain.css?v=1', PREFLIGHT),
    // node's lower-case names, OWS trimmed, an empty Origin kept as node keeps it
    options(k, 'ORIGIN:   https://app.example  \r\naccess-control-request-METHOD:\tGET\r\nAccess-Control-Request-Headers: Range\r\n'),
    options(k, 'Origin:\r\nAccess-Control-Request-Method: GET\r\n'),
    options(k, `${PREFLIGHT}Accept-Encoding: br\r\nRange: bytes=0-1\r\nConnection: close\r\n`),
  ];
  const text = await differential(requests);
  assert.deepEqual(statuses(text), Array(requests.length).fill('204 No Content'));
  assert.match(text, /\r\nallow: GET, HEAD, OPTIONS\r\n/);
  assert.match(text, /\r\naccess-control-allow-origin: \*\r\n.*access-control-allow-headers: range, x-trace\r\n/s);
  assert.match(text, /\r\nConnection: close\r\n\r\n$/);
  assert.equal((await accepted).parser, undefined, 'node:http never had the connection');
  const after = laneCounts();
  assert.deepEqual([after.held - before.held, after.handovers - before.handovers], [requests.length, 0]);
});

test('pipelined in one write, hit / preflight / hit / OPTIONS: answered in order by the lane, node:http\'s bytes, nothing handed over', T, async () => {
  const k = key('mix');
  await filledWithVariants(k);
  const stream = get(k) + options(k, PREFLIGHT) + get(k, 'Accept-Encoding: gzip\r\n') + options(k) + get(k, 'Connection: close\r\n');
  const { text, handedOver, hits, held, handovers } = await pipelinedInOneWrite(stream);
  assert.deepEqual(statuses(text), ['200 OK', '204 No Content', '200 OK', '204 No Content', '200 OK']);
  assert.equal(handedOver, false, 'node:http never had the connection');
  assert.deepEqual([hits, held, handovers], [3, 2, 0]);
});

test('OPTIONS the lane hands to node:http: admin and /metrics paths, `OPTIONS *`, a duplicate Origin or Access-Control-Request-* line, a body; node:http\'s answer, byte for byte', T, async () => {
  const k = key('dup');
  await differential([get(k, 'Connection: close\r\n')]);
  const handedOver = [
    'OPTIONS /_hashedge/stats HTTP/1.1\r\nHost: edge\r\n\r\n',
    'OPTIONS /_hashedge HTTP/1.1\r\nHost: edge\r\n\r\n',
    'OPTIONS /metrics HTTP/1.1\r\nHost: edge\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: edge\r\n\r\n',
    options(k, 'Origin: https://a.example\r\nOrigin: https://b.example\r\nAccess-Control-Request-Method: GET\r\n'),
    options(k, 'Origin: https://a.example\r\nAccess-Control-Request-Method: GET\r\naccess-control-request-method: PUT\r\n'),
    options(k, `${PREFLIGHT}Access-Control-Request-Headers: x-more\r\n`),
    options(k, 'Content-Length: 5\r\n') + 'hello',
    options(k, 'Transfer-Encoding: chunked\r\n') + '0\r\n\r\n',
  ];
  for (const request of handedOver) {
    const before = laneCounts();
    const accepted = nextServerSocket(on);
    const text = await differential([request, get(k, 'Connection: close\r\n')]);
    assert.equal(statuses(text).length, 2, JSON.stringify(request));
    assert.notEqual((await accepted).parser, undefined, `${JSON.stringify(request)}: node:http has the connection`);
    const after = laneCounts();
    assert.deepEqual([after.held - before.held, after.handovers - before.handovers], [0, 1], JSON.stringify(request));
  }
});

test('--cors-origin none: a preflight is held and answered without Access-Control-Allow-Origin, as node:http answers it; an allow-list keeps the lane off (hits would depend on Origin), the same bytes', T, async () => {
  for (const [cors, held] of [['none', true], ['https://app.example', false]] as const) {
    const [lane, plain] = await Promise.all([startTestEdge({ ...FLAGS, 'cors-origin': cors }, origin), startTestEdge({ ...FLAGS, 'cors-origin': cors, 'fast-lane': 'off' }, origin)]);
    try {
      const k = key('mix');
      const accepted = nextServerSocket(lane);
      const before = lane.traffic.toJSON().fastLane;
      const text = await differential([options(k, PREFLIGHT), options(k, PREFLIGHT.replace('app.example', 'other.example')), options(k), get(k), options(k, `${PREFLIGHT}Connection: close\r\n`)], lane, plain);
      assert.deepEqual(statuses(text), ['204 No Content', '204 No Content', '204 No Content', '200 OK', '204 No Content'], cors);
      const allowed = [...text.matchAll(/\r\naccess-control-allow-origin: ([^\r]*)/g)].map((m) => m[1]);
      assert.deepEqual(allowed, cors === 'none' ? [] : ['https://app.example', 'https://app.example'], cors);
      assert.equal((await accepted).parser === undefined, held, `${cors}: the lane ${held ? 'kept' : 'never had'} the connection`);
      const after = lane.traffic.toJSON().fastLane;
      assert.equal(after.held - before.held, held ? 5 : 0, cors); // the four OPTIONS and the GET (a miss on this node)
    } finally {
      await Promise.all([lane.close(), plain.close()]);
    }
  }
});

test('the access log has an OPTIONS the lane held as node:http logs it (method, path, status, cache, bytes, client, user agent)', T, async () => {
  const logs = [[], []] as string[][];
  const nodes = await Promise.all([{}, { 'fast-lane': 'off' }].map((flags, i) => {
    const sink = new Writable({ write: (chunk: Buffer, _e, done) => (logs[i]!.push(chunk.toString()), done()) });
    return startEdge(resolveConfig({ port: '0', host: '127.0.0.1', 'access-log': 'true', ...flags }, {}), { origin, accessLog: createLogger('info', sink) });
  }));
  try {
    await differential([options(key('mix'), `${PREFLIGHT}User-Agent: preflight/1\r\nConnection: close\r\n`)], nodes[0], nodes[1]);
    assert.equal(nodes[0]!.traffic.toJSON().fastLane.held, 1, 'held by the lane');
    const [lane, plain] = logs.map((lines) => lines.map((line) => {
      const { time: _t, ms: _m, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    }));
    assert.equal(lane!.length, 1);
    assert.deepEqual(lane, plain);
    assert.deepEqual([lane![0]!['method'], lane![0]!['status'], lane![0]!['ua']], ['OPTIONS', 204, 'preflight/1']);
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
  }
});
