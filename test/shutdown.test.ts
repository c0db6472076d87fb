/**
 * Graceful shutdown: stop accepting, finish the requests in flight (bounded by
 * --shutdown-timeout), then exit 0. Synchronised on events (origin arrivals, gates, response
 * headers, the process's "shutdown" log line), never on sleeps. Clients use keep-alive agents,
 * as load balancers do, so a connection that outlives its response would hold shutdown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LANE_REQUEST } from '../src/http/fast-lane/lane.js';
import { startTestEdge } from './helpers/edge.js';
import { Gate, TestOrigin } from './helpers/origins.js';
import { request } from './helpers/http.js';
import { nextServerSocket, rawConnection, readBy } from './helpers/raw-connection.js';
import { diskOrigin } from './helpers/temp-dir.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const MiB = 1024 * 1024;

/** A GET whose `response` resolves at the headers and `body` with every byte; `paused` holds the body until res.resume(). */
function get(url: string, agent: Agent | false, paused = false) {
  let onResponse!: (res: IncomingMessage) => void;
  const response = new Promise<IncomingMessage>((resolve) => (onResponse = resolve));
  const body = new Promise<Buffer>((resolve, reject) => {
    const req = httpRequest(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
      if (paused) res.pause();
      onResponse(res);
    });
    req.on('error', reject);
    req.end();
  });
  body.catch(() => {}); // the test awaits it; if an assertion fails first, report that one
  return { response, body };
}

/** 'connected', or the error code of a new TCP connection to the port. */
function dial(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

/** The first match of `pattern` in a stream's output (which keeps draining, so the child never blocks). */
function outputMatching(stream: Readable, pattern: RegExp): Promise<RegExpExecArray> {
  let text = '';
  return new Promise((resolve) =>
    stream.on('data', (c) => {
      text += c;
      const match = pattern.exec(text);
      if (match) resolve(match);
    }),
  );
}

test('under load, close() refuses new connections and completes every response in flight', { timeout: 30_000 }, async () => {
  const origin = new TestOrigin();
  const small = [1_000, 20_000, 100_000, 400_000, 900_000].map((n, i) => origin.put(`assets/s${i}-0492830483.js`, randomBytes(n)));
  const large = origin.put('video/big-0492830483.mp4', randomBytes(3 * MiB));
  // 60s grace: if anything held close() until the grace ran out, the test's timeout fails it.
  const edge = await startTestEdge({ 'shutdown-timeout': '60s' }, origin);
  const loads = origin.requests.length; // the readiness probe's
  const agent = new Agent({ keepAlive: true });
  let received = 0;
  let allReceived!: () => void;
  const all = new Promise<void>((resolve) => (allReceived = resolve));
  // node:http's requests, and the misses the fast lane holds
  for (const event of ['request', LANE_REQUEST]) edge.server.on(event, () => ++received === 50 && allReceived());
  try {
    // 5 clients of the large asset get its headers; the origin holds the body after a first chunk.
    origin.midBodyGate = new Gate();
    const inFlight = Array.from({ length: 5 }, () => ({ want: large, ...get(`${edge.url}/video/big-0492830483.mp4`, agent) }));
    await Promise.all(inFlight.map((r) => r.response));
    // 45 more wait for their origin loads at a gate.
    origin.gate = new Gate();
    for (let i = 0; i < 45; i++) inFlight.push({ want: small[i % 5]!, ...get(`${edge.url}/assets/s${i % 5}-0492830483.js`, agent) });
    await all;
    await origin.arrived(loads + 6);

    let closed = false;
    const closing = edge.close().then(() => (closed = true));
    assert.equal(await dial(edge.port), 'ECONNREFUSED', 'a new connection is refused once shutdown starts');
    assert.equal(closed, false, 'close() waits for the responses in flight');

    origin.gate.open();
    origin.midBodyGate.open();
    for (const r of inFlight) {
      assert.equal((await r.response).statusCode, 200);
      assert.ok((await r.body).equals(r.want), 'the exact bytes');
    }
    await closing;
  } finally {
    origin.gate?.open();
    origin.midBodyGate?.open();
    agent.destroy();
    await edge.close();
  }
});

test('--shutdown-timeout bounds shutdown: a request stuck at the origin is cut, and close() resolves', { timeout: 10_000 }, async () => {
  const origin = new TestOrigin();
  origin.put('assets/app-0492830483.js', 'late');
  const edge = await startTestEdge({ 'shutdown-timeout': '200ms' }, origin);
  const loads = origin.requests.length; // the readiness probe's
  origin.gate = new Gate(); // opened only at cleanup: the origin never answers during the test
  try {
    const stuck = get(`${edge.url}/assets/app-0492830483.js`, false);
    await origin.arrived(loads + 1);
    await edge.close();
    await assert.rejects(stuck.body, { code: 'ECONNRESET' });
  } finally {
    origin.gate.open();
    await edge.close();
  }
});

test('an idle keep-alive connection does not delay shutdown', { timeout: 10_000 }, async () => {
  const origin = new TestOrigin();
  origin.put('assets/app-0492830483.js', 'ok');
  const edge = await startTestEdge({ 'shutdown-timeout': '60s' }, origin);
  const agent = new Agent({ keepAlive: true });
  try {
    const idle = once(agent, 'free');
    assert.equal((await get(`${edge.url}/assets/app-0492830483.js`, agent).response).statusCode, 200);
    const [socket] = (await idle) as [Socket];
    assert.equal(socket.destroyed, false, 'the client holds an idle keep-alive connection');
    const hungUp = once(socket.ref(), 'close'); // ref: the agent unrefs idle sockets
    await edge.close(); // within the test's 10s timeout, far below the 60s grace
    await hungUp; // and the edge closed that connection
  } finally {
    agent.destroy();
    await edge.close();
  }
});

test('`hashedge serve` on SIGTERM finishes the download in flight, exits 0 and frees the port', { timeout: 60_000 }, async () => {
  // 40 MiB: over the default --max-object-size, so it streams from disk with backpressure, and
  // more than loopback can buffer for a reader that does not read (tcp_rmem max 32 MiB +
  // tcp_wmem max 4 MiB here; an unread socket stays near its 128 KiB default): the response is
  // still being sent when SIGTERM arrives.
  const body = randomBytes(40 * MiB);
  const origin = await diskOrigin({ 'big-0492830483.bin': body }, 'shutdown');
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--origin', origin.dir, '--shutdown-delay', '0', '--shutdown-timeout', '60s'];
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: 'pipe' });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const listening = outputMatching(child.stdout, /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
  const shutdownLogged = outputMatching(child.stderr, /"event":"shutdown"/); // pino writes to stderr
  const agent = new Agent({ keepAlive: true });
  try {
    const [, url, port] = await listening;
    const download = get(`${url}/big-0492830483.bin`, agent, true);
    const res = await download.response;
    assert.equal(res.statusCode, 200);
    child.kill('SIGTERM');
    await shutdownLogged;
    res.resume();
    const got = await download.body;
    assert.equal(got.length, body.length);
    assert.ok(got.equals(body), 'the whole body, intact');
    assert.equal((await exited)[0], 0);
    assert.equal(await dial(Number(port)), 'ECONNREFUSED');
  } finally {
    child.kill('SIGKILL');
    agent.destroy();
    await origin.remove();
  }
});

/**
 * Reads `res` (paused at its headers) one chunk per turn of the event loop: a client slower than
 * the server, whose socket the server cannot fill at once, so the rest waits in the server.
 */
function readSlowly(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => {
      chunks.push(c);
      res.pause();
      setImmediate(() => res.resume());
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.resume();
  });
}

/** Counts lines matching `pattern` in a stream's output; `reached(n)` resolves once there are n. */
function countLines(stream: Readable, pattern: RegExp) {
  let text = '';
  let count = 0;
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  stream.on('data', (c) => {
    text += c;
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const line of lines) if (pattern.test(line)) count++;
    for (const w of waiting.filter((w) => count >= w.n)) w.resolve();
  });
  return {
    reached: (n: number) => new Promise<void>((resolve) => (count >= n ? resolve() : waiting.push({ n, resolve }))),
  };
}

for (const workers of [1, 2]) {
  test(`\`hashedge serve${workers > 1 ? ` --workers ${workers}` : ''}\` on SIGTERM: slow clients of a cached 8 MiB object read all of it before the node exits 0`, { timeout: 60_000 }, async () => {
    // 8 MiB: cached (under --max-object-size), so each response is one res.end(body) whose
    // bytes mostly wait in the server's socket buffers while the client does not read.
    const body = randomBytes(8 * MiB);
    const origin = await diskOrigin({ 'big-0492830483.bin': body }, 'shutdown');
    const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--origin', origin.dir, '--shutdown-delay', '0', '--shutdown-timeout', '60s', '--workers', String(workers)];
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: 'pipe' });
    let exited = false;
    const exit = (once(child, 'exit') as Promise<[number | null]>).then((r) => ((exited = true), r));
    const listening = outputMatching(child.stdout, /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
    const draining = countLines(child.stderr, /"event":"draining"/); // pino writes to stderr
    const agent = new Agent({ keepAlive: true });
    try {
      const [, url, port] = await listening;
      // Fill the cache (with workers: every worker twice on fresh connections, so each keeps it).
      for (let i = 0; i < 2 * workers; i++) assert.ok((await get(`${url}/big-0492830483.bin`, false).body).equals(body));
      const clients = Array.from({ length: 3 }, () => get(`${url}/big-0492830483.bin`, agent, true));
      for (const c of clients) {
        const res = await c.response;
        assert.equal(res.statusCode, 200);
        if (workers === 1) assert.match(String(res.headers['cache-status']), /hashedge; hit/, 'a cache hit');
      }
      child.kill('SIGTERM');
      await draining.reached(workers); // every worker has stopped accepting and closed its idle connections
      for (const c of clients) {
        const got = await readSlowly(await c.response);
        assert.equal(exited, false, 'the node waits for its clients');
        assert.equal(got.length, body.length, 'the whole body');
        assert.ok(got.equals(body), 'the exact bytes');
      }
      assert.equal((await exit)[0], 0);
      assert.equal(await dial(Number(port)), 'ECONNREFUSED');
    } finally {
      child.kill('SIGKILL');
      agent.destroy();
      await origin.remove();
    }
  });
}

test('shutdown(): for --shutdown-delay readiness is 503 and hashedge_ready 0 while assets are served on new and kept-alive connections; then close() drains', { timeout: 20_000 }, async () => {
  const origin = new TestOrigin();
  const asset = origin.put('assets/app-0492830483.js', randomBytes(50_000));
  // A lame-duck period longer than the test: close() ends it.
  const edge = await startTestEdge({ 'shutdown-delay': '1h', 'shutdown-timeout': '60s' }, origin);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // Ready once the origin has answered the readiness probe.
    while ((await request(`${edge.url}/_hashedge/health/ready`)).status !== 200);
    const first = get(`${edge.url}/assets/app-0492830483.js`, agent);
    assert.equal((await first.response).statusCode, 200);
    await first.body;

    const stopped = edge.shutdown();
    const ready = await request(`${edge.url}/_hashedge/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(JSON.parse(ready.body.toString()).status, 'stopping');
    assert.match((await request(`${edge.url}/metrics`)).body.toString(), /^hashedge_ready 0$/m);
    // The kept-alive connection is still served, and stays kept alive.
    const again = httpRequest(`${edge.url}/assets/app-0492830483.js`, { agent });
    const [res] = (await once(again.end(), 'response')) as [IncomingMessage];
    assert.equal(again.reusedSocket, true, 'the request went on the kept-alive connection');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.connection, 'keep-alive');
    res.resume();
    await once(res, 'end');
    // New connections are accepted and served.
    assert.equal(await dial(edge.port), 'connected');
    const fresh = await request(`${edge.url}/assets/app-0492830483.js`);
    assert.equal(fresh.status, 200);
    assert.ok(fresh.body.equals(asset));

    await edge.close(); // ends the lame-duck period and drains
    await stopped;
    assert.equal(await dial(edge.port), 'ECONNREFUSED');
  } finally {
    agent.destroy();
    await edge.close();
  }
});

test('during the drain, a keep-alive connection is closed only after its response, which says `Connection: close`', { timeout: 20_000 }, async () => {
  const origin = new TestOrigin();
  const cold = origin.put('assets/cold-0492830483.js', randomBytes(30_000));
  const hit = origin.put('assets/hit-0492830483.js', randomBytes(30_000));
  const edge = await startTestEdge({ 'shutdown-timeout': '60s' }, origin);
  const agent = new Agent({ keepAlive: true });
  try {
    assert.equal((await request(`${edge.url}/assets/hit-0492830483.js`)).status, 200); // cached
    const loads = origin.requests.length;

    // 1. A request whose response has not started: it waits at the origin.
    origin.gate = new Gate();
    const waiting = get(`${edge.url}/assets/cold-0492830483.js`, agent);
    await origin.arrived(loads + 1);

    // 2. A connection that has sent part of a request's head when the drain starts.
    const accepted = nextServerSocket(edge);
    const client = await rawConnection(edge.port);
    const raw = client.socket;
    const server = await accepted;
    const part = 'GET /assets/hit-0492830483.js HTTP/1.1\r\nHost: edge\r\n';
    raw.write(part);
    await readBy(server, part.length); // its first bytes read at the edge

    const closed = edge.close();
    raw.write('\r\n'); // the rest of the head, after the drain started
    await once(raw, 'end'); // the edge half-closes after the response
    const text = client.received();
    const headEnd = text.indexOf('\r\n\r\n');
    assert.match(text.slice(0, headEnd), /^HTTP\/1\.1 200 /);
    assert.match(text.slice(0, headEnd), /\r\nConnection: close\r\n/i);
    assert.ok(Buffer.from(text.slice(headEnd + 4), 'latin1').equals(hit), 'the whole body');
    raw.end();

    origin.gate.open();
    const res = await waiting.response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.connection, 'close');
    assert.ok((await waiting.body).equals(cold));
    await closed;
  } finally {
    origin.gate?.open();
    agent.destroy();
    await edge.close();
  }
});
