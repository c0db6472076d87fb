/**
 * The HTTP/2 writer of response plans (response-plan.ts): one stream, written with the core
 * API (stream.respond(), not node's compatibility Request/Response objects, which cost an
 * object pair and a header copy per stream). The plan decides everything; this only writes.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { pipeline } from 'node:stream';
import { pumpFill } from './fill-stream.js';
import type { PreparedHead } from './prepared-head.js';
import { isFileBody, isFillBody, isStreamBody, type ResponsePlan, type ResponseSink } from './response-plan.js';

/**
 * One header object per prepared hit head, reused: stream.respond() serialises its headers
 * before it returns, so setting `age` and `:status` on a shared object per response is safe
 * and saves copying 13 headers per hit.
 */
const hitHeaders = new WeakMap<PreparedHead, OutgoingHttpHeaders>();

export class H2Response implements ResponseSink {
  readonly #stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream; // its 'error' (a reset) is handled by tls-listener.ts
  }

  get headersSent(): boolean {
    return this.#stream.headersSent;
  }

  get clientAddress(): string | undefined {
    return this.#stream.session?.socket?.remoteAddress;
  }

  get protocol(): 'h2' {
    return 'h2';
  }

  /** RST_STREAM INTERNAL_ERROR: the response was underway and cannot be completed. */
  destroy(): void {
    this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  sendPlan(plan: ResponsePlan): void {
    const stream = this.#stream;
    if (stream.destroyed) return;
    let headers: OutgoingHttpHeaders;
    if (plan.prepared !== undefined) {
      headers = hitHeaders.get(plan.prepared) ?? { ...plan.prepared.all };
      hitHeaders.set(plan.prepared, headers);
      headers.age = String(plan.age ?? 0);
    } else {
      headers = { ...plan.headers };
    }
    headers[':status'] = plan.status;
    const body = plan.body;
    if (body === undefined) {
      stream.respond(headers, { endStream: true });
      return;
    }
    stream.respond(headers);
    if (Buffer.isBuffer(body)) {
      stream.end(body);
    } else if (isFillBody(body)) {
      void pumpFill(body.fill, stream, body.start, body.end);
    } else if (isFileBody(body)) {
      // Piped, not respondWithFD: the disk tier's stream counts what it reads and fails on a
      // short file, and pipeline() resets the stream on that error or closes the file on a reset.
      pipeline(body.file.read(body.start, body.end), stream, () => {});
    } else if (isStreamBody(body)) {
      // Backpressure end to end (the stream's flow-control window); a reset destroys the origin stream.
      pipeline(body.stream, stream, (err) => {
        if (err) body.onError(err);
      });
    } else {
      for (const part of body) stream.write(part);
      stream.end();
    }
  }
}
