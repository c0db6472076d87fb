/**
 * The backpressure check the fast lane's suites share (each read path: its own buffer, the
 * socket's stream): a client pipelines `n` requests for a large body and reads nothing; the
 * lane answers no more ahead than the kernel takes, holds at most one response and a bounded
 * read in the process, parses nothing while paused, and every answer comes, in order, once the
 * client reads.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Edge } from '../../src/edge.js';
import { nextServerSocket } from './raw-connection.js';

/** `request`: one request head whose answer carries a body of `bodyBytes` (more than the loopback buffers hold in n answers). */
export async function assertPipelinedBackpressure(edge: Edge, request: string, bodyBytes: number, n = 100): Promise<void> {
  const accepted = nextServerSocket(edge);
  const socket = connect(edge.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause(); // the client reads nothing
  const server = await accepted;
  const paused = once(server, 'pause');
  const before = edge.traffic.requests;
  socket.write(request.repeat(n));
  await paused; // the lane stopped reading: the kernel took what it could, the rest waits in the process
  const answered = edge.traffic.requests - before;
  assert.ok(answered >= 1 && answered < n, `${answered} of ${n} answered while the client read nothing`);
  // In the socket's stream (its writableLength counts what it passed to the handle until written),
  // or in the handle alone (hits written to it that the kernel did not take: fast-lane/handle-writer.ts).
  const queued = Math.max(server.writableLength, (server as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0);
  assert.ok(queued <= bodyBytes + server.writableHighWaterMark, `${queued} bytes queued in the process`);
  // More requests while it still reads nothing: they stay unread (in the kernel and the socket's
  // bounded read buffer), nothing more is answered.
  await new Promise<void>((resolve, reject) => socket.write(request.repeat(n), (err) => (err ? reject(err) : resolve())));
  assert.equal(edge.traffic.requests - before, answered);
  assert.ok(server.readableLength <= server.readableHighWaterMark, `${server.readableLength} bytes buffered unread`);
  // Now it reads: every response arrives.
  let received = 0;
  const all = new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= 2 * n * bodyBytes) resolve();
    });
  });
  socket.resume();
  await all;
  socket.destroy();
  assert.equal(edge.traffic.requests - before, 2 * n);
}
