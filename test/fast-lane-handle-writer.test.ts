/**
 * handle-writer.ts on real sockets: hits go to the handle the connection began with (its owner's
 * `handle`, not net's `_handle` getter at each write), and a write after the socket was destroyed
 * (a pipelined hit after an earlier one's write failed, in the same pass) neither throws nor
 * sends a byte: the handle net closed refuses it, and the destroyed socket stays as it was.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { HandleWriter, type WriteOwner } from '../src/http/fast-lane/handle-writer.js';
import { Traffic } from '../src/stats/traffic.js';

const T = { timeout: 30_000 };
let server: Server;
let port: number;
let accepted: Array<(socket: Socket) => void> = [];

before(async () => {
  server = createServer((socket) => accepted.shift()!(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => {
  server.close();
});

/** A client connection, its server side, and what the client reads until the connection closes. */
async function connection(): Promise<{ server: Socket; received: Promise<string> }> {
  const got = new Promise<Socket>((resolve) => accepted.push(resolve));
  const client = new Socket().connect(port, '127.0.0.1');
  client.on('error', () => {});
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  const received = once(client, 'close').then(() => Buffer.concat(chunks).toString('latin1'));
  await once(client, 'connect');
  return { server: await got, received };
}

/** A WriteOwner of `socket`, as a lane connection is (its writes are taken whole here: writeDone is never due). */
function ownerOf(socket: Socket): WriteOwner {
  return { socket, handle: (socket as Socket & { _handle?: unknown })._handle ?? null, queuedWrites: 0, writeDone() {} };
}

test('hits go to the handle the connection began with, head and body alike, and are counted as handle writes', T, async () => {
  const { server: s, received } = await connection();
  const traffic = new Traffic();
  const writer = HandleWriter.open(s, traffic);
  assert.ok(writer !== undefined, 'Node 20 and 26 have the shape');
  const owner = ownerOf(s);
  writer.write(owner, Buffer.from('one '));
  writer.writev(owner, Buffer.from('two '), Buffer.from('three'));
  s.end();
  assert.equal(await received, 'one two three');
  assert.equal(traffic.laneWritesHandle, 2);
  assert.equal(traffic.laneWritesStream, 0);
});

test('a write to the handle of a socket destroyed meanwhile throws nothing and sends nothing', T, async () => {
  const { server: s, received } = await connection();
  const writer = HandleWriter.open(s, new Traffic())!;
  const owner = ownerOf(s);
  writer.write(owner, Buffer.from('before'));
  const closed = once(s, 'close');
  s.destroy();
  writer.write(owner, Buffer.from(' after'));
  writer.writev(owner, Buffer.from(' head'), Buffer.from(' body'));
  assert.equal(s.destroyed, true);
  assert.equal(owner.queuedWrites, 0);
  assert.equal(await received, 'before');
  // and once net has finished closing the handle
  await closed;
  writer.write(owner, Buffer.from(' later'));
  assert.equal(owner.queuedWrites, 0);
});
