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
import { InternTable, latin1 } from './interned.js';

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
 * Field lookup without a string per line: a table indexed by the name's length and the low five
 * bits of its first and last bytes (the same for either case of a letter) holds the one name
 * with that length and those ends, and the line's name is then compared byte by byte with that
 * lower-case name. Most of a browser's lines (sec-ch-ua*, Sec-Fetch-*, Accept, Accept-Language,
 * Referer) have no name at their key and are never compared.
 */
const KEY_LENGTHS = 32;
function keyOf(length: number, first: number, last: number): number {
  return (length << 10) | ((first & 31) << 5) | (last & 31);
}
interface FieldTable {
  /** 1 + the name's index in `names` and `fields`, by key; 0 where no name has that key. */
  readonly byKey: Uint8Array;
  /** The lower-case names as bytes. */
  readonly names: readonly Uint8Array[];
  /** The same, four bytes a word (little-endian), as far as whole words go. */
  readonly words: readonly Int32Array[];
  readonly fields: Uint8Array;
}
function fieldTable(list: ReadonlyArray<readonly [string, Field]>): FieldTable {
  const byKey = new Uint8Array(KEY_LENGTHS << 10);
  list.forEach(([name], i) => {
    const key = keyOf(name.length, name.charCodeAt(0), name.charCodeAt(name.length - 1));
    // a second name at one key would never be found: widen the key if one is ever added
    if (name.length >= KEY_LENGTHS || byKey[key] !== 0) throw new Error(`head-parser: ${name} has no key of its own`);
    byKey[key] = i + 1;
  });
  const names = list.map(([name]) => Buffer.from(name, 'latin1'));
  const words = names.map((name) => Int32Array.from({ length: name.length >> 2 }, (_, i) => name.readInt32LE(4 * i)));
  return { byKey, names, words, fields: Uint8Array.from(list, ([, field]) => field) };
}
const FIELDS = fieldTable(NAMES);
const OPTIONS_FIELDS = fieldTable(OPTIONS_NAMES);

/** The field of the name at buf[start, end) (a non-empty token), Field.Other for any other name. */
function fieldOf(table: FieldTable, buf: Buffer, start: number, end: number, view: DataView<ArrayBufferLike> | undefined, base: number): Field {
  const length = end - start;
  if (length >= KEY_LENGTHS) return Field.Other;
  const entry = table.byKey[keyOf(length, buf[start]!, buf[end - 1]!)]!;
  if (entry === 0) return Field.Other;
  const name = table.names[entry - 1]!;
  let i = 0;
  if (view !== undefined) {
    // `| 0x20` of each byte, four at a time
    const words = table.words[entry - 1]!;
    for (; i < words.length; i++) if ((view.getInt32(base + start + 4 * i, true) | 0x20202020) !== words[i]) return Field.Other;
    i *= 4;
  }
  for (; i < length; i++) {
    // `| 0x20` lower-cases a letter; no other tchar maps onto a lower-case letter or `-`.
    if ((buf[start + i]! | 0x20) !== name[i]) return Field.Other;
  }
  return table.fields[entry - 1]!;
}

/** Whether buf[at, end) starts with `text`, as far as it goes: 1 yes, 0 not yet known, -1 no. */
function startsWith(buf: Buffer, at: number, end: number, text: Uint8Array): 1 | 0 | -1 {
  const n = Math.min(text.length, end - at);
  for (let i = 0; i < n; i++) if (buf[at + i] !== text[i]) return -1;
  return n === text.length ? 1 : 0;
}

const GET = Buffer.from('GET ', 'latin1');
const HEAD = Buffer.from('HEAD ', 'latin1');
const OPTIONS = Buffer.from('OPTIONS ', 'latin1');
const VERSION = Buffer.from('HTTP/1.1\r\n', 'latin1');

/** Whether the trimmed value at buf[start, end) is `text` (lower case), ignoring case: a value's bytes are VCHAR, SP or HTAB. */
function valueIs(buf: Buffer, start: number, end: number, text: Uint8Array): boolean {
  if (end - start !== text.length) return false;
  // `| 0x20`: as in fieldOf; and only CR (never in a value) maps onto `-`
  for (let i = 0; i < text.length; i++) if ((buf[start + i]! | 0x20) !== text[i]) return false;
  return true;
}
const CLOSE = Buffer.from('close', 'latin1');
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');

/**
 * The target and Accept-Encoding strings, interned (interned.ts): a repeated target or value is
 * the same string object, neither made nor (by the Maps that read it next) hashed again.
 * Targets: 4096 slots, asset/key.ts's memo's entries, so a site's hot paths stay (the bench's
 * 2003 Zipf paths: ~92% of requests find theirs in a simulation, against ~78% with 1024); at most
 * 256 bytes each (key.ts memoises to 200), a 1 MiB slab. Accept-Encoding: browsers send a handful
 * of values, of 10 to 30 bytes ("gzip, deflate, br, zstd"); 256 slots of 64 bytes (16 KiB) keep
 * them apart by chance. User-Agent (the access log's, when on) and the held headers are made
 * every time: seldom read, or seldom repeated.
 */
const TARGETS = new InternTable(4096, 256);
const ACCEPT_ENCODINGS = new InternTable(256, 64);

/**
 * Reads the head that starts at `start`, in the bytes read so far, buf[.., readEnd) (the lane's reads
 * are a length in its one read buffer, not a view of it each: read-buffer.ts). `wantUserAgent`:
 * also return User-Agent (the access log). A head split across reads is read again from its start
 * when more bytes arrive; the connection loop bounds how often (connection.ts).
 *
 * Hand-written for the instructions per byte (bench/instructions.ts shape=browser and hit,
 * callgrind; bench/RESULTS.md "Head parser per byte"): each byte is read once into a local; the
 * target, name and value scans take four bytes a step while all four pass (one DataView load in
 * a read of WIDE_READ bytes or more, else four; the value's checked by arithmetic on VCHAR and SP,
 * its rare HTAB left to the byte loop after), then go on byte by byte to the byte that ends them;
 * names are found by length and end bytes, not compared with every name of their length.
 */
export function scanHead(buf: Buffer, start: number, readEnd: number, wantUserAgent: boolean): HeadScan {
  const limit = Math.min(readEnd, start + MAX_HEAD_BYTES);
  if (start >= limit) return INCOMPLETE;
  let method: 'GET' | 'HEAD' | 'OPTIONS';
  let fields = FIELDS;
  let held: HeldHeaders | undefined;
  // the three methods begin with three different bytes: the first picks the one to compare
  // (any other: not a method the lane answers, or a leading empty line, which RFC 9112 lets servers skip)
  const first = buf[start]!;
  const verb = first === 71 /* G */ ? GET : first === 72 /* H */ ? HEAD : first === 79 /* O */ ? OPTIONS : undefined;
  if (verb === undefined) return HANDOVER;
  const known = startsWith(buf, start, limit, verb);
  if (known !== 1) return known === 0 ? INCOMPLETE : HANDOVER;
  let at = start + verb.length;
  // four bytes a load for the scans below (getInt32: one bounds check for the four), where the
  // read is long enough to repay finding the DataView (viewOf)
  const view = limit - start >= WIDE_READ ? viewOf(buf) : undefined;
  const base = buf.byteOffset;
  if (verb === GET) method = 'GET';
  else if (verb === HEAD) method = 'HEAD';
  else {
    // a CORS preflight, or a plain OPTIONS: the asset handler's answer (never a hit), which
    // reads the CORS request headers
    method = 'OPTIONS';
    fields = OPTIONS_FIELDS;
    held = {};
  }
  // origin-form target (`OPTIONS *`, the asterisk-form, is handed over: rare, and node:http's to read)
  const targetStart = at;
  if (at < limit && buf[at] !== 47 /* / */) return HANDOVER;
  if (view !== undefined) while (at + 4 <= limit && all4(TARGET, view.getInt32(base + at, true))) at += 4;
  else while (at + 4 <= limit && (TARGET[buf[at]!]! & TARGET[buf[at + 1]!]! & TARGET[buf[at + 2]!]! & TARGET[buf[at + 3]!]!) === 1) at += 4;
  while (at < limit && TARGET[buf[at]!] === 1) at++;
  if (at === limit) return tooLong(limit, start);
  if (buf[at] !== SP) return HANDOVER;
  const targetEnd = at;
  at++;
  // HTTP/1.1 only (1.0 has other keep-alive rules; llhttp's)
  const version = startsWith(buf, at, limit, VERSION);
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
    const lead = buf[at]!;
    if (lead === CR) {
      // the empty line that ends the head
      if (at + 1 >= limit) return tooLong(limit, start);
      if (buf[at + 1] !== LF) return HANDOVER;
      if (hosts !== 1) return HANDOVER;
      return { method, target: TARGETS.intern(buf, targetStart, targetEnd), acceptEncoding, userAgent, close, held, end: at + 2 };
    }
    // obs-fold (a line starting with SP/HTAB), bare LF, a name that is not a token
    if (TCHAR[lead] !== 1) return HANDOVER;
    if (++lines > MAX_HEADER_LINES) return HANDOVER;
    const nameStart = at;
    at++;
    if (view !== undefined) while (at + 4 <= limit && all4(TCHAR, view.getInt32(base + at, true))) at += 4;
    else while (at + 4 <= limit && (TCHAR[buf[at]!]! & TCHAR[buf[at + 1]!]! & TCHAR[buf[at + 2]!]! & TCHAR[buf[at + 3]!]!) === 1) at += 4;
    let b = 0;
    while (at < limit && TCHAR[(b = buf[at]!)] === 1) at++;
    if (at === limit) return tooLong(limit, start);
    // whitespace before the colon, or any other byte: not a field line the lane reads
    if (b !== COLON) return HANDOVER;
    const field = fieldOf(fields, buf, nameStart, at, view, base);
    if (field === Field.HandOver) return HANDOVER;
    at++;
    while (at < limit && ((b = buf[at]!) === SP || b === HTAB)) at++;
    const valueStart = at;
    if (view !== undefined) while (at + 4 <= limit && vchar4(view.getInt32(base + at, true))) at += 4;
    else while (at + 4 <= limit && vchar4(buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24))) at += 4;
    while (at < limit && VALUE[(b = buf[at]!)] === 1) at++;
    if (at === limit) return tooLong(limit, start);
    // a control byte, a byte >= 0x80, or a CR not followed by LF
    if (b !== CR) return HANDOVER;
    if (at + 1 >= limit) return tooLong(limit, start);
    if (buf[at + 1] !== LF) return HANDOVER;
    const valueEnd = at;
    at += 2;
    if (field === Field.Other) continue;
    const end = trimEnd(buf, valueStart, valueEnd);
    switch (field) {
      case Field.Host:
        if (++hosts > 1 || end === valueStart) return HANDOVER;
        for (let i = valueStart; i < end; i++) if (HOST[buf[i]!] !== 1) return HANDOVER;
        break;
      case Field.AcceptEncoding:
        if (acceptEncoding !== undefined) return HANDOVER;
        acceptEncoding = ACCEPT_ENCODINGS.intern(buf, valueStart, end);
        break;
      case Field.Connection:
        if (connection) return HANDOVER;
        connection = true;
        if (valueIs(buf, valueStart, end, CLOSE)) close = true;
        else if (!valueIs(buf, valueStart, end, KEEP_ALIVE)) return HANDOVER;
        break;
      case Field.UserAgent:
        if (wantUserAgent) {
          if (userAgent !== undefined) return HANDOVER;
          userAgent = latin1(buf, valueStart, end);
        }
        break;
      default: {
        // Range, If-Range, a conditional, an OPTIONS's CORS header: node's value (OWS trimmed,
        // latin1, possibly empty)
        const name = HELD_NAMES[field - Field.Range]!;
        if (held === undefined) held = {};
        else if (held[name] !== undefined) return HANDOVER; // a duplicate: node:http joins or drops it
        held[name] = latin1(buf, valueStart, end);
      }
    }
  }
}

/** The shortest read (from the head's start) the scans read four bytes at a time in: a 66-byte head (the bench's) saves less than viewOf costs (callgrind). */
const WIDE_READ = 160;

/**
 * A DataView of buf's memory. The lane's reads all land in one buffer (read-buffer.ts), so the
 * last one is kept (and that one buffer with it): a DataView costs ~700 instructions to make (a C++ builtin), and even
 * `buf.buffer` ~170 (callgrind).
 */
function viewOf(buf: Buffer): DataView<ArrayBufferLike> {
  const memory = buf.buffer;
  if (memory !== viewed) {
    viewed = memory;
    lastView = new DataView(memory);
  }
  return lastView;
}
let viewed: ArrayBufferLike | undefined;
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Whether the four bytes of `word` are all in `set`. */
function all4(set: Uint8Array, word: number): boolean {
  return (set[word & 0xff]! & set[(word >> 8) & 0xff]! & set[(word >> 16) & 0xff]! & set[word >>> 24]!) === 1;
}

/**
 * Whether the four bytes of `word` are all VCHAR or SP (0x20..0x7e), in a handful of integer
 * operations: `word` has the top bit of a byte >= 0x80; once none is, `word + 0x01010101` adds 1
 * to each byte without a carry, which sets the top bit of a 0x7f, and `(word - 0x20202020) &
 * ~word` the top bit of the lowest byte below 0x20 (the borrows start there), and of none if none.
 */
function vchar4(word: number): boolean {
  return ((word | (word + 0x01010101) | ((word - 0x20202020) & ~word)) & 0x80808080) === 0;
}

/** The end of the value at buf[start, end) without its trailing OWS (node:http trims it too). */
function trimEnd(buf: Buffer, start: number, end: number): number {
  while (end > start && (buf[end - 1] === SP || buf[end - 1] === HTAB)) end--;
  return end;
}

/** Ran out of bytes: incomplete while within the bound, else too long for the lane. */
function tooLong(limit: number, start: number): HeadScan {
  return limit - start >= MAX_HEAD_BYTES ? HANDOVER : INCOMPLETE;
}
