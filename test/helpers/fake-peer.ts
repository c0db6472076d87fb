/**
 * A misbehaving cluster member for tests: a real TCP listener on 127.0.0.1, port 0, that
 * answers `GET /_hashedge/peer/<key>` by writing raw HTTP/1.1 bytes, so it can lie in ways a
 * node:http server would refuse to (a Content-Length its body does not match, a connection
 * reset mid-body). Listed in a real node's --peers, it owns a share of the ring like any member.
 * Requests arrive on keep-alive connections and are answered one by one; every socket it
 * holds is destroyed by close().
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { PEER_PATH, PEER_SHA256_HEADER, PROBE_PATH } from '../../src/cluster/peers.js';

export type PeerBehaviour =
  /** 200 with the right bytes and the owner's SHA-256, as a healthy owner answers. */
  | { kind: 'ok' }
  /** This status with a small JSON body (500: the owner's own load failed). */
  | { kind: 'status'; status: number }
  /** Reads the request and never answers (headers never come). */
  | { kind: 'hang' }
  /** Headers with the right Content-Length, `bytes` of the body, then a TCP reset (a killed process). */
  | { kind: 'reset'; bytes: number }
  /** Headers with the right Content-Length, `bytes` of the body, then a clean close (FIN): the Content-Length was a lie. */
  | { kind: 'short'; bytes: number }
  /** Headers with the right Content-Length, `bytes` of the body, then silence on an open socket. */
  | { kind: 'stall'; bytes: number }
  /** 200, the right length, the right SHA-256 header, but other bytes (a corrupted copy). */
  | { kind: 'garbage' }
  /** 200 with no Content-Length (chunked): not a peer answer. */
  | { kind: 'chunked' };

export class FakePeer {
  /** Bodies by key; a key it does not hold is a 404 (unless the behaviour is `status` or `hang`). */
  readonly objects = new Map<string, Buffer>();
  /** Keys asked, in order. */
  readonly requests: string[] = [];
  behaviour: PeerBehaviour = { kind: 'ok' };
  /** How it answers probes (GET /_hashedge/health/live): 200 when true, else 503. Not counted in `requests`. */
  ready = true;
  readonly #sockets = new Set<Socket>();
  readonly #server = createServer((socket) => this.#accept(socket));

  /** Listens on 127.0.0.1 (port 0: any free port); resolves with its base URL. */
  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.#server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  count(key: string): number {
    return this.requests.filter((k) => k === key).length;
  }

  /** Stops listening and destroys every connection (a hanging answer included). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    let usable = true;
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      // GET requests carry no body: each request ends at its blank line.
      for (let end = pending.indexOf('\r\n\r\n'); usable && end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 4);
        usable = this.#answer(socket, head);
      }
    });
  }

  /** Answers one request; false when the connection is no longer usable for the next. */
  #answer(socket: Socket, head: string): boolean {
    const target = head.split(' ', 2)[1] ?? '';
    if (target === PROBE_PATH) {
      const status = this.ready ? '200 OK' : '503 Service Unavailable';
      socket.write(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\n\r\n`);
      return true;
    }
    const key = target.startsWith(PEER_PATH) ? decodeURIComponent(target.slice(PEER_PATH.length)) : '';
    this.requests.push(key);
    const behaviour = this.behaviour;
    const body = this.objects.get(key);
    if (behaviour.kind === 'hang') return false;
    if (behaviour.kind === 'status' || body === undefined) {
      const status = behaviour.kind === 'status' ? behaviour.status : 404;
      const json = Buffer.from(`{"error":{"code":"E_FAKE","message":"fake peer ${status}"}}\n`);
      socket.write(`HTTP/1.1 ${status} Fake\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\n\r\n`);
      socket.write(json);
      return true;
    }
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (behaviour.kind === 'chunked') {
      socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`);
      socket.write(body);
      socket.write('\r\n0\r\n\r\n');
      return true;
    }
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\n${PEER_SHA256_HEADER}: ${sha256}\r\n\r\n`);
    switch (behaviour.kind) {
      case 'ok':
        socket.write(body);
        return true;
      case 'garbage':
        socket.write(randomBytes(body.length));
        return true;
      case 'reset':
        socket.write(body.subarray(0, behaviour.bytes), () => socket.resetAndDestroy());
        return false;
      case 'short':
        socket.end(body.subarray(0, behaviour.bytes));
        return false;
      case 'stall':
        socket.write(body.subarray(0, behaviour.bytes));
        return false;
    }
  }
}
