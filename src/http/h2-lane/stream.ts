/**
 * One request stream of an HTTP/2 lane connection, and the writer of its ResponsePlan: the plan
 * decides everything (response-plan.ts), this only turns it into HEADERS and DATA frames.
 *
 * A hit's header block is encoded once per prepared head (http/prepared-head.ts) and sent
 * with its :status, Age and Date fields put in front of it, so a hit costs no header object,
 * no validation and no encoding of its 13 headers. Other plans are encoded field by field.
 * A body in memory goes out as DATA frames as the flow-control windows allow (for a small hit,
 * HEADERS and DATA in one buffer); a Fill, a file or an origin stream is written through a
 * Writable (LaneBody) whose callbacks wait for the frames to be handed to the socket, so the
 * source is read only as fast as the client takes it (plan-body.ts pipes it).
 */
import { Writable } from 'node:stream';
import type { OutgoingHttpHeaders } from 'node:http';
import type { PreparedHead } from '../prepared-head.js';
import { writePlanBody } from '../plan-body.js';
import type { ResponsePlan, ResponseSink } from '../response-plan.js';
import { ERROR, FLAG, FRAME_HEADER, frameHeader, TYPE, writeFrameHeader } from './frames.js';
import { encodeField, encodeStatus } from './hpack.js';

/** What a stream needs of its connection. */
export interface StreamHost {
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrame: number;
  /** Bytes the connection-level window allows now. */
  readonly sendWindow: number;
  /** Whether the socket's buffer is full: no DATA until it drains. */
  readonly blocked: boolean;
  readonly clientAddress: string | undefined;
  /** Queues bytes for the socket (flushed once per read, or at the end of this tick). */
  push(bytes: Buffer): void;
  /** `bytes` of DATA were sent: taken from the connection window. */
  spend(bytes: number): void;
  /** The stream has DATA waiting for window or socket room. */
  wait(stream: LaneStream): void;
  /** RST_STREAM `code` for the stream (which is closed with it). */
  reset(stream: LaneStream, code: number): void;
  /** Both sides are done: the stream no longer counts. */
  closed(stream: LaneStream): void;
}

/** A chunk of body waiting to be sent, and who to tell once it was. */
interface Pending {
  bytes: Buffer;
  done: (() => void) | undefined;
}

export class LaneStream implements ResponseSink {
  readonly id: number;
  /** Bytes our DATA may still carry on this stream (the client's window for it). */
  sendWindow: number;
  /** Request body bytes the client may still send (never replenished: a body is discarded). */
  recvWindow: number;
  /** The request's content-length, -1 without one; its DATA must add up to it (connection.ts). */
  readonly contentLength: number;
  /** Request body bytes received (padding not counted). */
  bodyBytes = 0;
  readonly #host: StreamHost;
  #headersSent = false;
  /** The client has ended its side (END_STREAM). */
  #remoteClosed: boolean;
  /** Our side is ended (END_STREAM sent) or the stream was reset. */
  #localClosed = false;
  #reset = false;
  readonly #queue: Pending[] = [];
  /** END_STREAM follows the queue; `#onEnd` is told once it went out. */
  #ending = false;
  #onEnd: (() => void) | undefined;
  #body: LaneBody | undefined;

  constructor(host: StreamHost, id: number, sendWindow: number, recvWindow: number, remoteClosed: boolean, contentLength = -1) {
    this.#host = host;
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.contentLength = contentLength;
    this.#remoteClosed = remoteClosed;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  get clientAddress(): string | undefined {
    return this.#host.clientAddress;
  }

  get protocol(): 'h2' {
    return 'h2';
  }

  get remoteClosed(): boolean {
    return this.#remoteClosed;
  }

  /** RST_STREAM INTERNAL_ERROR: the response was underway and cannot be completed. */
  destroy(): void {
    if (!this.#reset && !this.#localClosed) this.#host.reset(this, ERROR.INTERNAL_ERROR);
  }

  sendPlan(plan: ResponsePlan): void {
    if (this.#reset || this.#headersSent) return;
    this.#headersSent = true;
    const pieces = plan.prepared !== undefined ? hitBlock(plan.prepared, plan.age ?? 0) : planBlock(plan.status, plan.headers);
    let length = 0;
    for (const piece of pieces) length += piece.length;
    const body = plan.body;
    const host = this.#host;
    if (Buffer.isBuffer(body) && body.length > 0 && length <= host.maxFrame && body.length <= host.maxFrame && body.length <= this.sendWindow && body.length <= host.sendWindow && !host.blocked) {
      // The common hit: HEADERS and the whole body in one DATA frame. A small one in one buffer
      // (from node's pool); a larger body stays a view, copied once by the socket's writev, as
      // a buffer of its own per response would be V8 external memory (connection.ts #write).
      const whole = body.length <= INLINE_BODY_BYTES;
      const out = Buffer.allocUnsafe(2 * FRAME_HEADER + length + (whole ? body.length : 0));
      writeFrameHeader(out, 0, length, TYPE.HEADERS, FLAG.END_HEADERS, this.id);
      let at = FRAME_HEADER;
      for (const piece of pieces) at += piece.copy(out, at);
      writeFrameHeader(out, at, body.length, TYPE.DATA, FLAG.END_STREAM, this.id);
      this.sendWindow -= body.length;
      host.spend(body.length);
      if (whole) {
        body.copy(out, at + FRAME_HEADER);
        host.push(out);
      } else {
        host.push(out);
        host.push(body);
      }
      this.#endLocal();
      return;
    }
    const block = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length);
    if (block.length > host.maxFrame) {
      host.push(headersFrames(this.id, block, body === undefined, host.maxFrame));
      if (body === undefined) this.#endLocal();
      else this.#sendBody(body);
      return;
    }
    if (body === undefined) {
      host.push(frame(block, TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, this.id));
      this.#endLocal();
      return;
    }
    host.push(frame(block, TYPE.HEADERS, FLAG.END_HEADERS, this.id));
    this.#sendBody(body);
  }

  #sendBody(body: Exclude<ResponsePlan['body'], undefined>): void {
    if (Buffer.isBuffer(body) || Array.isArray(body)) {
      // In memory: queued whole with its END_STREAM, sent as the windows allow.
      for (const part of Buffer.isBuffer(body) ? [body] : (body as readonly Buffer[])) if (part.length > 0) this.#queue.push({ bytes: part, done: undefined });
      this.#ending = true;
      this.#host.wait(this);
    } else {
      this.#body = new LaneBody(this);
      writePlanBody(body, this.#body);
    }
  }

  /** Queues body bytes; `done` once they were handed to the socket. */
  enqueue(bytes: Buffer, done: () => void): void {
    this.#enqueue(bytes, done);
  }

  #enqueue(bytes: Buffer, done: (() => void) | undefined): void {
    if (this.#reset) {
      done?.();
      return;
    }
    if (bytes.length === 0) {
      done?.();
      return;
    }
    this.#queue.push({ bytes, done });
    this.#host.wait(this);
  }

  /** END_STREAM after what is queued; `done` once it went out. */
  end(done: (() => void) | undefined): void {
    this.#end(done);
  }

  #end(done: (() => void) | undefined): void {
    if (this.#reset) {
      done?.();
      return;
    }
    this.#ending = true;
    this.#onEnd = done;
    this.#host.wait(this);
  }

  /**
   * Sends what the windows and the socket allow. Returns false while DATA is still waiting
   * for the stream's own window (a WINDOW_UPDATE for it will wake it).
   */
  pump(): 'done' | 'stream-window' | 'connection' {
    const host = this.#host;
    while (this.#queue.length > 0) {
      if (host.blocked || host.sendWindow <= 0) return 'connection';
      if (this.sendWindow <= 0) return 'stream-window';
      const head = this.#queue[0]!;
      const take = Math.min(head.bytes.length, host.maxFrame, this.sendWindow, host.sendWindow);
      const last = take === head.bytes.length && this.#queue.length === 1 && this.#ending;
      // The frame's header and a view of the body: the write's one concat is the only copy.
      host.push(frameHeader(take, TYPE.DATA, last ? FLAG.END_STREAM : 0, this.id));
      host.push(take === head.bytes.length ? head.bytes : head.bytes.subarray(0, take));
      this.sendWindow -= take;
      host.spend(take);
      if (take === head.bytes.length) {
        this.#queue.shift();
        head.done?.();
        if (last) {
          this.#finished();
          return 'done';
        }
      } else {
        head.bytes = head.bytes.subarray(take);
      }
    }
    if (this.#ending && !this.#localClosed) {
      host.push(frame(EMPTY, TYPE.DATA, FLAG.END_STREAM, this.id));
      this.#finished();
    }
    return 'done';
  }

  #finished(): void {
    const done = this.#onEnd;
    this.#onEnd = undefined;
    this.#endLocal();
    done?.();
  }

  /** Whether there is anything to send. */
  get waiting(): boolean {
    return !this.#reset && (this.#queue.length > 0 || (this.#ending && !this.#localClosed));
  }

  #endLocal(): void {
    this.#localClosed = true;
    if (this.#remoteClosed) this.#host.closed(this);
  }

  /** The client ended its side. */
  remoteClose(): void {
    if (this.#remoteClosed) return;
    this.#remoteClosed = true;
    if (this.#localClosed) this.#host.closed(this);
  }

  /**
   * The stream is reset (by the client, by us, or the connection is gone): queued bytes are
   * dropped and a body source is destroyed with its Writable.
   */
  abort(): void {
    if (this.#reset) return;
    this.#reset = true;
    this.#localClosed = true;
    this.#remoteClosed = true;
    const queue = this.#queue.splice(0);
    for (const pending of queue) pending.done?.();
    const onEnd = this.#onEnd;
    this.#onEnd = undefined;
    onEnd?.();
    if (this.#body !== undefined && !this.#body.destroyed) this.#body.destroy();
  }

  get isReset(): boolean {
    return this.#reset;
  }
}

/** The body of a stream for a source that is read as the client takes it (plan-body.ts). */
class LaneBody extends Writable {
  readonly #stream: LaneStream;

  constructor(stream: LaneStream) {
    super({ highWaterMark: 64 * 1024 });
    this.#stream = stream;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#stream.enqueue(chunk, () => callback(this.#stream.isReset ? new Error('stream reset') : null));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#stream.end(() => callback(this.#stream.isReset ? new Error('stream reset') : null));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A source that failed part-way: RST_STREAM, never a short body that looks whole.
    this.#stream.destroy();
    callback(error);
  }
}

const EMPTY = Buffer.alloc(0);
/** Bodies up to this size are copied beside their headers: the buffer still comes from node's pool (Buffer.poolSize / 2). */
const INLINE_BODY_BYTES = 2 * 1024;

function frame(payload: Buffer, type: number, flags: number, id: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, id);
  payload.copy(out, FRAME_HEADER);
  return out;
}

function headersFrames(id: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length; at += maxFrame) {
    const part = block.subarray(at, at + maxFrame);
    const first = at === 0;
    const last = at + maxFrame >= block.length;
    parts.push(frame(part, first ? TYPE.HEADERS : TYPE.CONTINUATION, (last ? FLAG.END_HEADERS : 0) | (first && endStream ? FLAG.END_STREAM : 0), id));
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Header blocks
// ---------------------------------------------------------------------------------------------

/** node:http2 sends a Date on every response (its cached utcDate()); so does the lane. */
let dateSecond = -1;
let dateField: Buffer = Buffer.alloc(0);

function date(): Buffer {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = encodeField('date', new Date(second * 1000).toUTCString());
  }
  return dateField;
}

/** A hit's fields but :status, Age and Date, encoded once per prepared head. */
const hitFields = new WeakMap<PreparedHead, Buffer>();
/** Age fields of small values, encoded once. */
const ageFields: Buffer[] = [];

function ageField(age: number): Buffer {
  if (age < 1024) return (ageFields[age] ??= encodeField('age', String(age)));
  return encodeField('age', String(age));
}

const STATUS_200 = encodeStatus(200);

/** A hit's header block in pieces (copied once, into the frame). */
function hitBlock(prepared: PreparedHead, age: number): Buffer[] {
  let fields = hitFields.get(prepared);
  if (fields === undefined) {
    fields = encodeHeaders(prepared.all, true);
    hitFields.set(prepared, fields);
  }
  return [STATUS_200, fields, ageField(age), date()];
}

function planBlock(status: number, headers: Readonly<OutgoingHttpHeaders>): Buffer[] {
  return [encodeStatus(status), encodeHeaders(headers, false), date()];
}

/** Names node:http2 refuses in a response (RFC 9113 §8.2.2); a plan never has them. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Fields as literals without indexing, names lower-cased as node:http2 sends them. A value with
 * CR, LF or NUL throws, as respond() would: the plan's author made a mistake, never the client.
 */
function encodeHeaders(headers: Readonly<OutgoingHttpHeaders>, skipAgeAndDate: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const [rawName, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (name === 'date' || (skipAgeAndDate && name === 'age') || CONNECTION_HEADERS.has(name) || name.startsWith(':')) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      const text = String(one);
      if (/[\0\r\n]/.test(text)) throw new TypeError(`invalid value for response header ${name}`);
      parts.push(encodeField(name, text));
    }
  }
  return Buffer.concat(parts);
}
