/**
 * Graceful shutdown of a node:http server, as Go's http.Server.Shutdown does it: stop
 * accepting, close idle keep-alive connections, and let each busy one finish its response and
 * then close (`Connection: close`). node:http alone keeps a connection that was busy at
 * server.close() open after its response, so it would hold shutdown until the timeout and
 * meanwhile take new requests.
 *
 * The hot path pays nothing for this: connections (not requests) are tracked, and the
 * per-response work starts only when draining does. Like http-terminator and stoppable, it
 * reads a connection's current response from `socket._httpMessage`, which node:http has set
 * since its first version (there is no public accessor).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface Drain {
  /** Stops accepting and closes connections as their responses end; resolves when all are closed. */
  drain(): Promise<void>;
}

export function trackConnections(server: Server): Drain {
  const sockets = new Set<Socket>();
  const forget = function (this: Socket) {
    sockets.delete(this);
  };
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', forget);
  });
  // After a response's socket is released (its 'close' comes a tick after node marks the
  // connection idle), close whatever is idle now.
  const closeIdle = () => server.closeIdleConnections();

  return {
    drain() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Requests that still arrive on open connections are answered, then the connection ends.
      server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
        res.setHeader('connection', 'close');
        res.once('close', closeIdle);
      });
      for (const socket of sockets) {
        const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
        if (res === null || res === undefined) continue;
        if (!res.headersSent) res.setHeader('connection', 'close');
        res.once('close', closeIdle);
      }
      server.closeIdleConnections();
      return closed;
    },
  };
}
