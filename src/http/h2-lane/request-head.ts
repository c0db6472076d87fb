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
/**
 * A field value: no control character but HTAB (RFC 9110 §5.5; nghttp2's check_header_value,
 * which also rules out NUL, CR and LF as RFC 9113 §8.2.1 does), no white space at either end.
 */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$/;
/** :authority and Host: RFC 3986's authority characters (nghttp2's check_authority; no "/", "?", "#", space). */
const AUTHORITY = /^[!$%&'()*+,\-.0-9:;=@A-Z[\]_a-z~]+$/;
/** :scheme: RFC 3986 §3.1 (nghttp2's check_scheme). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
/** content-length: digits only (nghttp2's parse_uint). */
const DIGITS = /^[0-9]+$/;
/** The largest content-length nghttp2 takes (INT64_MAX); over it, the request is malformed. */
const MAX_LENGTH = '9223372036854775807';

/** A content-length's value, or -1 when nghttp2 would refuse it (not digits, over INT64_MAX). */
function parseLength(value: string): number {
  if (!DIGITS.test(value)) return -1;
  const digits = value.replace(/^0+(?=.)/, '');
  if (digits.length > MAX_LENGTH.length || (digits.length === MAX_LENGTH.length && digits > MAX_LENGTH)) return -1;
  // Past 2^53 the number is inexact, but no body that large gets past a stream window anyway.
  return Number(digits);
}

export class RequestHead implements FieldSink {
  readonly headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  /** Why the request is malformed, or undefined. */
  malformed: string | undefined;
  fields = 0;
  /** The request's content-length, -1 without one: its DATA must add up to it (RFC 9113 §8.1.1). */
  contentLength = -1;
  #regular = false;

  field(name: string, value: string): void {
    this.fields++;
    if (this.malformed !== undefined) return;
    const headers = this.headers as Record<string, string | string[] | undefined>;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (this.#regular) return void (this.malformed = 'pseudo-header after a field');
      if (name !== ':method' && name !== ':path' && name !== ':scheme' && name !== ':authority') return void (this.malformed = `unknown pseudo-header ${name}`);
      if (headers[name] !== undefined) return void (this.malformed = `repeated ${name}`);
      // nghttp2's check_pseudo_header: no pseudo-header is empty.
      if (value === '' || BAD_VALUE.test(value)) return void (this.malformed = `invalid ${name}`);
      if (name === ':authority' && !AUTHORITY.test(value)) return void (this.malformed = 'invalid :authority');
      if (name === ':scheme' && !SCHEME.test(value)) return void (this.malformed = 'invalid :scheme');
      headers[name] = value;
      return;
    }
    this.#regular = true;
    if (!NAME.test(name)) return void (this.malformed = 'invalid field name');
    if (BAD_VALUE.test(value)) return void (this.malformed = `invalid value of ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) return void (this.malformed = `connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') return void (this.malformed = 'te other than trailers');
    // Host as nghttp2 takes it: once, an authority (it drops an invalid one; the lane refuses, as
    // for any field it would not pass on).
    if (name === 'host' && (headers.host !== undefined || !AUTHORITY.test(value))) return void (this.malformed = 'invalid or repeated host');
    if (name === 'content-length') {
      // Once and a number (nghttp2): a body is checked against it as it arrives (connection.ts).
      if (this.contentLength !== -1) return void (this.malformed = 'repeated content-length');
      this.contentLength = parseLength(value);
      if (this.contentLength === -1) return void (this.malformed = 'invalid content-length');
    }
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
    // nghttp2 refuses a request that names no authority, in :authority or Host.
    if (h[':authority'] === undefined && h.host === undefined) return void (this.malformed = 'no :authority or host');
    if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) return void (this.malformed = 'invalid :path');
    if (/[\x00-\x20\x7f]/.test(path)) return void (this.malformed = 'invalid :path'); // nghttp2's check_path
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) return void (this.malformed = 'invalid :method');
    return { method, url: path, headers: h };
  }
}
