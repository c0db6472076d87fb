/**
 * One HTTP/2 server connection of the lane (RFC 9113): the client's preface and frames read
 * straight from the TLS socket, the connection's state (settings, streams, flow control in
 * both directions) and its limits, and every frame it sends batched into one socket write per
 * read. Requests are handed to the host (asset.ts through server.ts) with a LaneStream as their
 * ResponseSink; nothing here decides an answer.
 *
 * Why hand-written: node:http2 builds a JS Duplex stream, a header object and several events per
 * request and validates and converts every response's headers; that was ~3x nginx's CPU per
 * small hit (bench/RESULTS.md). This connection keeps no per-request object but the stream,
 * and a hit's response is one prepared header block and one DATA frame in the read's write.
 *
 * Strict: any violation of the protocol is a connection error (GOAWAY with the RFC's code, then
 * the connection ends); a malformed request is a stream error (RST_STREAM PROTOCOL_ERROR). The
 * defences and their limits are node:http2's (H2_LIMITS, h2-reset-budget.ts), listed in README.
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../log.js';
import type { H2Limits } from '../h2-limits.js';
import { ResetBudget, RST_FRAME_BUDGET } from '../h2-reset-budget.js';
import type { AssetRequest, ResponseSink } from '../response-plan.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ERROR,
  FLAG,
  FRAME_HEADER,
  goaway,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  pingAck,
  rstStream,
  SETTING,
  settingsFrame,
  SETTINGS_ACK,
  TYPE,
  windowUpdate,
} from './frames.js';
import { HpackDecoder, HpackError, type FieldSink } from './hpack.js';
import { RequestHead } from './request-head.js';
import { LaneStream, type StreamHost } from './stream.js';

/** Connection-level bounds of the lane beyond H2_LIMITS. */
export const LANE_BOUNDS = {
  /** Bytes of one header block, encoded, across CONTINUATION frames (nghttp2's 64 KiB): over it, COMPRESSION_ERROR. */
  maxHeaderBlockBytes: 64 * 1024,
  /** CONTINUATION frames of one header block (nghttp2's 8): over it, ENHANCE_YOUR_CALM (CVE-2024-27316). */
  maxContinuations: 8,
  /** PING and SETTINGS ACKs queued behind a socket that does not drain: over it, ENHANCE_YOUR_CALM (nghttp2's 1000). */
  maxQueuedAcks: 1000,
  /** Bytes waiting in the socket before DATA stops until it drains. */
  sendBufferBytes: 64 * 1024,
  /** Bytes waiting in the socket before the connection stops reading until it drains. */
  pauseReadingBytes: 1024 * 1024,
  /** Received DATA bytes acknowledged with one connection WINDOW_UPDATE. */
  windowUpdateBytes: 32 * 1024,
  /** ms a connection that ended with an error may take to flush its GOAWAY before it is destroyed. */
  closeGraceMs: 1000,
} as const;

/** What a connection needs of the listener. */
export interface LaneConnectionHost {
  readonly limits: H2Limits;
  /** ms without frames before GOAWAY (the keep-alive timeout). */
  readonly idleTimeoutMs: number;
  /** Answers a request; false: not served over HTTP/2 (RST_STREAM HTTP_1_1_REQUIRED). */
  request(req: AssetRequest, res: ResponseSink): boolean;
  /** The connection is gone. */
  forget(connection: LaneConnection): void;
  readonly log: Logger;
}

/** A connection error: GOAWAY with `code`. */
class ConnectionError extends Error {
  constructor(
    readonly h2code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A decoded block nobody will use (trailers, a stream refused or past GOAWAY): the table still follows it. */
const DISCARD: FieldSink = { field() {} };

export class LaneConnection implements StreamHost {
  readonly #socket: TLSSocket;
  readonly #host: LaneConnectionHost;
  readonly #limits: H2Limits;
  readonly #decoder = new HpackDecoder();
  /** Streams reset before they were finished (by either side): rapid reset (CVE-2023-44487). */
  readonly #budget = new ResetBudget();
  /** RST_STREAM frames received, any stream, any code: nghttp2's own limit, so node:http2's. */
  readonly #rstFrames = new ResetBudget(RST_FRAME_BUDGET.burst, RST_FRAME_BUDGET.perSecond);
  readonly #streams = new Map<number, LaneStream>();
  readonly #idle: NodeJS.Timeout;
  /** Bytes read but not yet a whole frame. */
  #pending: Buffer | undefined;
  #prefaceRead = false;
  #settingsRead = false;
  /** The client acknowledged our SETTINGS: streams over the limit are then a connection error. */
  #acknowledged = false;
  /** Highest client stream id seen. */
  #lastStream = 0;
  /** A header block in CONTINUATION frames. */
  #block: { id: number; endStream: boolean; parts: Buffer[]; bytes: number; frames: number } | undefined;
  /** The client's SETTINGS_INITIAL_WINDOW_SIZE. */
  #initialWindow = DEFAULT_WINDOW;
  #maxFrame = DEFAULT_MAX_FRAME;
  #sendWindow = DEFAULT_WINDOW;
  #recvWindow = DEFAULT_WINDOW;
  #consumed = 0;
  /** Frames to write at the end of this read (or this tick). */
  #out: Buffer[] = [];
  #outBytes = 0;
  #reading = false;
  #flushQueued = false;
  /** Streams with DATA waiting for the connection window or the socket. */
  #waiting: LaneStream[] = [];
  /** In #pump (see there). */
  #pumping = false;
  #acks = 0;
  #invalid = 0;
  #refused = 0;
  /** GOAWAY sent: no new streams; the connection ends when the last one does. */
  #goingAway = false;
  /** Ended (error or closed socket): nothing more is read or written. */
  #dead = false;
  #forgotten = false;

  constructor(socket: TLSSocket, host: LaneConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    this.#limits = host.limits;
    socket.setNoDelay(true);
    this.#idle = setTimeout(() => this.close(), host.idleTimeoutMs);
    this.#idle.unref();
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('drain', () => this.#drained());
    socket.on('error', (err) => host.log.debug({ event: 'h2_lane_socket_error', code: (err as NodeJS.ErrnoException).code }));
    socket.on('close', () => this.#gone());
    const limits = this.#limits;
    this.push(
      settingsFrame([
        [SETTING.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [SETTING.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
        [SETTING.ENABLE_PUSH, 0],
      ]),
    );
  }

  // ------------------------------------------------------------------------------ StreamHost

  get maxFrame(): number {
    return this.#maxFrame;
  }

  get sendWindow(): number {
    return this.#sendWindow;
  }

  get blocked(): boolean {
    return this.#outBytes + this.#socket.writableLength >= LANE_BOUNDS.sendBufferBytes;
  }

  get clientAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  push(bytes: Buffer): void {
    if (this.#dead) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#reading && !this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  spend(bytes: number): void {
    this.#sendWindow -= bytes;
  }

  wait(stream: LaneStream): void {
    if (!this.#waiting.includes(stream)) this.#waiting.push(stream);
    if (!this.#reading) this.#pump();
  }

  reset(stream: LaneStream, code: number): void {
    if (stream.isReset) return;
    this.push(rstStream(stream.id, code));
    this.#drop(stream);
    if (code !== ERROR.NO_ERROR) this.#spendReset();
  }

  closed(stream: LaneStream): void {
    if (this.#streams.delete(stream.id)) this.#endIfDone();
  }

  // ------------------------------------------------------------------------------ lifecycle

  /** Streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Graceful close: GOAWAY NO_ERROR; streams in flight finish, then the connection ends. */
  close(): void {
    if (this.#dead || this.#goingAway) return;
    this.#goingAway = true;
    this.push(goaway(this.#lastStream, ERROR.NO_ERROR));
    this.#endIfDone();
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.#socket.destroy();
    this.#gone();
  }

  #endIfDone(): void {
    if (this.#goingAway && this.#streams.size === 0 && !this.#dead) {
      this.#flush();
      this.#dead = true;
      this.#socket.end();
      this.#forceCloseLater();
    }
  }

  /** GOAWAY `code` and the end; `calm`: a flood, the socket is destroyed at once. */
  #fail(code: number, why: string, calm = false): void {
    if (this.#dead) return;
    this.#host.log.debug({ event: 'h2_lane_error', code, why, client: this.#socket.remoteAddress });
    // Frames queued before the error go first: answers to the streams before it are owed.
    this.#reading = false;
    this.push(goaway(this.#lastStream, code));
    this.#flush();
    this.#dead = true;
    for (const stream of [...this.#streams.values()]) stream.abort();
    this.#streams.clear();
    if (calm) {
      this.#socket.destroy();
    } else {
      this.#socket.end();
      this.#forceCloseLater();
    }
  }

  #forceCloseLater(): void {
    setTimeout(() => this.#socket.destroy(), LANE_BOUNDS.closeGraceMs).unref();
  }

  #gone(): void {
    if (this.#forgotten) return;
    this.#forgotten = true;
    this.#dead = true;
    clearTimeout(this.#idle);
    for (const stream of [...this.#streams.values()]) stream.abort();
    this.#streams.clear();
    this.#waiting = [];
    this.#host.forget(this);
  }

  // ------------------------------------------------------------------------------ writing

  #flush(): void {
    this.#flushQueued = false;
    for (;;) {
      if (this.#out.length === 0 || this.#socket.destroyed) {
        this.#out = [];
        this.#outBytes = 0;
        return;
      }
      const out = this.#out;
      this.#out = [];
      this.#outBytes = 0;
      this.#write(out);
      // A client that does not read: stop reading it until it does (bounded memory).
      if (this.#socket.writableLength >= LANE_BOUNDS.pauseReadingBytes) this.#socket.pause();
      // DATA that waited for room in this write goes now; else 'drain' or a WINDOW_UPDATE wakes it.
      if (this.#waiting.length === 0 || this.blocked || this.#sendWindow <= 0) return;
      this.#pump();
    }
  }

  /**
   * One socket write of the frames: one buffer as it is; several (frame headers beside views
   * of cached bodies) corked into one writev, which node's TLS copies into one SSL_write (records
   * of 16 KiB, not one per piece) in memory of its own, freed when the write returns. Not
   * Buffer.concat: that made a new ArrayBuffer per write, counted as V8 external memory; under a
   * slow reader those outlived scavenges and the external-memory limit then forced a full
   * mark-compact every few hundred ms, twice the CPU per Zipf request (bench/RESULTS.md).
   */
  #write(out: Buffer[]): void {
    const socket = this.#socket;
    if (out.length === 1) {
      socket.write(out[0]!);
      return;
    }
    socket.cork();
    for (const piece of out) socket.write(piece);
    socket.uncork();
  }

  #drained(): void {
    this.#acks = 0;
    if (this.#dead) return;
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#pump();
    this.#flush();
  }

  /**
   * Streams send what the windows and the socket allow, in turn. Not re-entered: a stream's pump
   * calls its body's write callback, which can write the next chunk at once (node's Writable
   * clears its buffer inside the callback) and so call wait(); a nested pass would take streams
   * off the list under this one's index, and this one then took off a stream that still had
   * DATA, which nothing woke again (an h2load warm-up of fills hung so under load). Streams
   * waiting meanwhile are appended and reached by this pass.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      let i = 0;
      while (i < this.#waiting.length) {
        if (this.blocked || this.#sendWindow <= 0) break;
        const stream = this.#waiting[i]!;
        const state = stream.isReset ? 'done' : stream.pump();
        if (state === 'connection') break;
        this.#waiting.splice(i, 1); // done, or waits for its own WINDOW_UPDATE
      }
    } finally {
      this.#pumping = false;
    }
  }

  #ack(frame: Buffer): void {
    if (this.#socket.writableLength === 0) this.#acks = 0;
    if (++this.#acks > LANE_BOUNDS.maxQueuedAcks) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'ACKs not read (PING or SETTINGS flood)');
    this.push(frame);
  }

  #drop(stream: LaneStream): void {
    stream.abort();
    if (this.#streams.delete(stream.id)) this.#endIfDone();
  }

  /** A stream reset; out of budget, the connection ends (thrown while reading, else at once). */
  #spendReset(): void {
    if (this.#budget.spend()) return;
    this.#host.log.warn({ event: 'h2_rapid_reset', client: this.#socket.remoteAddress });
    if (this.#reading) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'rapid reset');
    this.#fail(ERROR.ENHANCE_YOUR_CALM, 'rapid reset', true);
  }

  // ------------------------------------------------------------------------------ reading

  #read(chunk: Buffer): void {
    if (this.#dead) return;
    this.#idle.refresh();
    let buffer = chunk;
    if (this.#pending !== undefined) {
      buffer = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    this.#reading = true;
    let pos = 0;
    try {
      pos = this.#frames(buffer);
    } catch (err) {
      this.#reading = false;
      if (err instanceof ConnectionError) this.#fail(err.h2code, err.message, err.h2code === ERROR.ENHANCE_YOUR_CALM);
      else if (err instanceof HpackError) this.#fail(ERROR.COMPRESSION_ERROR, err.message);
      else {
        this.#host.log.error({ event: 'h2_lane_failed', err });
        this.#fail(ERROR.INTERNAL_ERROR, 'internal error');
      }
      return;
    }
    this.#reading = false;
    if (pos < buffer.length && !this.#dead) this.#pending = buffer.subarray(pos);
    this.#pump();
    this.#flush();
  }

  /** Acts on every whole frame of `buf`; returns where the unread rest starts. */
  #frames(buf: Buffer): number {
    let pos = 0;
    if (!this.#prefaceRead) {
      const n = Math.min(buf.length, CLIENT_PREFACE.length);
      if (buf.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'not the HTTP/2 preface');
      if (buf.length < CLIENT_PREFACE.length) return 0;
      pos = CLIENT_PREFACE.length;
      this.#prefaceRead = true;
    }
    while (!this.#dead && buf.length - pos >= FRAME_HEADER) {
      const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      // Our SETTINGS_MAX_FRAME_SIZE is the default: anything longer is a connection error (§4.2).
      if (length > DEFAULT_MAX_FRAME) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'frame over 16384 bytes');
      if (buf.length - pos < FRAME_HEADER + length) break;
      const type = buf[pos + 3]!;
      const flags = buf[pos + 4]!;
      const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const p = pos + FRAME_HEADER;
      pos = p + length;
      if (this.#block !== undefined && type !== TYPE.CONTINUATION) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'frame inside a header block');
      if (!this.#settingsRead && (type !== TYPE.SETTINGS || (flags & FLAG.ACK) !== 0)) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'first frame not SETTINGS');
      switch (type) {
        case TYPE.DATA:
          this.#data(buf, p, length, flags, id);
          break;
        case TYPE.HEADERS:
          this.#headers(buf, p, length, flags, id);
          break;
        case TYPE.PRIORITY:
          if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'PRIORITY on stream 0');
          if (length !== 5) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'PRIORITY not 5 bytes');
          if ((buf.readUInt32BE(p) & 0x7fffffff) === id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'stream depends on itself');
          break;
        case TYPE.RST_STREAM:
          this.#rstStream(buf, p, length, id);
          break;
        case TYPE.SETTINGS:
          this.#settings(buf, p, length, flags, id);
          break;
        case TYPE.PUSH_PROMISE:
          throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
        case TYPE.PING:
          if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'PING on a stream');
          if (length !== 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'PING not 8 bytes');
          if ((flags & FLAG.ACK) === 0) this.#ack(pingAck(buf, p));
          break;
        case TYPE.GOAWAY:
          if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream');
          if (length < 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'GOAWAY under 8 bytes');
          // The client leaves: streams it started finish, no new ones.
          this.#goingAway = true;
          this.#endIfDone();
          break;
        case TYPE.WINDOW_UPDATE:
          this.#windowUpdate(buf, p, length, id);
          break;
        case TYPE.CONTINUATION:
          this.#continuation(buf, p, length, flags, id);
          break;
        default:
          break; // unknown frame types are ignored (§4.1, §5.5)
      }
    }
    return pos;
  }

  #settings(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & FLAG.ACK) !== 0) {
      if (length !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      this.#acknowledged = true;
      return;
    }
    if (length % 6 !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'SETTINGS not a multiple of 6 bytes');
    for (let at = p; at < p + length; at += 6) {
      const setting = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      switch (setting) {
        case SETTING.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'ENABLE_PUSH not 0 or 1');
          break;
        case SETTING.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE over 2^31-1');
          const delta = value - this.#initialWindow;
          this.#initialWindow = value;
          for (const stream of this.#streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'stream window over 2^31-1');
            if (delta > 0 && stream.waiting && !this.#waiting.includes(stream)) this.#waiting.push(stream);
          }
          break;
        }
        case SETTING.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'MAX_FRAME_SIZE out of range');
          this.#maxFrame = value;
          break;
        default:
          break; // HEADER_TABLE_SIZE: our encoder never indexes; the others are advisory or unknown
      }
    }
    this.#settingsRead = true;
    this.#ack(SETTINGS_ACK);
  }

  #headers(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = p;
    let end = p + length;
    if ((flags & FLAG.PADDED) !== 0) {
      if (length < 1) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'PADDED HEADERS without a pad length');
      end -= buf[p]!;
      start++;
    }
    if ((flags & FLAG.PRIORITY) !== 0) {
      if (end - start < 5) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      if ((buf.readUInt32BE(start) & 0x7fffffff) === id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'stream depends on itself');
      start += 5;
    }
    if (end < start) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'padding past the frame');
    const endStream = (flags & FLAG.END_STREAM) !== 0;
    if ((flags & FLAG.END_HEADERS) !== 0) {
      this.#request(id, endStream, buf, start, end);
      return;
    }
    if (end - start > LANE_BOUNDS.maxHeaderBlockBytes) throw new ConnectionError(ERROR.COMPRESSION_ERROR, 'header block too large');
    this.#block = { id, endStream, parts: [Buffer.from(buf.subarray(start, end))], bytes: end - start, frames: 0 };
  }

  #continuation(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    const block = this.#block;
    if (block === undefined || block.id !== id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    block.bytes += length;
    block.frames++;
    // CONTINUATION flood (CVE-2024-27316): the block is bounded in bytes and in frames.
    if (block.bytes > LANE_BOUNDS.maxHeaderBlockBytes) throw new ConnectionError(ERROR.COMPRESSION_ERROR, 'header block too large');
    if (block.frames > LANE_BOUNDS.maxContinuations) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'too many CONTINUATION frames');
    block.parts.push(Buffer.from(buf.subarray(p, p + length)));
    if ((flags & FLAG.END_HEADERS) === 0) return;
    this.#block = undefined;
    const whole = Buffer.concat(block.parts, block.bytes);
    this.#request(id, block.endStream, whole, 0, whole.length);
  }

  /** A whole header block: trailers of an open stream, or a new request. */
  #request(id: number, endStream: boolean, block: Buffer, start: number, end: number): void {
    const limits = this.#limits;
    const existing = this.#streams.get(id);
    if (existing !== undefined || id <= this.#lastStream) {
      // Trailers: decoded for the table and dropped; they must end the stream (§8.1).
      this.#decoder.decode(block, start, end, DISCARD, limits.maxHeaderListSize);
      if (existing === undefined) {
        if (id % 2 === 1) throw new ConnectionError(ERROR.STREAM_CLOSED, 'HEADERS on a closed stream');
        throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'even stream id');
      }
      if (existing.remoteClosed) throw new ConnectionError(ERROR.STREAM_CLOSED, 'HEADERS after END_STREAM');
      if (!endStream) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'trailers without END_STREAM');
      this.#endOfBody(existing);
      return;
    }
    if (id % 2 === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'even stream id');
    this.#lastStream = id;
    if (this.#goingAway) {
      // After our GOAWAY (or the client's) no stream starts; the block still feeds the table.
      this.#decoder.decode(block, start, end, DISCARD, limits.maxHeaderListSize);
      return;
    }
    const head = new RequestHead();
    const fits = this.#decoder.decode(block, start, end, head, limits.maxHeaderListSize);
    if (!fits || head.fields > limits.maxHeaderListPairs) {
      this.#refuse(id, ERROR.ENHANCE_YOUR_CALM);
      return;
    }
    const req = head.request();
    // A content-length with no body to follow that is not 0 (§8.1.1), as nghttp2 checks it.
    const length = req?.method === 'CONNECT' ? -1 : head.contentLength;
    if (req === undefined || (endStream && length > 0)) {
      this.#refuse(id, ERROR.PROTOCOL_ERROR); // malformed (§8.1.1)
      return;
    }
    if (this.#streams.size >= limits.maxConcurrentStreams) {
      // §5.1.2: REFUSED_STREAM while the client may not know the limit yet; after, its fault.
      if (this.#acknowledged) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'over SETTINGS_MAX_CONCURRENT_STREAMS');
      if (++this.#refused > limits.maxSessionRejectedStreams) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'too many refused streams');
      this.push(rstStream(id, ERROR.REFUSED_STREAM));
      return;
    }
    const stream = new LaneStream(this, id, this.#initialWindow, DEFAULT_WINDOW, endStream, length);
    this.#streams.set(id, stream);
    let served: boolean;
    try {
      served = this.#host.request(req, stream);
    } catch (err) {
      if (err instanceof ConnectionError) throw err;
      // A fault of ours answering one request ends that stream, not the connection.
      this.#host.log.error({ event: 'h2_lane_request_failed', err });
      this.reset(stream, ERROR.INTERNAL_ERROR);
      return;
    }
    if (!served) this.reset(stream, ERROR.HTTP_1_1_REQUIRED);
  }

  /** RST_STREAM for a stream that never started (it counts as reset). */
  #refuse(id: number, code: number): void {
    this.push(rstStream(id, code));
    this.#spendReset();
  }

  #data(buf: Buffer, p: number, length: number, flags: number, id: number): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    if (id > this.#lastStream) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'DATA on an idle stream');
    if ((flags & FLAG.PADDED) !== 0 && (length < 1 || buf[p]! >= length)) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'padding past the frame');
    // Flow control counts the whole frame, padding included (§6.9.1).
    if (length > this.#recvWindow) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'DATA over the connection window');
    this.#recvWindow -= length;
    this.#consumed += length;
    if (this.#consumed >= LANE_BOUNDS.windowUpdateBytes) {
      // A body is discarded as it arrives: the connection's window comes back at once.
      this.push(windowUpdate(0, this.#consumed));
      this.#recvWindow += this.#consumed;
      this.#consumed = 0;
    }
    const endStream = (flags & FLAG.END_STREAM) !== 0;
    if (length === 0 && !endStream) this.#invalidFrame();
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      this.#invalidFrame(); // a stream that is closed or was reset: ignored, but counted
      return;
    }
    if (stream.remoteClosed) throw new ConnectionError(ERROR.STREAM_CLOSED, 'DATA after END_STREAM');
    // The stream's window is never given back: a request body is bounded by it, then discarded.
    if (length > stream.recvWindow) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'DATA over the stream window');
    stream.recvWindow -= length;
    // The body against the request's content-length (§8.1.1), padding not counted, as nghttp2 does.
    stream.bodyBytes += (flags & FLAG.PADDED) !== 0 ? length - 1 - buf[p]! : length;
    if (stream.contentLength !== -1 && stream.bodyBytes > stream.contentLength) {
      this.reset(stream, ERROR.PROTOCOL_ERROR);
      return;
    }
    if (endStream) this.#endOfBody(stream);
  }

  /** The client ended the stream: a body shorter than its content-length makes the request malformed. */
  #endOfBody(stream: LaneStream): void {
    if (stream.contentLength !== -1 && stream.bodyBytes !== stream.contentLength) {
      this.reset(stream, ERROR.PROTOCOL_ERROR);
      return;
    }
    stream.remoteClose();
  }

  #invalidFrame(): void {
    if (++this.#invalid > this.#limits.maxSessionInvalidFrames) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'too many invalid frames');
  }

  #rstStream(buf: Buffer, p: number, length: number, id: number): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'RST_STREAM not 4 bytes');
    if (id > this.#lastStream) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const code = buf.readUInt32BE(p);
    // nghttp2 counts every RST_STREAM it receives (1000, then 33/s), so node:http2 does too.
    if (!this.#rstFrames.spend()) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'RST_STREAM flood');
    const stream = this.#streams.get(id);
    if (stream === undefined) return; // finished (both sides ended) or reset before: no work was cut short
    this.#drop(stream);
    // Rapid reset (CVE-2023-44487): a stream cut before the server finished it, as node:http2's
    // session counts it (its 'close' with an error code); one already answered is not.
    if (code !== ERROR.NO_ERROR) this.#spendReset();
  }

  #windowUpdate(buf: Buffer, p: number, length: number, id: number): void {
    if (length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'WINDOW_UPDATE not 4 bytes');
    const increment = buf.readUInt32BE(p) & 0x7fffffff;
    if (increment === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    if (id === 0) {
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      return;
    }
    if (id > this.#lastStream) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    const stream = this.#streams.get(id);
    if (stream === undefined) return; // closed: allowed to arrive late
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'stream window over 2^31-1');
    if (stream.waiting && !this.#waiting.includes(stream)) this.#waiting.push(stream);
  }
}

