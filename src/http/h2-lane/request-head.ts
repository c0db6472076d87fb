/**
 * A request's decoded header fields turned into the request view node:http2 gives the planner
 * (`{ method, url, headers }`, headers built as node's toHeaderObject builds them: pseudo-headers
 * included, repeated fields joined with ", ", cookies with "; ", first one kept for the fields
 * node keeps once), and checked as RFC 9113 §8.2-8.3 and nghttp2 check them. A request that
 * fails a check is malformed: RST_STREAM PROTOCOL_ERROR, never answered.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AssetRequest } from '../response-plan.js';
import type { FieldSink } from './hpack.js';

/** Fields node:http2 keeps the first of (lib/internal/http2/util.js kSingleValueHeaders). */
const SINGLE_VALUE = new Set([
  ':status', ':method', ':authority', ':scheme', ':path', ':protocol', 'access-control-allow-credentials', 'access-control-max-age',
  'access-control-request-method', 'age', 'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** Connection-specific fields, malformed in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** A field name: lower-case token characters only (RFC 9113 §8.2.1, RFC 9110 §5.6.2). */
const NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
/** A field value: no NUL, CR or LF, no white space at either end (RFC 9113 §8.2.1). */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

export class RequestHead implements FieldSink {
  readonly headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  /** Why the request is malformed, or undefined. */
  malformed: string | undefined;
  fields = 0;
  #regular = false;

  field(name: string, value: string): void {
    this.fields++;
    if (this.malformed !== undefined) return;
    const headers = this.headers as Record<string, string | string[] | undefined>;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (this.#regular) return void (this.malformed = 'pseudo-header after a field');
      if (name !== ':method' && name !== ':path' && name !== ':scheme' && name !== ':authority') return void (this.malformed = `unknown pseudo-header ${name}`);
      if (headers[name] !== undefined) return void (this.malformed = `repeated ${name}`);
      if (BAD_VALUE.test(value)) return void (this.malformed = `invalid ${name}`);
      headers[name] = value;
      return;
    }
    this.#regular = true;
    if (!NAME.test(name)) return void (this.malformed = 'invalid field name');
    if (BAD_VALUE.test(value)) return void (this.malformed = `invalid value of ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) return void (this.malformed = `connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') return void (this.malformed = 'te other than trailers');
    const existing = headers[name];
    if (existing === undefined) {
      headers[name] = name === 'set-cookie' ? [value] : value;
    } else if (!SINGLE_VALUE.has(name)) {
      if (name === 'cookie') headers[name] = `${existing as string}; ${value}`;
      else if (name === 'set-cookie') (existing as string[]).push(value);
      else headers[name] = `${existing as string}, ${value}`;
    }
  }

  /** The request, or undefined when a required pseudo-header is missing (sets `malformed`). */
  request(): AssetRequest | undefined {
    if (this.malformed !== undefined) return undefined;
    const h = this.headers;
    const method = h[':method'] as string | undefined;
    const path = h[':path'] as string | undefined;
    if (method === undefined) return void (this.malformed = 'no :method');
    if (method === 'CONNECT') {
      // RFC 9113 §8.5: :authority only; the planner refuses the method (405)
      if (h[':authority'] === undefined || path !== undefined || h[':scheme'] !== undefined) return void (this.malformed = 'invalid CONNECT');
      return { method, url: undefined, headers: h };
    }
    if (h[':scheme'] === undefined || path === undefined || path === '') return void (this.malformed = 'no :scheme or :path');
    if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) return void (this.malformed = 'invalid :path');
    if (/[\x00-\x20\x7f]/.test(path)) return void (this.malformed = 'invalid :path'); // nghttp2's check_path
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) return void (this.malformed = 'invalid :method');
    return { method, url: path, headers: h };
  }
}
