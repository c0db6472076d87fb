/**
 * The response to a request the lane holds while node:http's asset handler answers it (a miss,
 * or a request with Range, If-Range or a conditional: asset.ts runs its lookup, load, plan,
 * counters and access log exactly as for node:http), written by the lane in the bytes node:http
 * would send for the same plan, so the connection stays in the lane for the requests that follow.
 *
 * The head is what ServerResponse.writeHead(status, plan.headers) serialises (node's
 * _storeHeader): the status line with node's reason phrase; a prepared plan's lines and its Age
 * line then its managed headers, or every header in the plan's order, one line per value, as
 * given; `connection: close` in front of them when drain.ts would have set it with setHeader()
 * (shutdown); then node's own Date, and Connection (with Keep-Alive) unless a header said it.
 * Plans from response-plan.ts carry Content-Length on every response with a body, so node adds
 * none (a Buffer body without one gets the Content-Length node's end(body) would give it).
 * test/fast-lane-miss.test.ts holds these bytes to node:http's for fills, 404s, refusals, origin
 * errors, streamed and uncached objects, HEAD, `Connection: close`, shutdown, 304, 412, 206 (one
 * range and multipart), 416 and If-Range.
 *
 * A body in memory (a 206's slice, a multipart body's parts) is written with the head (one writev). Any other body (a fill, a file, an
 * origin stream) goes through a Writable made for it (LaneBody, the sink writePlanBody() pipes
 * into): each chunk is written to the socket and the next taken once the socket drains, so a
 * slow client holds the source back as with node:http. A cut (the source failed, the client
 * went away) destroys the socket, as node:http's res.destroy() does.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { writePlanBody } from '../plan-body.js';
import { isStreamBody, type ResponsePlan, type ResponseSink } from '../response-plan.js';

/** How the response ends the connection: as a hit's (hit-writer.ts). */
export type CloseMode = false | 'client' | 'shutdown';

/** What a miss's response needs of its connection. */
export interface MissOwner {
  readonly socket: Socket;
  /** The close mode now (shutdown may have begun while the load ran). */
  closeMode(): CloseMode;
  /** node:http's Connection and Keep-Alive lines of a keep-alive response. */
  readonly keepAliveLines: string;
  /** The response's last byte was handed to the socket (or it was cut: `cut`). */
  sent(close: CloseMode, cut: boolean): void;
}

export class MissResponse implements ResponseSink {
  readonly protocol = 'http/1.1';
  headersSent = false;
  readonly #owner: MissOwner;
  #close: CloseMode = false;
  #finished = false;
  /** The body's Writable, only for a body read as the client takes it (a fill, a file, a stream). */
  #body: LaneBody | undefined;

  constructor(owner: MissOwner) {
    this.#owner = owner;
  }

  get clientAddress(): string | undefined {
    return this.#owner.socket.remoteAddress;
  }

  sendPlan(plan: ResponsePlan): void {
    const socket = this.#owner.socket;
    this.headersSent = true;
    if (this.#finished || !socket.writable) {
      // The client went away or half-closed during the load (node:http ends its side then, and
      // what it writes after is lost): nothing to send, and an origin stream opened for it is
      // closed (as pipeline() into a destroyed response closes it).
      if (isStreamBody(plan.body)) plan.body.stream.destroy();
      this.destroy();
      return;
    }
    this.#close = this.#owner.closeMode();
    const body = plan.body;
    const head = Buffer.from(serialiseHead(plan, body, this.#close, this.#owner.keepAliveLines), 'latin1');
    if (body === undefined) {
      socket.write(head);
      this.#done(false);
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(head);
      socket.write(body);
      socket.uncork();
      this.#done(false);
    } else if (Array.isArray(body)) {
      socket.cork();
      socket.write(head);
      for (const part of body as readonly Buffer[]) socket.write(part);
      socket.uncork();
      this.#done(false);
    } else {
      socket.write(head);
      const sink = new LaneBody(socket, (cut) => this.#done(cut));
      this.#body = sink;
      writePlanBody(body, sink);
    }
  }

  /** A cut: the socket goes (and a body being read stops its source), as node:http's res.destroy(). */
  destroy(): void {
    if (this.#body !== undefined) this.#body.destroy();
    else {
      this.#owner.socket.destroy();
      this.#done(true);
    }
  }

  #done(cut: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#owner.sent(this.#close, cut);
  }
}

/**
 * A body read as the client takes it: each chunk written to the socket, the next one taken once
 * the socket drains. autoDestroy is off: destroy() here means a cut (the socket with it).
 */
class LaneBody extends Writable {
  readonly #socket: Socket;
  readonly #done: (cut: boolean) => void;

  constructor(socket: Socket, done: (cut: boolean) => void) {
    super({ autoDestroy: false });
    this.#socket = socket;
    this.#done = done;
    this.once('finish', () => done(false));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#socket.write(chunk)) callback();
    else this.#socket.once('drain', () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    this.#done(true);
    callback(error);
  }
}

/** The head node:http's writeHead(plan.status, plan.headers) writes for this response. */
export function serialiseHead(plan: ResponsePlan, body: ResponsePlan['body'], close: CloseMode, keepAliveLines: string): string {
  let head = `HTTP/1.1 ${plan.status} ${STATUS_CODES[plan.status] ?? 'unknown'}\r\n`;
  let headers = plan.headers;
  if (plan.prepared !== undefined) {
    head += `${plan.prepared.lines}age: ${plan.age ?? 0}\r\n`;
    headers = plan.prepared.managed;
  }
  // drain.ts's setHeader('connection', 'close'): node writes headers set before writeHead() first.
  if (close === 'shutdown') head += 'connection: close\r\n';
  let date = false;
  let connection = close === 'shutdown';
  let length = false;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'date') date = true;
    else if (lower === 'connection') connection = true;
    else if (lower === 'content-length' || lower === 'transfer-encoding') length = true;
    if (Array.isArray(value)) for (const one of value) head += `${name}: ${one}\r\n`;
    else head += `${name}: ${String(value)}\r\n`;
  }
  if (!date) head += `Date: ${new Date().toUTCString()}\r\n`;
  if (!connection) head += close === 'client' ? 'Connection: close\r\n' : keepAliveLines;
  if (!length && Buffer.isBuffer(body)) head += `Content-Length: ${body.length}\r\n`;
  return head + '\r\n';
}
