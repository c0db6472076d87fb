/**
 * A worker's own address for its peers. The public port is shared by every worker
 * (node:cluster hands each connection to any of them), so a peer request sent there would
 * reach a random worker, not the key's owner. Each worker therefore also listens on a port of
 * its own and feeds those connections to the same http.Server (`server.emit('connection')`,
 * as http-proxy and Next.js do), so one set of routes, timeouts and drain covers both.
 *
 * The port is bound before the server exists (every worker must know every member before it
 * joins the ring); connections that arrive in between wait, paused, and are handed over by
 * attach().
 */
import type { Server } from 'node:http';
import { createServer, type Server as NetServer, type Socket } from 'node:net';

export class PeerListener {
  readonly port: number;
  readonly #net: NetServer;
  #target: Server | undefined;
  #waiting: Socket[] = [];

  private constructor(net: NetServer, port: number) {
    this.#net = net;
    this.port = port;
  }

  /**
   * Binds host:port (0: any free port). `exclusive`: a worker's listen() is otherwise shared
   * through the primary, which would give every worker the same port.
   */
  static async listen(host: string, port: number): Promise<PeerListener> {
    let listener: PeerListener | undefined;
    // pauseOnConnect: no byte is read before the http server takes the socket.
    const net = createServer({ pauseOnConnect: true }, (socket) => listener!.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject);
      net.listen({ host, port, exclusive: true }, () => {
        net.off('error', reject);
        resolve();
      });
    });
    listener = new PeerListener(net, (net.address() as { port: number }).port);
    return listener;
  }

  /** From now on, peer connections are served by `server`; those waiting are handed over. */
  attach(server: Server): void {
    this.#target = server;
    for (const socket of this.#waiting) this.#accept(socket);
    this.#waiting = [];
  }

  #accept(socket: Socket): void {
    if (this.#target === undefined) {
      this.#waiting.push(socket);
      socket.once('close', () => (this.#waiting = this.#waiting.filter((s) => s !== socket)));
      return;
    }
    this.#target.emit('connection', socket);
    socket.resume();
  }

  /** Stops accepting; resolves once the connections it accepted have closed (the server's drain closes them). */
  close(): Promise<void> {
    for (const socket of this.#waiting) socket.destroy();
    return new Promise((resolve) => this.#net.close(() => resolve()));
  }
}
