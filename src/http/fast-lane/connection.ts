/**
 * One connection while the fast lane owns it: reads request heads, answers the hits in order
 * (pipelined requests included), holds any other request it takes (a miss, one with Range,
 * If-Range or a conditional, an OPTIONS) while node:http's asset handler answers it
 * (miss-response.ts writes that answer; the requests read after it wait, in order), and hands
 * the connection to node:http at the first request it does not take, with every byte from that
 * request on put back. A held request answered at once (a 304, 206, 412 or 416 of a cached
 * object, a remembered 404, an OPTIONS's 204) is followed by the next request of the same read
 * in the same pass: the heads of a read are parsed once, however many of them the asset handler
 * answers.
 *
 * Behaviour kept equal to node:http's:
 *  - backpressure: while the socket's write buffer is full (writableNeedDrain, or a hit written
 *    to the handle that the kernel did not take whole: handle-writer.ts) no further request is
 *    parsed and the socket is paused, so a client that sends and never reads holds at most one
 *    read and one buffer's worth of responses, as with node:http;
 *  - keep-alive: after a response, the connection may stay idle for the server's
 *    keepAliveTimeout, then it is destroyed (node:http's socket timeout, which every read and
 *    write restarts; here a timer per connection that measures from the last read or write
 *    done when it fires, so a request costs no timer restart: #onIdleCheck);
 *  - head timeout: a connection receiving a head (from its accept, or from a head's first byte)
 *    is answered 408 and closed once that took headersTimeout (lane.ts checks, as node:http
 *    does, every connectionsCheckingInterval);
 *  - `Connection: close`: the response says so, and the connection ends after it; bytes after
 *    that request are ignored, as llhttp ignores them;
 *  - the client's FIN: with nothing pending, the lane ends its side too (node:http's
 *    httpAllowHalfOpen is false); with part of a head pending, node:http is given it and judges;
 *  - while a miss loads: no head or idle timeout runs (node:http's requestTimeout ends once a GET's
 *    head is in, and its keep-alive timer starts after the response); reading goes on, so a FIN
 *    ends the connection's writing side and the answer is dropped, as node:http's socketOnEnd does;
 *    more than HOLD_BYTES read meanwhile pauses the socket.
 */
import type { Socket } from 'node:net';
import { HANDOVER, INCOMPLETE, scanHead, type LaneRequest } from './head-parser.js';
import type { WriteOwner } from './handle-writer.js';
import { MissResponse, type CloseMode, type MissOwner } from './miss-response.js';
import type { ReadBuffer } from './read-buffer.js';

/**
 * How many reads one head may span before node:http is given the connection. Clients write a
 * head in one go; a head in many small pieces is slow or hostile, and node:http's parser, which
 * keeps its state between reads, is the one to read it (the lane reads a head again from its
 * start at every read, so this also bounds that work).
 */
export const MAX_READS_PER_HEAD = 3;

/** Bytes read while a miss loads beyond which the socket is paused until it is answered. */
export const HOLD_BYTES = 64 * 1024;

/** What a connection needs of the lane. */
export interface LaneHost {
  /**
   * The cache key of a request node:http would send to the asset handler ('' for an OPTIONS whose
   * target is not a key: its answer does not read one); undefined for any other.
   */
  route(req: LaneRequest): string | undefined;
  /** Answers `req` if it is a plain hit (`key` cached, no Range or conditional), and says whether it did; `now`: the clock at its read (ms). */
  answer(connection: LaneConnection, req: LaneRequest, key: string, close: CloseMode, now: number): boolean;
  /**
   * Has node:http's asset handler answer `req` (not a plain hit) into `res`; false where the lane
   * does not hold such requests (the connection is then handed over).
   */
  serveMiss(req: LaneRequest, res: MissResponse): boolean;
  /** node:http's Connection and Keep-Alive lines of a keep-alive response. */
  readonly keepAliveLines: string;
  /**
   * Gives the connection to node:http with `unread` in front; `atEnd`: the client has ended its
   * side; `ownReads`: the socket read into the lane's buffer (nothing is in its stream's buffer).
   */
  handOver(connection: LaneConnection, unread: Buffer | undefined, atEnd: boolean, ownReads: boolean): void;
  /** The lane's read buffer (undefined: connections read with a 'data' listener). */
  readonly reads: ReadBuffer | undefined;
  /** The connection closed while the lane owned it. */
  forget(connection: LaneConnection): void;
  readonly wantUserAgent: boolean;
  /** node:http's keepAliveTimeout (ms; 0: none). */
  readonly keepAliveTimeoutMs: number;
  readonly clock: () => number;
}

export class LaneConnection implements MissOwner, WriteOwner {
  readonly socket: Socket;
  readonly handle: unknown;
  /** Hits written to the handle that it still holds (WriteOwner): the kernel's buffer was full. */
  queuedWrites = 0;
  /** When the head being received began (ms), from the accept for the first one; 0: between requests. */
  receivingSince: number;
  readonly #host: LaneHost;
  /** Bytes read and not answered yet: part of a head, or requests waiting for the socket to drain. */
  #pending: Buffer | undefined;
  /** Reads the head at the front of #pending has spanned. */
  #headReads = 0;
  /** The lane's read buffer, when the socket reads into it (else it emits 'data'). */
  readonly #reads: ReadBuffer | undefined;
  /** Waiting for the socket's room (its 'drain', or the handle's queued writes done) before parsing more. */
  #blocked = false;
  /** The client ended its side while the connection was blocked. */
  #ended = false;
  /** Shutdown: the next response says `Connection: close` and the connection ends after it. */
  #closing = false;
  /** Handed over or ending: the lane has nothing more to do here. */
  #done = false;
  /**
   * When the connection last read, or finished writing what it owed (host.clock() ms): what
   * node:http's socket timer restarts at. The idle timer measures from it.
   */
  #activeAt = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** The miss being answered (the requests after it wait in #pending). */
  #miss: MissResponse | undefined;
  /** It asked for `Connection: close`. */
  #missClose = false;
  /** Inside serveMiss(): an answer sent at once is followed up by the caller. */
  #serving = false;

  constructor(socket: Socket, host: LaneHost) {
    this.socket = socket;
    this.handle = (socket as Socket & { _handle?: unknown })._handle ?? null;
    this.#host = host;
    this.receivingSince = host.clock();
    // Only what every connection needs: most are handed over at their first request, and
    // each listener is one more to add and remove ('timeout' comes with the idle timer).
    // Reads go to the lane's own buffer where Node allows it (read-buffer.ts), else 'data'.
    this.#reads = host.reads?.attach(socket, this.#onRead) === true ? host.reads : undefined;
    if (this.#reads === undefined) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', ignore);
    socket.on('close', this.#onClose);
  }

  /** Whether the socket reads into the lane's buffer (else through its stream: 'data' events). */
  get ownReads(): boolean {
    return this.#reads !== undefined;
  }

  /** Shutdown (drain.ts): end once what is owed is sent; a request on its way is answered first. */
  settle(): void {
    this.#closing = true;
    if (this.#done) return;
    // a miss loading, requests read and waiting, or a head (or the first request) on its way: answered with close
    if (this.#miss !== undefined || this.#blocked || this.#pending !== undefined || this.receivingSince !== 0) return;
    this.#done = true;
    if (this.#sending()) {
      this.socket.end(); // a FIN behind the response
      this.#readToEnd();
    } else {
      this.socket.destroy(); // idle: nothing owed
    }
  }

  /** headersTimeout passed while receiving a head: node:http's 408 and close. */
  timeOut(): void {
    if (this.#done) return;
    this.#done = true;
    // node:http writes its 408 unless a response is still being sent on the connection.
    if (!this.#sending()) this.socket.write(REQUEST_TIMEOUT);
    this.socket.destroy();
  }

  /** A read into the lane's buffer, buffer[0, length): what is kept of it past this call is copied out of the buffer. */
  readonly #onRead = (buffer: Buffer, length: number): void => {
    this.#received(buffer, length);
    const pending = this.#pending;
    if (pending !== undefined && this.#reads!.shares(pending)) this.#pending = Buffer.from(pending);
  };

  /** A read through the socket's stream (where Node lacks the read buffer's shape). */
  readonly #onData = (chunk: Buffer): void => this.#received(chunk, chunk.length);

  /**
   * The bytes of one read, buf[0, end). With nothing pending they are parsed where they lie (a
   * view is made only of what is kept: #process); else they join what is.
   */
  #received(buf: Buffer, end: number): void {
    if (this.#done) return; // after `Connection: close`: ignored, as llhttp does
    // One clock read per read: the idle timer's and the hits' (their Date and Age) alike.
    const now = this.#host.clock();
    this.#activeAt = now;
    // (receivingSince is set by #process only for a head left incomplete: one read whole is answered at once)
    if (this.#pending === undefined && !this.#blocked && this.#miss === undefined) {
      this.#headReads++;
      this.#process(buf, end, now);
      return;
    }
    const chunk = end === buf.length ? buf : buf.subarray(0, end);
    const pending = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = pending;
    if (this.#blocked) return; // a paused socket's last read: kept for after 'drain'
    if (this.#miss !== undefined) {
      // Read after the miss: answered once it is (a client that pipelines a lot waits for it).
      if (pending.length > HOLD_BYTES) this.socket.pause();
      return;
    }
    this.#headReads++;
    this.#process(pending, pending.length, now);
  }

  /**
   * Answers the complete heads in buf[0, end) (#pending, or a read where it lies), in order, and
   * leaves in #pending what is not answered yet. They are all read before any is answered: if one
   * of them is not the lane's, node:http is given every one, and answers the read as a whole, as
   * it would have without the lane (what it sends around a malformed request depends on what else
   * came in the same read: handover.ts). A read of one request, the usual, makes no list.
   */
  #process(buf: Buffer, end: number, now: number): void {
    const host = this.#host;
    let first: LaneRequest | undefined;
    let firstKey = '';
    let more: Array<{ readonly request: LaneRequest; readonly key: string }> | undefined;
    let offset = 0;
    while (offset < end) {
      const scan = scanHead(buf, offset, end, host.wantUserAgent);
      if (scan === INCOMPLETE) break;
      const key = scan === HANDOVER ? undefined : host.route(scan);
      if (scan === HANDOVER || key === undefined) {
        this.#handOver(end === buf.length ? buf : buf.subarray(0, end), false);
        return;
      }
      if (first === undefined) {
        first = scan;
        firstKey = key;
      } else {
        (more ??= []).push({ request: scan, key });
      }
      offset = scan.end;
      if (scan.close) break; // llhttp ignores what follows `Connection: close`
    }
    let start = 0;
    if (first !== undefined) {
      start = this.#answer(buf, end, start, first, firstKey, now);
      if (more !== undefined) for (let i = 0; start >= 0 && i < more.length; i++) start = this.#answer(buf, end, start, more[i]!.request, more[i]!.key, now);
      if (start < 0) return;
    }
    if (start < end) {
      // The start of a head: it began in this read if a request ended in it, or if none was on its way.
      if (start > 0) {
        this.#headReads = 1;
        this.receivingSince = now;
      } else if (this.receivingSince === 0) {
        this.receivingSince = now;
      }
      if (this.#headReads >= MAX_READS_PER_HEAD) this.#handOver(buf.subarray(start, end), false);
      else this.#pending = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
      return;
    }
    this.#pending = undefined;
    this.#headReads = 0;
    this.receivingSince = 0;
    this.#armIdleTimer();
  }

  /**
   * Answers `request`, the one at buf[start, request.end), or holds it, or blocks on the socket's
   * room before it. The offset of the next request, or -1 where #process is to stop (blocked,
   * handed over, closing, or a miss answered later).
   */
  #answer(buf: Buffer, end: number, start: number, request: LaneRequest, key: string, now: number): number {
    const socket = this.socket;
    // (writableNeedDrain only when the stream holds bytes: its state's flags are a load that Node's
    // streams share, megamorphic, and an empty stream has nothing to wait for)
    if (this.queuedWrites > 0 || (socket.writableLength !== 0 && socket.writableNeedDrain)) {
      this.#block(buf.subarray(start, end));
      return -1;
    }
    const close = this.#closing ? 'shutdown' : request.close ? 'client' : false;
    if (!this.#host.answer(this, request, key, close, now)) {
      // Not a plain hit: the asset handler answers it; the lane goes on with what follows it
      // here if that was at once, else once it is answered (#afterMiss).
      return this.#holdMiss(buf, end, start, request) ? request.end : -1;
    }
    if (close) {
      // node:http ends the connection once the response is sent (drain.ts makes that a FIN
      // that waits for the client during shutdown).
      this.#done = true;
      this.#pending = undefined;
      socket.destroySoon();
      this.#readToEnd();
      return -1;
    }
    return request.end;
  }

  /**
   * Has the asset handler answer the request at buf[start, request.end) (else node:http gets the
   * connection, with buf[start, end)). True when it was answered at once and the connection goes
   * on: the caller (#process) then answers the requests after it, already parsed.
   */
  #holdMiss(buf: Buffer, end: number, start: number, request: LaneRequest): boolean {
    const miss = new MissResponse(this);
    this.#miss = miss;
    this.#missClose = request.close;
    // llhttp ignores what follows `Connection: close`
    this.#pending = request.close || request.end === end ? undefined : buf.subarray(request.end, end);
    this.receivingSince = 0;
    this.#serving = true;
    const held = this.#host.serveMiss(request, miss);
    this.#serving = false;
    if (!held) {
      this.#miss = undefined;
      this.#pending = undefined;
      this.#handOver(buf.subarray(start, end), false);
      return false;
    }
    // Answered at once (a 304, a 206, a refusal, a negative-cache 404), and the connection goes
    // on (not closed or cut by sent()): the caller goes on here, not inside sent().
    return this.#miss === undefined && !this.#done;
  }

  closeMode(): CloseMode {
    return this.#closing ? 'shutdown' : this.#missClose ? 'client' : false;
  }

  get keepAliveLines(): string {
    return this.#host.keepAliveLines;
  }

  /** The miss's response is written (MissOwner). */
  sent(close: CloseMode, cut: boolean): void {
    this.#miss = undefined;
    if (cut) this.#done = true; // the socket is destroyed
    if (this.#done) return;
    if (close !== false) {
      // as after a hit that said close
      this.#done = true;
      this.#pending = undefined;
      this.socket.destroySoon();
      this.#readToEnd();
      return;
    }
    // Not at once: the asset handler counts and logs the miss after its sendPlan() returns, and
    // the requests after it are to be logged after it, in the order they came.
    if (!this.#serving) queueMicrotask(() => this.#afterMiss());
  }

  /** After a miss's response: the requests read meanwhile, then reading again. */
  #afterMiss(): void {
    if (this.#done) return;
    const socket = this.socket;
    const now = this.#host.clock();
    this.#activeAt = now; // the miss's response is written
    if (this.#pending !== undefined) {
      this.#headReads = 1;
      this.receivingSince = now;
      this.#process(this.#pending, this.#pending.length, now);
      if (this.#done || this.#blocked || this.#miss !== undefined) return;
    } else {
      this.#headReads = 0;
      if (this.#closing) {
        // Shutdown began after this response's head went out with keep-alive: it was the last.
        this.#done = true;
        socket.end();
        this.#readToEnd();
        return;
      }
      this.#armIdleTimer();
    }
    if (this.#ended) this.#onEnd();
    else if (socket.isPaused()) socket.resume();
  }

  /**
   * The lane has ended its side. A socket reading into the lane's buffer stops reading when paused
   * (a 'data' socket reads on into its stream's buffer): it must read on, its bytes ignored, to
   * see the client's FIN, which closes it (during shutdown, drain.ts waits for that).
   */
  #readToEnd(): void {
    if (this.#reads !== undefined && this.socket.isPaused()) this.socket.resume();
  }

  /** Idle from now on (nothing owed or on its way): the idle timer runs, if it does not yet. */
  #armIdleTimer(): void {
    if (this.#idleTimer === undefined && this.#host.keepAliveTimeoutMs > 0) this.#idleTimerIn(this.#host.keepAliveTimeoutMs);
  }

  #idleTimerIn(ms: number): void {
    // unref: as a socket's timer, it keeps no process alive
    this.#idleTimer = setTimeout(this.#onIdleCheck, ms).unref();
  }

  /**
   * The idle timer: the connection is destroyed once keepAliveTimeout has passed since its last
   * read or write; else the timer is set again for what is left of it. A response still being
   * sent, a miss loading or requests waiting for the client to read are not idle (node:http has
   * no timer then either); a head on its way is the head timeout's business.
   */
  readonly #onIdleCheck = (): void => {
    this.#idleTimer = undefined;
    if (this.#done) return;
    const timeout = this.#host.keepAliveTimeoutMs;
    if (this.#blocked || this.#miss !== undefined || this.#sending()) {
      this.#idleTimerIn(timeout);
      return;
    }
    const idle = this.#host.clock() - this.#activeAt;
    if (idle >= timeout) this.socket.destroy();
    else this.#idleTimerIn(timeout - idle);
  };

  #block(rest: Buffer): void {
    this.#pending = rest;
    this.#blocked = true;
    this.receivingSince = 0; // waiting for the client to read, not for its head
    this.socket.pause();
    // The stream's 'drain' comes after the handle's queued writes (libuv writes in order);
    // without bytes in the stream, writeDone() says when the handle's are done.
    if (this.socket.writableNeedDrain) this.socket.once('drain', this.#onDrain);
  }

  /** A hit the handle held is written (WriteOwner): once none is left, the requests waiting go on. */
  writeDone(): void {
    this.#activeAt = this.#host.clock();
    if (this.#blocked && this.queuedWrites === 0 && !this.socket.writableNeedDrain) this.#onDrain();
  }

  /** A response is still being sent: bytes in the socket's stream, or hits the handle holds. */
  #sending(): boolean {
    return this.socket.writableLength > 0 || this.queuedWrites > 0;
  }

  readonly #onDrain = (): void => {
    this.#blocked = false;
    if (this.#done) return;
    const now = this.#host.clock();
    this.#activeAt = now; // written
    this.#headReads = 1;
    this.receivingSince = now;
    const pending = this.#pending!;
    this.#process(pending, pending.length, now);
    if (this.#done || this.#blocked) return;
    if (this.#ended) this.#onEnd();
    else this.socket.resume();
  };

  readonly #onEnd = (): void => {
    if (this.#done) return;
    if (this.#blocked) {
      this.#ended = true;
      return;
    }
    if (this.#miss !== undefined) {
      // node:http (httpAllowHalfOpen false) ends its side at the client's FIN, with a response
      // still to come: that response is lost (MissResponse sees the socket not writable).
      this.#done = true;
      this.#pending = undefined;
      this.socket.end();
      return;
    }
    if (this.#pending !== undefined) {
      this.#handOver(this.#pending, true);
      return;
    }
    this.#done = true;
    this.socket.end();
  };

  readonly #onClose = (): void => {
    this.#done = true;
    clearTimeout(this.#idleTimer);
    this.#host.forget(this);
    this.#miss?.destroy(); // a body still streaming stops its source
  };

  #handOver(unread: Buffer | undefined, atEnd: boolean): void {
    this.#done = true;
    this.#pending = undefined;
    const socket = this.socket;
    if (this.#reads === undefined) {
      socket.removeListener('data', this.#onData);
    } else {
      this.#reads.release(socket);
      // node:http may keep what it is given (an upgrade's head): never the lane's buffer.
      if (unread !== undefined && this.#reads.shares(unread)) unread = Buffer.from(unread);
    }
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('error', ignore);
    socket.removeListener('close', this.#onClose);
    if (this.#blocked) socket.removeListener('drain', this.#onDrain);
    clearTimeout(this.#idleTimer);
    this.#host.handOver(this, unread, atEnd, this.#reads !== undefined);
  }
}

/** Socket errors (a reset) destroy the socket; 'close' follows. */
function ignore(): void {}

/** node:http's answer to a head that took longer than headersTimeout. */
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', 'latin1');
