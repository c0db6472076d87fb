/**
 * A response head serialised once per cached representation instead of once per request.
 *
 * Why this is hand-written: node:http validates every header name and value with a regular
 * expression, lower-cases each name and concatenates the lines on every writeHead(). For a hit
 * with hashedge's 13 headers that was ~45,000 of the ~210,000 instructions a small hit cost
 * (callgrind, see bench/RESULTS.md), more than the whole asset handler. A PreparedHead
 * validates its headers once (with node:http's own public validators) and keeps them as one
 * string; EdgeResponse hands node:http that string together with the status line.
 *
 * node:http still writes the head itself: the framing headers it acts on (Content-Length,
 * Connection, Date, ...) are never prepared, they go through writeHead() as usual, so node
 * decides keep-alive, Date and Keep-Alive exactly as for any other response. The one internal
 * this relies on is `OutgoingMessage.prototype._storeHeader(firstLine, headers)`, which
 * writeHead() has called since Node 0.x; where it is missing, writePreparedHead() falls back
 * to a plain writeHead() with the same headers.
 */
import { ServerResponse, validateHeaderName, validateHeaderValue, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';

/** Headers node:http derives framing or connection handling from: always left to writeHead(). */
const NODE_MANAGED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date', 'expect', 'trailer', 'upgrade']);

export interface PreparedHead {
  /** `name: value\r\n` for every header node:http does not manage, validated once. */
  readonly lines: string;
  /** The headers node:http manages (Content-Length), passed to writeHead() as usual. */
  readonly managed: Readonly<OutgoingHttpHeaders>;
  /** Every header as one object: what writePreparedHead() sends where node:http lacks _storeHeader. */
  readonly all: Readonly<OutgoingHttpHeaders>;
}

/** Serialises `headers` once. Throws (like writeHead would) on an invalid name or value. */
export function prepareHead(headers: Readonly<OutgoingHttpHeaders>): PreparedHead {
  let lines = '';
  const managed: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (NODE_MANAGED.has(name.toLowerCase())) {
      managed[name] = value;
      continue;
    }
    validateHeaderName(name);
    for (const one of Array.isArray(value) ? value : [value]) {
      const text = String(one);
      validateHeaderValue(name, text);
      lines += `${name}: ${text}\r\n`;
    }
  }
  return { lines: flat(lines), managed: Object.freeze(managed), all: headers };
}

/**
 * The same text as one flat string. `+=` builds a rope of ~50 pieces, which V8 would walk and
 * copy again on every response that sends it (String::WriteToFlat was 3% of a Zipf hit's CPU).
 */
function flat(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** `name: value\r\n` lines back into headers (the fallback of writePreparedHead only). */
function parseLines(lines: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const line of lines.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return headers;
}

type StoreHeader = (this: ServerResponse, firstLine: string, headers: unknown) => void;
const storeHeader = (ServerResponse.prototype as unknown as { _storeHeader?: StoreHeader })._storeHeader;
/** Whether this Node has the internal that prepared heads ride on. */
export const PREPARED_HEADS_SUPPORTED = typeof storeHeader === 'function';

/** The edge server's response class (http.createServer's `ServerResponse` option). */
export class EdgeResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** Prepared lines for the writeHead() in progress; empty otherwise. */
  #lines = '';

  /**
   * writeHead(status, head.all), without re-validating and re-serialising the prepared lines.
   * `extraLines`: more `name: value\r\n` lines the caller built from values it controls (a
   * number), never from request input; they are not validated.
   */
  writePreparedHead(status: number, head: PreparedHead, extraLines = ''): this {
    if (!PREPARED_HEADS_SUPPORTED) return this.writeHead(status, extraLines === '' ? head.all : { ...head.all, ...parseLines(extraLines) });
    this.#lines = extraLines === '' ? head.lines : head.lines + extraLines;
    try {
      return this.writeHead(status, head.managed);
    } finally {
      this.#lines = '';
    }
  }

  /** @internal node:http calls this from writeHead() with the status line. */
  _storeHeader(firstLine: string, headers: unknown): void {
    storeHeader!.call(this, this.#lines === '' ? firstLine : firstLine + this.#lines, headers);
  }
}
