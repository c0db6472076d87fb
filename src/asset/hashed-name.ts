/**
 * Does a file name carry a content hash, in one of the forms bundlers emit? This is the last
 * and weakest evidence of immutability (asset/immutability.ts has the order): a file name
 * alone cannot always tell a hash from a word, so the rules lean towards "not a hash" where
 * words are likely, and the measured cost of that on real hashes is in the README.
 *
 * Where a hash may stand in `name.ext` (the last extension is never one):
 *  - suffix: after a `-` in any dot-separated part: `index-BwT4yKxK.js` (Rollup, Vite,
 *    Rolldown, Astro, esbuild: `[name]-[hash]`); the hash itself may contain `-`;
 *  - part: a whole dot-separated part after the first: `main.3f2a9b1c.js` (webpack
 *    `[name].[contenthash]`, Parcel, Angular);
 *  - whole: the whole first part, hex only: `1774abd1ebe4f407de03.svg` (webpack's default
 *    asset names `[hash][ext]`). Other hash-only names (SvelteKit's `6HahEOjm.js`, Turbopack's
 *    `05oq85e3taptg.js`) look like identifiers (`S3Client.js`) and are left to the presets of
 *    the folders they are emitted to.
 *
 * And what a hash looks like there:
 *  - hex: 8-64 of [0-9a-f] with a digit (webpack, Parcel, Rails, hashedge upload), but not
 *    a date (`20241105`); as a whole name also with a letter (`12345678.jpg` is an id);
 *  - base32: exactly 8 of [A-Z2-7] (esbuild), unless the letters read as an English word or
 *    are a known upper-case name (`OVERVIEW`, `README`);
 *  - base64url: 8 of [A-Za-z0-9_-] (Rollup's default length), or 9-21 of [A-Za-z0-9], that do
 *    not read as words (word-shape.ts: `polyfill`,
 *    `SemiBold`, `__PAGE__`, `v4compatibility` are words; `Djixbf4o`, `CibhyMFE` are not).
 * A name whose first part is a UUID carries no content hash (it names an upload, not bytes).
 */
import { readsAsEnglish, readsAsWords } from './word-shape.js';

export type HashFormat = 'hex' | 'base32' | 'base64url';
export type HashPosition = 'suffix' | 'part' | 'whole';

export interface NameHash {
  readonly token: string;
  readonly format: HashFormat;
  readonly position: HashPosition;
}

const HEX = /^[0-9a-f]{8,64}$/i;
const BASE32 = /^[A-Z2-7]{8}$/;
/** Rollup's default length (8), or a longer hash without separators: a longer token with `-`/`_` is stem and hash. */
const BASE64URL = /^(?:[A-Za-z0-9_-]{8}|[A-Za-z0-9]{9,21})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$/;
/** Upper-case words seen in file names that letter statistics alone would take for esbuild hashes. */
const UPPER_CASE_NAMES = new Set(['README', 'LICENSE', 'LICENCE', 'CHANGELOG', 'CHANGES', 'AUTHORS', 'CONTRIBUTORS', 'COPYING', 'NOTICE', 'HISTORY', 'OVERVIEW', 'FEATURES', 'SETTINGS', 'DOWNLOAD', 'FALLBACK', 'TEMPLATE', 'DEFAULTS']);
/** Upper-case letters that score this English-like are words, not esbuild hashes (~0.1% of random ones do). */
const UPPER_WORD_THRESHOLD = 0.6;

/** The format of token as a hash at `position`, or undefined if it is no hash there. */
export function hashFormat(token: string, position: HashPosition): HashFormat | undefined {
  if (HEX.test(token)) {
    const hasDigit = /[0-9]/.test(token);
    const hasLetter = /[a-f]/i.test(token);
    // Else it is hex letters only (`deadbeefcafe`), or digits only (an id, a date, a version).
    return hasDigit && !DATE.test(token) && (position !== 'whole' || hasLetter) ? 'hex' : undefined;
  }
  if (BASE32.test(token)) {
    const lettersOnly = /^[A-Z]+$/.test(token);
    return lettersOnly && (UPPER_CASE_NAMES.has(token) || readsAsEnglish(token, UPPER_WORD_THRESHOLD)) ? undefined : 'base32';
  }
  // A name that is all hash has no stem to set it apart from identifiers (`S3Client.js`,
  // `json2xml.js`, `Sha256Node.js`): as a whole name only hex counts.
  if (position === 'whole' || !BASE64URL.test(token) || readsAsWords(token)) return undefined;
  return 'base64url';
}

/** The content hash a file name (no directory) carries, if any: the first found, left to right. */
export function findNameHash(name: string): NameHash | undefined {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return undefined; // needs a stem and an extension
  const parts = name.split('.');
  if (UUID.test(parts[0]!)) return undefined;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    for (let dash = part.indexOf('-'); dash > 0; dash = part.indexOf('-', dash + 1)) {
      const token = part.slice(dash + 1);
      const format = hashFormat(token, 'suffix');
      if (format !== undefined) return { token, format, position: 'suffix' };
    }
    const position: HashPosition = i === 0 ? 'whole' : 'part';
    const format = hashFormat(part, position);
    if (format !== undefined) return { token: part, format, position };
  }
  return undefined;
}

export function isContentHashedName(name: string): boolean {
  return findNameHash(name) !== undefined;
}

/**
 * The hex hash tokens of a key's file name (`app-1d18a1d220.js` -> ['1d18a1d220']), lower
 * case: what `hashedge upload` names carry, a prefix of the body's SHA-256.
 */
export function hexHashTokens(key: string): string[] {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const parts = name.split('.');
  const tokens: string[] = [];
  for (let i = 0; i < parts.length - 1; i++) {
    for (const piece of parts[i]!.split('-').slice(i === 0 ? 1 : 0)) {
      if (HEX.test(piece) && /[0-9]/.test(piece)) tokens.push(piece.toLowerCase());
    }
  }
  return tokens;
}
