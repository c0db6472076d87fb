/**
 * The fast lane's request-head parser: strict on purpose, and only for the request shapes the
 * lane takes. It never has to be right about a request it does not take, so whatever it does
 * not recognise with certainty is `handover` (node:http and llhttp decide), and it only reads
 * what the asset handler reads of such a request.
 *
 * Accepted (RFC 9112 §3 and §5, RFC 9110 §5.1, §5.5):
 *  - request line `GET|HEAD|OPTIONS SP origin-form SP HTTP/1.1 CRLF`, the target made of RFC 3986
 *    path and query characters only (no fragment, no `"<>\^`{|}`, nothing outside ASCII; so not
 *    `OPTIONS *`);
 *  - header lines `token ":" OWS value OWS CRLF`, the value of visible ASCII, SP and HTAB;
 *  - exactly one Host (non-empty, host[:port] characters); at most one Accept-Encoding and one
 *    Connection, which must be `close` or `keep-alive`;
 *  - at most one each of Range, If-Range, If-Match, If-None-Match, If-Modified-Since and
 *    If-Unmodified-Since, whatever their value: they are captured (`held`) under node's
 *    lower-case names, OWS trimmed as node:http trims it, and the asset handler judges them
 *    (response-plan.ts: 304, 412, 206, 416, or a 200 where a value is malformed or ignored);
 *  - of an OPTIONS, also at most one each of Origin, Access-Control-Request-Method and
 *    Access-Control-Request-Headers, captured the same way: what the asset handler's answer
 *    (ResponsePlanner.options(): a 204 with Allow, or a CORS preflight's 204) reads;
 *  - at most MAX_HEAD_BYTES bytes and MAX_HEADER_LINES header lines.
 * Handed over: any other method or version, a leading empty line, bare LF or CR, obs-fold, any
 * other control byte or a byte >= 0x80, Transfer-Encoding, Content-Length (a GET or OPTIONS
 * without a body has none; llhttp decides what one means), Upgrade, Expect, the hashedge-debug
 * header, a second line of any of the captured headers above (node:http joins some duplicates
 * with ", " and drops others: _http_incoming.js matchKnownFields; the lane does not guess), and
 * a head longer than the bounds. A byte the lane cannot accept hands the connection over at
 * once, before the rest of the head arrives.
 *
 * A plain hit pays nothing for the captured headers: the six's names were already looked up to
 * hand them over, and `held` stays undefined (one more field of the request) unless one is
 * present; the CORS names are in an OPTIONS's own table, so a GET's lines are not compared with
 * them. An OPTIONS always has `held` (an object, maybe empty): it is never a hit.
 *
 * Why hand-written and not llhttp: llhttp is reachable from JavaScript only through node:http's
 * parser binding, whose callbacks, header arrays and IncomingMessage are the per-request cost
 * the lane exists to avoid (bench/RESULTS.md); the accepted grammar is small enough to check
 * byte by byte, and the differential fuzz test (test/fast-lane-fuzz.test.ts) holds it to llhttp.
 */

/** Longest head the lane reads (request line and headers, final CRLF included); node:http allows 16 KiB. */
export const MAX_HEAD_BYTES = 8192;
/** Most header lines the lane reads; node:http allows 2000. */
export const MAX_HEADER_LINES = 64;

/**
 * Range, If-Range and the four conditionals of a request, and an OPTIONS's Origin,
 * Access-Control-Request-Method and Access-Control-Request-Headers, by node's lower-case
 * names, as node:http's IncomingMessage.headers would hold them (each at most once).
 */
export type HeldHeaders = { [name in HeldName]?: string };
export type HeldName =
  | 'range' | 'if-range' | 'if-match' | 'if-none-match' | 'if-modified-since' | 'if-unmodified-since'
  | 'origin' | 'access-control-request-method' | 'access-control-request-headers';

/** A request the lane takes: what a hit depends on, and what the asset handler reads of the rest. */
export interface LaneRequest {
  readonly method: 'GET' | 'HEAD' | 'OPTIONS';
  /** The request target as sent (origin-form). */
  readonly target: string;
  readonly acceptEncoding: string | undefined;
  /** Only read when asked for (the access log). */
  readonly userAgent: string | undefined;
  /** The client asked for `Connection: close`. */
  readonly close: boolean;
  /**
   * Range, If-Range and the conditionals, when the request has any (undefined: none), and
   * always an object for an OPTIONS (with its CORS headers, if any): such a request is the
   * asset handler's to answer, cached or not (lane.ts).
   */
  readonly held: HeldHeaders | undefined;
  /** Offset just past the head's final CRLF. */
  readonly end: number;
}

/** The head is not all here yet, and every byte so far could begin one the lane accepts. */
export const INCOMPLETE = 0;
/** node:http must decide: the head is outside what the lane accepts. */
export const HANDOVER = 1;
export type HeadScan = LaneRequest | typeof INCOMPLETE | typeof HANDOVER;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

function table(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** RFC 9110 tchar. */
const TCHAR = table(ALNUM + "!#$%&'*+-.^_`|~");
/** RFC 3986 pchar, `/` and `?` (percent signs are checked by the key parser). */
const TARGET = table(ALNUM + "-._~!$&'()*+,;=:@/?%");
/** Characters of a host (reg-name, IPv4, bracketed IPv6) and port. */
const HOST = table(ALNUM + '-._~:[]');
/** Field-value bytes: VCHAR, SP, HTAB. */
const VALUE = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) VALUE[b] = 1;
VALUE[SP] = 1;
VALUE[HTAB] = 1;

/** Header names the lane reads or hands over on, by what it does with them. */
const enum Field {
  Other,
  Host,
  AcceptEncoding,
  Connection,
  UserAgent,
  HandOver,
  // captured for the asset handler (HELD_NAMES, in this order)
  Range,
  IfRange,
  IfMatch,
  IfNoneMatch,
  IfModifiedSince,
  IfUnmodifiedSince,
  // captured for an OPTIONS only (OPTIONS_FIELDS): what ResponsePlanner.options() reads
  Origin,
  AccessControlRequestMethod,
  AccessControlRequestHeaders,
}
/** The lower-case names of the held fields, indexed by `field - Field.Range`. */
const HELD_NAMES: readonly HeldName[] = [
  'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
  'origin', 'access-control-request-method', 'access-control-request-headers',
];
/** The names the lane reads or hands over on, for every method. */
const NAMES: ReadonlyArray<readonly [string, Field]> = [
  ['host', Field.Host],
  ['accept-encoding', Field.AcceptEncoding],
  ['connection', Field.Connection],
  ['user-agent', Field.UserAgent],
  // framing and protocol switches: llhttp's to judge
  ['transfer-encoding', Field.HandOver],
  ['content-length', Field.HandOver],
  ['upgrade', Field.HandOver],
  ['expect', Field.HandOver],
  // answers that depend on more than the cached representation: the asset handler's
  ['range', Field.Range],
  ['if-range', Field.IfRange],
  ['if-match', Field.IfMatch],
  ['if-none-match', Field.IfNoneMatch],
  ['if-modified-since', Field.IfModifiedSince],
  ['if-unmodified-since', Field.IfUnmodifiedSince],
  // adds the immutability verdict and hash to a hit's headers (response-plan.ts): rare, node:http's
  ['hashedge-debug', Field.HandOver],
];
/**
 * An OPTIONS's names: NAMES and the three CORS request headers. Apart, so that a GET's lines
 * (Accept, Cookie, Pragma are Origin's length) are not compared with names only an OPTIONS reads.
 */
const OPTIONS_NAMES: ReadonlyArray<readonly [string, Field]> = [
  ...NAMES,
  ['origin', Field.Origin],
  ['access-control-request-method', Field.AccessControlRequestMethod],
  ['access-control-request-headers', Field.AccessControlRequestHeaders],
];

/**
 * Lower-case names by length, for a case-insensitive comparison without a string per line: an
 * array indexed by the name's length (a Map of numbers hashed the length at every field line).
 */
type FieldTable = ReadonlyArray<ReadonlyArray<readonly [string, Field]> | undefined>;
function byLength(names: ReadonlyArray<readonly [string, Field]>): FieldTable {
  // Array.from: one undefined per length without a name, so the array has no holes.
  return Array.from({ length: Math.max(...names.map(([name]) => name.length)) + 1 }, (_, length) => {
    const list = names.filter(([name]) => name.length === length);
    return list.length === 0 ? undefined : list;
  });
}
const FIELDS = byLength(NAMES);
const OPTIONS_FIELDS = byLength(OPTIONS_NAMES);

function fieldOf(fields: FieldTable, buf: Buffer, start: number, length: number): Field {
  const candidates = length < fields.length ? fields[length] : undefined;
  if (candidates === undefined) return Field.Other;
  outer: for (const [name, field] of candidates) {
    for (let i = 0; i < length; i++) {
      // `| 0x20` lower-cases a letter; no other tchar maps onto a lower-case letter or `-`.
      if ((buf[start + i]! | 0x20) !== name.charCodeAt(i)) continue outer;
    }
    return field;
  }
  return Field.Other;
}

/** Whether buf[at..] starts with `text`, as far as buf goes: 1 yes, 0 not yet known, -1 no. */
function startsWith(buf: Buffer, at: number, text: string): 1 | 0 | -1 {
  const n = Math.min(text.length, buf.length - at);
  for (let i = 0; i < n; i++) if (buf[at + i] !== text.charCodeAt(i)) return -1;
  return n === text.length ? 1 : 0;
}

const VERSION = 'HTTP/1.1\r\n';

/**
 * Reads the head that starts at `start`. `wantUserAgent`: also return User-Agent (the access
 * log). A head split across reads is read again from its start when more bytes arrive; the
 * connection loop bounds how often (connection.ts).
 */
export function scanHead(buf: Buffer, start: number, wantUserAgent: boolean): HeadScan {
  const limit = Math.min(buf.length, start + MAX_HEAD_BYTES);
  // not a method the lane answers (or a leading empty line, which RFC 9112 lets servers skip)
  let method: 'GET' | 'HEAD' | 'OPTIONS';
  let at: number;
  let fields = FIELDS;
  let held: HeldHeaders | undefined;
  const get = startsWith(buf, start, 'GET ');
  if (get === 1) {
    method = 'GET';
    at = start + 4;
  } else {
    const head = startsWith(buf, start, 'HEAD ');
    if (head === 1) {
      method = 'HEAD';
      at = start + 5;
    } else {
      const options = startsWith(buf, start, 'OPTIONS ');
      if (options === 1) {
        // a CORS preflight, or a plain OPTIONS: the asset handler's answer (never a hit), which
        // reads the CORS request headers
        method = 'OPTIONS';
        at = start + 8;
        fields = OPTIONS_FIELDS;
        held = {};
      } else if (get === 0 || head === 0 || options === 0) {
        return INCOMPLETE;
      } else {
        return HANDOVER;
      }
    }
  }
  // origin-form target (`OPTIONS *`, the asterisk-form, is handed over: rare, and node:http's to read)
  const targetStart = at;
  if (at < limit && buf[at] !== 47 /* / */) return HANDOVER;
  while (at < limit && TARGET[buf[at]!] === 1) at++;
  if (at === limit) return tooLong(limit, start);
  if (buf[at] !== SP) return HANDOVER;
  const targetEnd = at;
  at++;
  // HTTP/1.1 only (1.0 has other keep-alive rules; llhttp's)
  const version = startsWith(buf, at, VERSION);
  if (version === -1) return HANDOVER;
  if (version === 0 || at + VERSION.length > limit) return tooLong(limit, start);
  at += VERSION.length;

  let hosts = 0;
  let acceptEncoding: string | undefined;
  let connection = false;
  let close = false;
  let userAgent: string | undefined;
  let lines = 0;
  for (;;) {
    if (at >= limit) return tooLong(limit, start);
    const first = buf[at]!;
    if (first === CR) {
      // the empty line that ends the head
      if (at + 1 >= limit) return tooLong(limit, start);
      if (buf[at + 1] !== LF) return HANDOVER;
      if (hosts !== 1) return HANDOVER;
      return { method, target: buf.toString('latin1', targetStart, targetEnd), acceptEncoding, userAgent, close, held, end: at + 2 };
    }
    // obs-fold (a line starting with SP/HTAB), bare LF, a name that is not a token
    if (TCHAR[first] !== 1) return HANDOVER;
    if (++lines > MAX_HEADER_LINES) return HANDOVER;
    const nameStart = at;
    while (at < limit && TCHAR[buf[at]!] === 1) at++;
    if (at === limit) return tooLong(limit, start);
    // whitespace before the colon, or any other byte: not a field line the lane reads
    if (buf[at] !== COLON) return HANDOVER;
    const field = fieldOf(fields, buf, nameStart, at - nameStart);
    if (field === Field.HandOver) return HANDOVER;
    at++;
    while (at < limit && (buf[at] === SP || buf[at] === HTAB)) at++;
    const valueStart = at;
    while (at < limit && VALUE[buf[at]!] === 1) at++;
    if (at === limit) return tooLong(limit, start);
    // a control byte, a byte >= 0x80, or a CR not followed by LF
    if (buf[at] !== CR) return HANDOVER;
    if (at + 1 >= limit) return tooLong(limit, start);
    if (buf[at + 1] !== LF) return HANDOVER;
    let valueEnd = at;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    at += 2;
    switch (field) {
      case Field.Host:
        if (++hosts > 1 || valueEnd === valueStart) return HANDOVER;
        for (let i = valueStart; i < valueEnd; i++) if (HOST[buf[i]!] !== 1) return HANDOVER;
        break;
      case Field.AcceptEncoding:
        if (acceptEncoding !== undefined) return HANDOVER;
        acceptEncoding = buf.toString('latin1', valueStart, valueEnd);
        break;
      case Field.Connection: {
        if (connection) return HANDOVER;
        connection = true;
        const value = buf.toString('latin1', valueStart, valueEnd).toLowerCase();
        if (value === 'close') close = true;
        else if (value !== 'keep-alive') return HANDOVER;
        break;
      }
      case Field.UserAgent:
        if (wantUserAgent) {
          if (userAgent !== undefined) return HANDOVER;
          userAgent = buf.toString('latin1', valueStart, valueEnd);
        }
        break;
      case Field.Other:
        break;
      default: {
        // Range, If-Range, a conditional, an OPTIONS's CORS header: node's value (OWS trimmed,
        // latin1, possibly empty)
        const name = HELD_NAMES[field - Field.Range]!;
        if (held === undefined) held = {};
        else if (held[name] !== undefined) return HANDOVER; // a duplicate: node:http joins or drops it
        held[name] = buf.toString('latin1', valueStart, valueEnd);
      }
    }
  }
}

/** Ran out of bytes: incomplete while within the bound, else too long for the lane. */
function tooLong(limit: number, start: number): HeadScan {
  return limit - start >= MAX_HEAD_BYTES ? HANDOVER : INCOMPLETE;
}
