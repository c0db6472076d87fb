/**
 * The HTTP/2 writer of response plans (response-plan.ts): one stream, written with the core
 * API (stream.respond(), not node's compatibility Request/Response objects, which cost an
 * object pair and a header copy per stream). The plan decides everything; this only writes.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { PreparedHead } from './prepared-head.js';
import { writePlanBody } from './plan-body.js';
import type { ResponsePlan, ResponseSink } from './response-plan.js';

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
    writePlanBody(body, stream);
  }
}
