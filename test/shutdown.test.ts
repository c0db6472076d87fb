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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { startTestEdge } from './helpers/edge.js';
import { Gate, TestOrigin } from './helpers/origins.js';

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
  edge.server.on('request', () => ++received === 50 && allReceived());
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
  const dir = await mkdtemp(join(tmpdir(), 'hashedge-shutdown-'));
  const body = randomBytes(40 * MiB);
  await writeFile(join(dir, 'big-0492830483.bin'), body);
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--origin', dir, '--shutdown-timeout', '60s'];
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
    await rm(dir, { recursive: true, force: true });
  }
});
