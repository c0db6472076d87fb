/**
 * A hit's response bytes for the fast lane: the same bytes node:http writes for the same hit
 * through EdgeResponse (asset.ts), so a client cannot tell which of the two answered.
 *
 * node:http's head for a prepared hit is the status line, the representation's prepared lines
 * (http/prepared-head.ts), the Age line, the headers node:http manages (Content-Length), then
 * its own Date, Connection and Keep-Alive lines. The lane writes that text once per
 * representation and rebuilds it only when its Age or the Date second changes, so a hit costs
 * a lookup, a comparison and one socket write (head and body in one buffer when the body is
 * small, else the two together with cork/uncork: one writev, the body never copied).
 */
import type { Socket } from 'node:net';
import type { Blob, Representation } from '../../cache/blob.js';
import type { HeaderPolicy } from '../headers.js';
import { ageSeconds } from '../headers.js';
import type { PreparedHead } from '../prepared-head.js';

/** Bodies up to this many bytes go out in one buffer with their head (a copy of a few KB beats a writev). */
const COPY_BODY_BYTES = 8192;

const STATUS_LINE = 'HTTP/1.1 200 OK\r\n';

interface CachedHead {
  readonly age: number;
  /** The Date second it was built for. */
  readonly second: number;
  readonly bytes: Buffer;
}

export interface HitWriterOptions {
  readonly policy: HeaderPolicy;
  /** node:http's keepAliveTimeout of the server (ms): its `Keep-Alive: timeout=` line. */
  readonly keepAliveTimeoutMs: number;
  readonly clock?: () => number;
}

export class HitWriter {
  readonly #policy: HeaderPolicy;
  readonly #clock: () => number;
  /** node:http's lines after Date on a keep-alive response. */
  readonly #keepAliveLines: string;
  readonly #heads = new WeakMap<Representation, CachedHead>();
  #second = -1;
  #dateLine = '';

  constructor(options: HitWriterOptions) {
    this.#policy = options.policy;
    this.#clock = options.clock ?? Date.now;
    const seconds = Math.floor(options.keepAliveTimeoutMs / 1000);
    this.#keepAliveLines = 'Connection: keep-alive\r\n' + (options.keepAliveTimeoutMs > 0 ? `Keep-Alive: timeout=${seconds}\r\n` : '');
  }

  /**
   * Writes the hit and returns the body bytes sent (0 for HEAD). `close`: the response says
   * `Connection: close` (the caller ends the connection after it), as node:http words it when
   * the client asked for it, or (`shutdown`) as drain.ts's setHeader() makes it word it.
   */
  write(socket: Socket, blob: Blob, rep: Representation, isHead: boolean, close: false | 'client' | 'shutdown'): number {
    const now = this.#clock();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      // node:http's Date line (its utcDate() is the same toUTCString of the current second).
      this.#dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
    }
    const age = ageSeconds(blob, now);
    let head: Buffer;
    if (close === 'client') {
      head = Buffer.from(this.#text(this.#policy.hit(blob, rep), age, 'Connection: close\r\n'), 'latin1');
    } else if (close === 'shutdown') {
      head = Buffer.from(this.#text(this.#policy.hit(blob, rep), age, '', 'connection: close\r\n'), 'latin1');
    } else {
      const cached = this.#heads.get(rep);
      if (cached !== undefined && cached.age === age && cached.second === second) {
        head = cached.bytes;
      } else {
        head = Buffer.from(this.#text(this.#policy.hit(blob, rep), age, this.#keepAliveLines), 'latin1');
        this.#heads.set(rep, { age, second, bytes: head });
      }
    }
    if (isHead) {
      socket.write(head);
      return 0;
    }
    const body = rep.body;
    if (body.length <= COPY_BODY_BYTES) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      head.copy(out, 0);
      body.copy(out, head.length);
      socket.write(out);
    } else {
      socket.cork();
      socket.write(head);
      socket.write(body);
      socket.uncork();
    }
    return body.length;
  }

  /** `setLines`: headers set on the response before writeHead(), which node:http writes first. */
  #text(prepared: PreparedHead, age: number, connectionLines: string, setLines = ''): string {
    let managed = setLines;
    for (const [name, value] of Object.entries(prepared.managed)) {
      for (const one of Array.isArray(value) ? value : [value]) managed += `${name}: ${String(one)}\r\n`;
    }
    return `${STATUS_LINE}${prepared.lines}age: ${age}\r\n${managed}${this.#dateLine}${connectionLines}\r\n`;
  }
}
