/**
 * Graceful shutdown of a node:http server, as Go's http.Server.Shutdown does it, but counting a
 * response as done only once its bytes are sent: stop accepting, close idle keep-alive
 * connections, and let each busy one finish its response and then close (`Connection: close`
 * on that response, or a FIN right after it if its head was already sent).
 *
 * Why not node:http's own closing: server.close() and closeIdleConnections() destroy every
 * connection whose request was parsed and whose response has called end(), even while that
 * response's bytes are still queued in the socket. A cached hit is one res.end(body), so a slow
 * client of a multi-megabyte hit was cut within milliseconds of SIGTERM. Here nothing is
 * destroyed that still has a response to send:
 *
 * - a connection with a response (`socket._httpMessage`, set from its request until the
 *   response's 'finish', which node:http emits once its last write has been handed to the
 *   kernel) is busy; after 'finish' it is half-closed with end() (a FIN behind the data), and
 *   it counts until the client closes its side, i.e. until the client has read it all;
 * - a connection in the middle of receiving a request is busy until that request arrives, is
 *   answered with `Connection: close` and sent as above;
 * - only a connection with neither is idle, and destroyed at once.
 *
 * So the listener is stopped with net.Server's close(), not http.Server's (which would run
 * closeIdleConnections() first). What remains at --shutdown-timeout is cut by cut().
 *
 * The hot path pays nothing for this: connections (not requests) are tracked, and the
 * per-response work starts only when draining does. Like http-terminator and stoppable, it
 * reads a connection's current response from `socket._httpMessage`, which node:http has set
 * since its first version (there is no public accessor), and which connections are receiving a
 * request from the server's connection list (node >= 18.14), where the idle/active split
 * closeIdleConnections() uses lives. Without that list every connection without a response
 * counts as idle, as node:http itself counts it.
 */
import { Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface Drain {
  /**
   * Stops accepting, closes idle connections now and every other one once its response is sent
   * (and read by the client); resolves when all are closed.
   */
  drain(): Promise<void>;
  /** Destroys every connection still open (the --shutdown-timeout bound). */
  cut(): void;
  /** How many connections are open. */
  open(): number;
}

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; destroySoon?: () => void };

/** node:http's connection list: `active()` are the connections receiving a request's head. */
interface ConnectionsList {
  active(): Array<{ socket?: Socket }>;
}

/** Connections another reader owns before node:http (the fast lane), drained by it. */
export interface LaneConnections {
  owns(socket: Socket): boolean;
  /** Ends the connection once what it owes is sent (a request on its way is answered first). */
  settle(socket: Socket): void;
}

export function trackConnections(server: Server, lane?: LaneConnections): Drain {
  const sockets = new Set<HttpSocket>();
  let drained: Promise<void> | undefined;
  let listenerClosed = false;
  let onDrained = () => {};
  const settled = () => {
    if (listenerClosed && sockets.size === 0) onDrained();
  };
  const forget = function (this: HttpSocket) {
    sockets.delete(this);
    if (drained !== undefined) settled();
  };
  server.on('connection', (socket: HttpSocket) => {
    sockets.add(socket);
    socket.once('close', forget);
    // A peer connection accepted by another listener after the drain started (worker ports).
    if (drained !== undefined) {
      prepare(socket);
      if (lane?.owns(socket)) lane.settle(socket);
    }
  });

  /** From now on, this connection ends with a FIN that waits for the client, never a destroy() of unsent bytes. */
  const prepare = (socket: HttpSocket) => {
    // node:http ends a `Connection: close` response's connection with socket.destroySoon(),
    // which closes the descriptor right after the FIN; on sockets without destroySoon it calls
    // end() instead. end() alone keeps the connection counted until the client has read the
    // response and closed its side, so shutdown cannot finish before the client has the bytes.
    socket.destroySoon = () => socket.end();
  };

  /** Closes the connection if it is between responses; otherwise waits for its response to be sent. */
  const settle = (socket: HttpSocket, receiving: ReadonlySet<Socket>, afterResponse: boolean) => {
    if (socket.destroyed || socket.writableEnded) return; // closing already
    const res = socket._httpMessage;
    if (res !== null && res !== undefined) {
      if (!res.headersSent) {
        res.setHeader('connection', 'close'); // node:http ends the connection after it
        return;
      }
      // Its head went out with keep-alive: close the connection once the response is sent.
      // (node:http's own 'finish' listener, added first, has detached it or moved to a pipelined next.)
      res.once('finish', () => settle(socket, NONE, true));
      return;
    }
    if (receiving.has(socket)) return; // its request comes through the 'request' listener below
    if (afterResponse) socket.end(); // a FIN behind the bytes just sent
    else socket.destroy(); // idle: nothing owed
  };

  return {
    drain() {
      drained ??= new Promise<void>((resolve) => {
        onDrained = resolve;
        // Requests that still arrive on open connections are answered, then the connection ends.
        server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
          res.setHeader('connection', 'close');
        });
        // Not server.close(): that would run closeIdleConnections() (see above).
        NetServer.prototype.close.call(server, () => {
          listenerClosed = true;
          settled();
        });
        const receiving = receivingNow(server);
        for (const socket of sockets) {
          prepare(socket);
          if (lane?.owns(socket)) lane.settle(socket);
          else settle(socket, receiving, false);
        }
      });
      return drained;
    },
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    open: () => sockets.size,
  };
}

const NONE: ReadonlySet<Socket> = new Set();

/** The connections receiving a request's head now (none known without node:http's connection list). */
function receivingNow(server: Server): Set<Socket> {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = key === undefined ? undefined : ((server as unknown as Record<symbol, unknown>)[key] as ConnectionsList | undefined);
  const receiving = new Set<Socket>();
  if (typeof list?.active !== 'function') return receiving;
  for (const parser of list.active()) if (parser.socket !== undefined) receiving.add(parser.socket);
  return receiving;
}
