/**
 * HPACK's Huffman code (RFC 7541 §5.2, Appendix B), decoding only: hashedge's encoder sends
 * literals raw. The code is canonical, so the table below is just each symbol's code length
 * and the codes follow from it.
 *
 * Why hand-written and table-driven: request paths in a Zipf load are new literals on almost
 * every request (h2load and browsers Huffman-code them); a decoder walking bit by bit costs
 * ~8 operations a bit, this one one table lookup a byte. The table (256 states x 256 bytes)
 * is built once at load.
 */

/** Code length of each symbol 0..255, then EOS (256), from RFC 7541 Appendix B. */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Canonical codes: by length, then by symbol, each one more than the last, shifted as lengths grow. */
export function huffmanCodes(): { codes: number[]; lengths: readonly number[] } {
  const order = LENGTHS.map((length, symbol) => ({ length, symbol })).sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const codes: number[] = new Array(LENGTHS.length).fill(0);
  let code = 0;
  let length = order[0]!.length;
  for (const entry of order) {
    code *= 2 ** (entry.length - length);
    length = entry.length;
    codes[entry.symbol] = code;
    code++;
  }
  return { codes, lengths: LENGTHS };
}

/**
 * Decoding table: state = an inner node of the code tree (0 = root). Entry [state << 8 | byte]:
 * bits 0-7 next state, 8-9 symbols emitted (0-2), 10 failed (EOS or no such code), 16-23 and
 * 24-31 the symbols. ACCEPT[state]: the bits since the last symbol may end the string (at most
 * 7 bits, all ones: a prefix of EOS).
 */
const FAIL = 1 << 10;
const { TABLE, ACCEPT } = buildTable();

function buildTable(): { TABLE: Uint32Array; ACCEPT: Uint8Array } {
  const { codes } = huffmanCodes();
  // The code tree: children of inner node n at tree[2n] and tree[2n + 1]; >= 0 inner node, < 0 ~symbol.
  const tree: number[] = [0, 0];
  const UNSET = 0;
  let inner = 1;
  for (let symbol = 0; symbol < LENGTHS.length; symbol++) {
    let node = 0;
    for (let bit = LENGTHS[symbol]! - 1; bit >= 0; bit--) {
      const side = 2 * node + (Math.floor(codes[symbol]! / 2 ** bit) & 1);
      if (bit === 0) {
        tree[side] = ~symbol;
      } else {
        if (tree[side] === UNSET) {
          tree[side] = inner++;
          tree.push(UNSET, UNSET);
        }
        node = tree[side]!;
      }
    }
  }
  const table = new Uint32Array(inner * 256);
  for (let state = 0; state < inner; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let emitted = 0;
      let entry = 0;
      for (let bit = 7; bit >= 0; bit--) {
        const next = tree[2 * node + ((byte >> bit) & 1)]!;
        if (next < 0) {
          const symbol = ~next;
          if (symbol === EOS) {
            entry |= FAIL;
            break;
          }
          entry |= symbol << (16 + 8 * emitted);
          emitted++;
          node = 0;
        } else if (next === UNSET) {
          entry |= FAIL;
          break;
        } else {
          node = next;
        }
      }
      table[(state << 8) | byte] = (entry | (emitted << 8) | node) >>> 0;
    }
  }
  // States reachable from the root by 1 to 7 one-bits: the padding a string may end with.
  const accept = new Uint8Array(inner);
  accept[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = tree[2 * node + 1]!;
    accept[node] = 1;
  }
  return { TABLE: table, ACCEPT: accept };
}

/**
 * Decodes `src[start, end)` into `out` from `at`; returns the end offset in `out`, or -1 for an
 * invalid string (EOS inside, a code that does not exist, padding over 7 bits or not all ones).
 * `out` must have room for (end - start) * 8 / 5 bytes (the shortest code is 5 bits).
 */
export function decodeHuffman(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  let state = 0;
  let o = at;
  for (let i = start; i < end; i++) {
    const entry = TABLE[(state << 8) | src[i]!]!;
    if ((entry & FAIL) !== 0) return -1;
    const emitted = (entry >> 8) & 3;
    if (emitted !== 0) {
      out[o++] = (entry >>> 16) & 0xff;
      if (emitted === 2) out[o++] = entry >>> 24;
    }
    state = entry & 0xff;
  }
  return ACCEPT[state] === 1 ? o : -1;
}
