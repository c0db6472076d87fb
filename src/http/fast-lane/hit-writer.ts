/**
 * A hit's response bytes for the fast lane: the same bytes node:http writes for the same hit
 * through EdgeResponse (asset.ts), so a client cannot tell which of the two answered.
 *
 * node:http's head for a prepared hit is the status line, the representation's prepared lines
 * (http/prepared-head.ts), the Age line, the headers node:http manages (Content-Length), then
 * its own Date, Connection and Keep-Alive lines. The lane serialises the lines that never
 * change once per representation; a head is that copied plus a few short lines (Age,
 * Content-Length, Date, Connection), kept and reused until its Age or the Date second changes,
 * so a hot hit costs a lookup, a comparison and one socket write: of head and body in one
 * buffer when the response is small (kept whole for the second, so a hot small hit copies
 * nothing), else of the two in one writev (the body never copied), to the socket's handle
 * where Node allows it (handle-writer.ts).
 */
import type { Blob, Representation } from '../../cache/blob.js';
import type { HeaderPolicy } from '../headers.js';
import { ageSeconds } from '../headers.js';
import type { HitOutput, WriteOwner } from './handle-writer.js';

/**
 * Responses (head and body) under this many bytes go out as one buffer (a copy of a few KB
 * beats a writev); larger ones as head and body in one writev, the body never copied. Below it
 * Buffer.allocUnsafe() takes the memory from Buffer's pool (sizes under Buffer.poolSize / 2):
 * above, each copy would be a malloc'd ArrayBuffer of its own for the collector to free.
 */
const ONE_BUFFER_BYTES = 4096;
/**
 * Small responses kept whole (head and body in one buffer) within the Date second, so a hot
 * small hit is one write of bytes already there; the map is emptied every second and holds at
 * most this many (under ONE_BUFFER_BYTES each: at most 1 MiB).
 */
const WHOLE_RESPONSES = 256;

const STATUS_LINE = 'HTTP/1.1 200 OK\r\n';

/** One representation's head, in the parts that change at different rates. */
interface RepHead {
  /** The status line, the prepared lines and `age: `: never changes. */
  readonly start: Buffer;
  /** The lines node:http writes after Age (Content-Length): never change. */
  readonly managed: string;
  /** The keep-alive head last built, and the Age and Date second it was built for. */
  bytes: Buffer | undefined;
  age: number;
  second: number;
}

export interface HitWriterOptions {
  readonly policy: HeaderPolicy;
  /** node:http's keepAliveTimeout of the server (ms): its `Keep-Alive: timeout=` line. */
  readonly keepAliveTimeoutMs: number;
}

/** node:http's Connection and Keep-Alive lines on a keep-alive response, for its keepAliveTimeout (ms). */
export function keepAliveLines(keepAliveTimeoutMs: number): string {
  const seconds = Math.floor(keepAliveTimeoutMs / 1000);
  return 'Connection: keep-alive\r\n' + (keepAliveTimeoutMs > 0 ? `Keep-Alive: timeout=${seconds}\r\n` : '');
}

export class HitWriter {
  readonly #policy: HeaderPolicy;
  /** node:http's lines after Date on a keep-alive response. */
  readonly #keepAliveLines: string;
  readonly #heads = new WeakMap<Representation, RepHead>();
  #second = -1;
  /** When the next Date second starts (ms). */
  #nextSecondAt = 0;
  #dateLine = '';
  /** Small responses of this second, whole; `head` is the RepHead.bytes they were built with. */
  readonly #wholes = new Map<Representation, { readonly head: Buffer; readonly bytes: Buffer }>();

  constructor(options: HitWriterOptions) {
    this.#policy = options.policy;
    this.#keepAliveLines = keepAliveLines(options.keepAliveTimeoutMs);
  }

  /**
   * Writes the hit and returns the body bytes sent (0 for HEAD). `close`: the response says
   * `Connection: close` (the caller ends the connection after it), as node:http words it when
   * the client asked for it, or (`shutdown`) as drain.ts's setHeader() makes it word it.
   * `now`: the clock (ms) when the request was read, for its Date and Age.
   */
  write(out: HitOutput, owner: WriteOwner, blob: Blob, rep: Representation, isHead: boolean, close: false | 'client' | 'shutdown', now: number): number {
    // (also when the clock went back)
    if (now >= this.#nextSecondAt || now < this.#nextSecondAt - 1000) this.#tick(now);
    const age = ageSeconds(blob, now);
    const parts = this.#heads.get(rep) ?? this.#prepare(blob, rep);
    let head: Buffer;
    if (close === false) {
      // Rebuilt when its Age or the Date second changed (under Zipf, most keys at each request).
      if (parts.bytes === undefined || parts.age !== age || parts.second !== this.#second) {
        parts.bytes = this.#head(parts, age, '', this.#keepAliveLines);
        parts.age = age;
        parts.second = this.#second;
      }
      head = parts.bytes;
    } else {
      head = close === 'client' ? this.#head(parts, age, '', 'Connection: close\r\n') : this.#head(parts, age, 'connection: close\r\n', '');
    }
    if (isHead) {
      out.write(owner, head);
      return 0;
    }
    const body = rep.body;
    if (head.length + body.length < ONE_BUFFER_BYTES) {
      const whole = close === false ? this.#wholes.get(rep) : undefined;
      if (whole !== undefined && whole.head === head) {
        out.write(owner, whole.bytes);
        return body.length;
      }
      const bytes = Buffer.allocUnsafe(head.length + body.length);
      head.copy(bytes, 0);
      body.copy(bytes, head.length);
      if (close === false && this.#wholes.size < WHOLE_RESPONSES) this.#wholes.set(rep, { head, bytes });
      out.write(owner, bytes);
    } else {
      out.writev(owner, head, body);
    }
    return body.length;
  }

  /** A new Date second: node:http's Date line (its utcDate() is the same toUTCString of the current second). */
  #tick(now: number): void {
    const second = Math.floor(now / 1000);
    this.#second = second;
    this.#nextSecondAt = (second + 1) * 1000;
    this.#dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
    this.#wholes.clear(); // their Date line is past
  }

  /** The parts of `rep`'s head that never change, serialised once. */
  #prepare(blob: Blob, rep: Representation): RepHead {
    const prepared = this.#policy.hit(blob, rep);
    let managed = '';
    for (const [name, value] of Object.entries(prepared.managed)) {
      for (const one of Array.isArray(value) ? value : [value]) managed += `${name}: ${String(one)}\r\n`;
    }
    const parts: RepHead = { start: Buffer.from(`${STATUS_LINE}${prepared.lines}age: `, 'latin1'), managed, bytes: undefined, age: -1, second: -1 };
    this.#heads.set(rep, parts);
    return parts;
  }

  /**
   * The whole head: the unchanging start copied, then the rest (a few short lines) written
   * after it, instead of serialising every line again. `setLines`: headers set on the response
   * before writeHead(), which node:http writes before the ones it manages.
   */
  #head(parts: RepHead, age: number, setLines: string, connectionLines: string): Buffer {
    const rest = `${age}\r\n${setLines}${parts.managed}${this.#dateLine}${connectionLines}\r\n`;
    const out = Buffer.allocUnsafe(parts.start.length + rest.length);
    parts.start.copy(out, 0);
    out.write(rest, parts.start.length, 'latin1');
    return out;
  }
}
