/**
 * HPACK (RFC 7541) for the HTTP/2 lane: a strict decoder of request header blocks (static and
 * dynamic table, Huffman, table size updates) and a stateless encoder of response headers
 * (static-table names, literals without indexing, no Huffman), so only the decoder has state.
 *
 * Hand-written rather than a package: the decoder must count the decoded list against the
 * lane's limit while it decodes (an HPACK bomb, a few bytes that reference a large table entry
 * many times, must cost no memory), keep decoding a list that is over it (the table must stay
 * in step with the client's), and hand back strings without copies; hpack.js (unmaintained
 * since 2017) does none of this.
 */
import { decodeHuffman } from './huffman.js';

/** The static table (RFC 7541 Appendix A), index 1..61. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** The table size this server announces (SETTINGS_HEADER_TABLE_SIZE, the protocol's default). */
export const HEADER_TABLE_SIZE = 4096;

/** Why a header block cannot be decoded: always a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  readonly code = 'E_HPACK';
}

/** Receives each decoded field (while the list is within its limit). */
export interface FieldSink {
  field(name: string, value: string): void;
}

/**
 * One connection's decoder. Strings are latin1, as node:http2 makes them: one byte, one char.
 * The dynamic table is a ring of names and values, newest first by index.
 */
export class HpackDecoder {
  #names: string[] = [];
  #values: string[] = [];
  /** Index of the oldest entry in the ring arrays; entries are pushed at the end. */
  #first = 0;
  #size = 0;
  #maxSize = HEADER_TABLE_SIZE;
  /** Huffman output (a string is at most 8/5 of its encoded length). */
  #scratch = Buffer.allocUnsafe(4096);

  /** Entries in the dynamic table (for tests). */
  get tableSize(): number {
    return this.#size;
  }

  /**
   * Decodes one whole header block. Every field goes to `sink` while the decoded list stays
   * within `maxListSize` octets; past that, decoding goes on (the table must follow the
   * client's) but fields are no longer delivered, and the result is false.
   */
  decode(block: Uint8Array, start: number, end: number, sink: FieldSink, maxListSize: number): boolean {
    let pos = start;
    let listSize = 0;
    let fields = 0;
    while (pos < end) {
      const b = block[pos]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // indexed field (§6.1)
        const index = this.#int(block, pos, end, 7);
        pos = this.#pos;
        if (index === 0) throw new HpackError('index 0');
        name = this.#name(index);
        value = this.#value(index);
      } else if (b >= 0x20 && b < 0x40) {
        // dynamic table size update (§6.3): only before the first field of a block
        const size = this.#int(block, pos, end, 5);
        pos = this.#pos;
        if (fields > 0) throw new HpackError('size update after a field');
        if (size > HEADER_TABLE_SIZE) throw new HpackError('table size over the announced one');
        this.#maxSize = size;
        this.#evict(0);
        continue;
      } else {
        // literal (§6.2): with incremental indexing (01), without (0000) or never (0001)
        const indexing = b >= 0x40;
        const index = this.#int(block, pos, end, indexing ? 6 : 4);
        pos = this.#pos;
        name = index === 0 ? this.#string(block, pos, end) : this.#name(index);
        if (index === 0) pos = this.#pos;
        value = this.#string(block, pos, end);
        pos = this.#pos;
        if (indexing) this.#add(name, value);
      }
      fields++;
      listSize += name.length + value.length + 32;
      if (listSize <= maxListSize) sink.field(name, value);
    }
    return listSize <= maxListSize;
  }

  /** Where the last integer or string ended. */
  #pos = 0;

  /** An integer with an n-bit prefix (§5.1), at most 2^31 - 1 (no HTTP/2 value is larger). */
  #int(block: Uint8Array, pos: number, end: number, bits: number): number {
    const max = (1 << bits) - 1;
    let value = block[pos++]! & max;
    if (value === max) {
      let shift = 0;
      for (;;) {
        if (pos >= end) throw new HpackError('truncated integer');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (value > 0x7fffffff) throw new HpackError('integer too large');
        if (b < 0x80) break;
      }
    }
    this.#pos = pos;
    return value;
  }

  /** A string literal (§5.2), raw or Huffman-coded. */
  #string(block: Uint8Array, pos: number, end: number): string {
    if (pos >= end) throw new HpackError('truncated string');
    const huffman = block[pos]! >= 0x80;
    const length = this.#int(block, pos, end, 7);
    pos = this.#pos;
    if (length > end - pos) throw new HpackError('string past the block');
    this.#pos = pos + length;
    if (!huffman) return latin1(block, pos, pos + length);
    const room = Math.ceil((length * 8) / 5);
    if (this.#scratch.length < room) this.#scratch = Buffer.allocUnsafe(Math.max(room, this.#scratch.length * 2));
    const n = decodeHuffman(block, pos, pos + length, this.#scratch, 0);
    if (n < 0) throw new HpackError('invalid Huffman string');
    return this.#scratch.toString('latin1', 0, n);
  }

  #name(index: number): string {
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![0];
    return this.#names[this.#dynamic(index)]!;
  }

  #value(index: number): string {
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![1];
    return this.#values[this.#dynamic(index)]!;
  }

  /** Ring position of dynamic index `index` (62 = newest). */
  #dynamic(index: number): number {
    const n = index - STATIC_TABLE.length;
    const count = this.#names.length - this.#first;
    if (n > count) throw new HpackError('index past the table');
    return this.#names.length - n;
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.#maxSize) {
      // §4.4: an entry larger than the table empties it and is not added
      this.#evict(this.#maxSize);
      return;
    }
    this.#evict(size);
    this.#names.push(name);
    this.#values.push(value);
    this.#size += size;
  }

  /** Evicts oldest entries until `room` octets fit. */
  #evict(room: number): void {
    while (this.#size + room > this.#maxSize && this.#first < this.#names.length) {
      this.#size -= this.#names[this.#first]!.length + this.#values[this.#first]!.length + 32;
      this.#first++;
    }
    if (this.#first === this.#names.length) {
      this.#names = [];
      this.#values = [];
      this.#first = 0;
    } else if (this.#first > 64) {
      // compact now and then, not per eviction
      this.#names = this.#names.slice(this.#first);
      this.#values = this.#values.slice(this.#first);
      this.#first = 0;
    }
  }
}

function latin1(block: Uint8Array, start: number, end: number): string {
  return (block as Buffer).toString('latin1', start, end);
}

// ---------------------------------------------------------------------------------------------
// Encoder: stateless (the client's decoder table is never used, so its size never matters)
// ---------------------------------------------------------------------------------------------

const STATIC_NAME = new Map<string, number>();
for (let i = STATIC_TABLE.length - 1; i >= 0; i--) STATIC_NAME.set(STATIC_TABLE[i]![0], i + 1);
/** :status values with an indexed static entry. */
const STATUS_INDEX = new Map<number, number>([[200, 8], [204, 9], [206, 10], [304, 11], [400, 12], [404, 13], [500, 14]]);

/** A field as a literal without indexing (§6.2.2): the name by static index where there is one. */
export function encodeField(name: string, value: string): Buffer {
  const index = STATIC_NAME.get(name);
  const parts: number[] = [];
  if (index !== undefined) {
    pushInt(parts, index, 4, 0x00);
  } else {
    parts.push(0x00);
    pushInt(parts, name.length, 7, 0x00);
  }
  const head = Buffer.from(parts);
  const nameBytes = index === undefined ? Buffer.from(name, 'latin1') : Buffer.alloc(0);
  const lengthBytes: number[] = [];
  pushInt(lengthBytes, value.length, 7, 0x00);
  return Buffer.concat([head, nameBytes, Buffer.from(lengthBytes), Buffer.from(value, 'latin1')]);
}

/** `:status`: one byte where the static table has it. */
export function encodeStatus(status: number): Buffer {
  const index = STATUS_INDEX.get(status);
  if (index !== undefined) return Buffer.from([0x80 | index]);
  return encodeField(':status', String(status));
}

function pushInt(out: number[], value: number, bits: number, first: number): void {
  const max = (1 << bits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}
