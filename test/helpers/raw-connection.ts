/**
 * Plain TCP connections to an edge's HTTP/1.1 port, for tests that write request bytes as they
 * choose (pipelined, split, malformed) and read back every byte of the answer, and the server's
 * side of such a connection (whether node:http's parser has it: the fast lane handed it over).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Edge } from '../../src/edge.js';

export interface RawConnection {
  readonly socket: Socket;
  /** What the server sent so far, as latin1 text. */
  received(): string;
  /** Everything the server sent, once the connection has closed. */
  closed(): Promise<string>;
}

/** A connected socket to 127.0.0.1:`port` that keeps every byte it receives, in order. */
export async function rawConnection(port: number): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'connect');
  const received = () => Buffer.concat(chunks).toString('latin1');
  return {
    socket,
    received,
    closed: async () => {
      if (!socket.closed) await once(socket, 'close');
      return received();
    },
  };
}

/**
 * Resolves once the server side of a connection has read `n` bytes, checked at each turn of the
 * event loop (the fast lane reads into a buffer of its own: there is no 'data' event to wait for).
 */
export async function readBy(server: Socket, n: number): Promise<void> {
  while (server.bytesRead < n) await new Promise((resolve) => setImmediate(resolve));
}

/** The server side of the next connection `edge` accepts (`parser` is set once node:http has it). */
export function nextServerSocket(edge: Edge): Promise<Socket & { parser?: unknown }> {
  return new Promise((resolve) => edge.server.once('connection', resolve));
}
