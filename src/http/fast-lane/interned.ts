/**
 * Bytes -> string, giving the same string object for the same bytes while they stay in a small
 * direct-mapped table: the fast lane's head parser interns the request target and the
 * Accept-Encoding value with it.
 *
 * Why hand-written: making the string (`latin1()`, node's latin1Slice: a C++ API call and a new
 * V8 string) was ~900 instructions of a kept-alive small hit (~11,000 on the main thread), and the
 * memo Maps that read the string next (asset/key.ts parseAssetPath, negotiate.ts) then hashed the
 * new string (~380 more in String::ComputeAndSetRawHash) every request. V8 keeps a string's hash
 * in the string, so the same object for the same target is neither made nor hashed again. A Map
 * cannot give that without a string to look up with; this looks up by the bytes themselves: a
 * hash of them (four bytes a step, Math.imul mixing) picks one slot, whose copy of the bytes is
 * compared with them; a match returns the slot's string, anything else makes the string with
 * `latin1()` and puts it (and a copy of its bytes) in the slot. Strings are immutable, so sharing
 * one between requests is safe, and what is returned always equals `latin1()` of the bytes.
 * Measured with bench/instructions.ts shape=hit, browser and zipf (bench/RESULTS.md, "Interned
 * targets").
 *
 * What it bounds: `entries` slots (a power of two), each keeping at most `maxLength` bytes (one
 * slab of entries * maxLength bytes) and one string of that many characters; longer input is
 * never stored (made every time). So memory stays the same whatever clients send, and input that
 * collides, by chance or on purpose, only costs a miss: what a string cost before, and the hash.
 */

/** Buffer.prototype.latin1Slice: node's own (lib/buffer.js toString calls it), not in @types/node. */
type Latin1Slicing = Buffer & { latin1Slice(start: number, end: number): string };
/**
 * buf.toString('latin1', start, end) without toString's argument handling, by the method it
 * calls; toString itself on a Node.js that no longer has that method.
 */
export const latin1: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Latin1Slicing).latin1Slice === 'function'
    ? (buf, start, end) => (buf as Latin1Slicing).latin1Slice(start, end)
    : (buf, start, end) => buf.toString('latin1', start, end);

/** Fibonacci hashing's multiplier (2^32 / golden ratio, odd). */
const K = 0x9e3779b1 | 0;

/** Makes the string of buf[start, end): `latin1` in the lane; a test's own also counts the strings made. */
export type MakeString = (buf: Buffer, start: number, end: number) => string;

export class InternTable {
  readonly #make: MakeString;
  /** 32 - log2(entries): the hash's top bits pick the slot (the best mixed ones after Math.imul). */
  readonly #shift: number;
  readonly #maxLength: number;
  /** Words a slot keeps in the slab: maxLength / 4, rounded up. */
  readonly #stride: number;
  /** Each slot's string ('' while empty). */
  readonly #strings: string[];
  /** Each slot's byte length, -1 while empty (so an empty slot matches nothing). */
  readonly #lengths: Int32Array;
  /** Each slot's full hash: most misses end here, before comparing bytes. */
  readonly #hashes: Int32Array;
  /**
   * Slot i's bytes, four a word (little-endian, the last word zero-filled), at words
   * [i * stride, i * stride + ceil(length / 4)): a copy, as the reads' buffer is reused.
   */
  readonly #slab: Int32Array;
  /** The input's words, as wordsOf read them: compared and copied a word at a time, not a byte. */
  readonly #words: Int32Array;

  /**
   * @param entries slots, a power of two (2 to 65536)
   * @param maxLength longest input stored, in bytes; longer is made every time
   * @param make what makes a string (@default latin1)
   */
  constructor(entries: number, maxLength: number, make: MakeString = latin1) {
    if (!Number.isInteger(entries) || entries < 2 || entries > 65536 || (entries & (entries - 1)) !== 0) throw new RangeError(`InternTable: entries must be a power of two from 2 to 65536, not ${entries}`);
    if (!Number.isInteger(maxLength) || maxLength < 0) throw new RangeError(`InternTable: maxLength must be a whole number of bytes, not ${maxLength}`);
    this.#make = make;
    this.#shift = 32 - Math.log2(entries);
    this.#maxLength = maxLength;
    this.#stride = (maxLength + 3) >> 2;
    this.#strings = new Array<string>(entries).fill('');
    this.#lengths = new Int32Array(entries).fill(-1);
    this.#hashes = new Int32Array(entries);
    this.#slab = new Int32Array(entries * this.#stride);
    this.#words = new Int32Array(this.#stride);
  }

  /** make(buf, start, end): the same string object as last time for the same bytes while their slot keeps them. */
  intern(buf: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > this.#maxLength) return this.#make(buf, start, end);
    const words = this.#words;
    const hash = wordsOf(buf, start, end, words);
    const n = (length + 3) >> 2;
    const slot = hash >>> this.#shift;
    const slab = this.#slab;
    const at = slot * this.#stride;
    if (this.#hashes[slot] === hash && this.#lengths[slot] === length) {
      let i = 0;
      while (i < n && slab[at + i] === words[i]) i++;
      if (i === n) return this.#strings[slot]!;
    }
    const text = this.#make(buf, start, end);
    for (let i = 0; i < n; i++) slab[at + i] = words[i]!;
    this.#strings[slot] = text;
    this.#lengths[slot] = length;
    this.#hashes[slot] = hash;
    return text;
  }
}

/**
 * Reads buf[start, end) into `words`, four bytes a word (little-endian; the last word's missing
 * bytes zero), and gives their 32-bit hash: each word mixed in with a rotate, xor and Math.imul,
 * the slot then its top bits. One pass reads each byte once (a byte load is ~10 instructions
 * in TurboFan's code, with its checks); the compare and the copy then go a word at a time.
 */
function wordsOf(buf: Buffer, start: number, end: number, words: Int32Array): number {
  let h = end - start;
  let i = start;
  let n = 0;
  for (; i + 4 <= end; i += 4) {
    const word = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    words[n++] = word;
    h = Math.imul(((h << 5) | (h >>> 27)) ^ word, K);
  }
  if (i < end) {
    let word = buf[i]!;
    if (i + 1 < end) word |= buf[i + 1]! << 8;
    if (i + 2 < end) word |= buf[i + 2]! << 16;
    words[n] = word;
    h = Math.imul(((h << 5) | (h >>> 27)) ^ word, K);
  }
  return h;
}

/** The table's hash of buf[start, end) (wordsOf's). Exported for the tests, which find inputs of one hash. */
export function hashBytes(buf: Buffer, start: number, end: number): number {
  return wordsOf(buf, start, end, new Int32Array((end - start + 3) >> 2));
}
