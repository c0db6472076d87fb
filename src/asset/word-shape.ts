/**
 * Does a token of a file name read as words (`polyfill`, `SemiBold`, `halflings-regular`,
 * `v4compatibility`, `__PAGE__`) rather than as a hash (`Djixbf4o`, `CibhyMFE`)? A file name
 * cannot always tell, so this errs towards "words": a word taken for a hash would pin a
 * mutable file in browsers for a year, a hash taken for a word only costs an --immutable rule.
 *
 * A token reads as words when every piece between `-`/`_` separators is made of:
 *  - letter runs in one of the case shapes words have: `lower`, `Capitalized`, `UPPER` (runs
 *    of 1-3 letters only if they read as English or are known: `ui`, `js`), or humps
 *    (`SemiBold`, `dataTables`) that read as English (letter-pair statistics);
 *  - digits after a word (`select2`, `Size1`), or a piece of digits (`solid-900`, `4-7-0`),
 *    or a number before a word (`99designs`);
 *  - known fragments that mix letters and digits: `html5`, `v30`, `es2015`, `512x512`, `i18n`;
 *  - beside other pieces, short codes: colours and code points (`cc0000`, `1f3ff`), language
 *    and region codes (`vi-vn`, `sr-RS`).
 * Random base64url rarely has these shapes: 0.28% of 8-character Rollup hashes do (mostly all
 * letters in one case shape), measured in test/name-rules.test.ts.
 */
import { ENGLISH_BIGRAMS } from './english-bigrams.js';

/** Letter-and-digit fragments words are made of, at the start of a piece: `html5shiv`, `v4compatibility`, `512x512`, `90deg`. */
const FRAGMENT = /^(?:html5|css[23]|es\d{1,4}|v\d{1,4}|ie\d{1,2}|utf(?:8|16)|base(?:32|64)|sha\d{1,3}|md5|h26[45]|mp[34]|i18n|l10n|a11y|k8s|web3|[1-9]d|\d+x\d*|\d+(?:deg|px|rem|em|pt|ms|fps|hz|kb|mb|gb|k|p)(?![a-z]))/;
const LETTERS = /^[A-Za-z]+/;
/** Digits, then a lower-case word of PLAIN_WORD letters or more that reads as English. */
const LEADING_NUMBER = /^([0-9]+)([a-z]{4,})$/;
const DIGITS = /^[0-9]+/;
const LOWER = /^[a-z]+$/;
const CAPITALIZED = /^[A-Z][a-z]+$/;
const UPPER = /^[A-Z]+$/;
/** Humps: an optional lower-case start, then Capitalized parts (`dataTables`, `SemiBold`). */
const HUMPS = /^[a-z]*(?:[A-Z][a-z]+)+$/;
/** Pure-case runs this long are words without further test (`dropzone`, `dropdownlist`: brand names and compounds read poorly as English). */
const PLAIN_WORD = 4;
/** Short words of file names that letter statistics cannot vouch for. */
const SHORT_WORDS = new Set(['js', 'ts', 'ui', 'ux', 'fa', 'fn', 'io', 'db', 'dt', 'sm', 'md', 'lg', 'xl', 'xs', 'rtl', 'ltr', 'min', 'esm', 'cjs', 'mjs', 'umd', 'amd', 'dom', 'api', 'cdn', 'svg', 'css', 'img', 'ttf', 'otf', 'eot', 'woff', 'png', 'jpg', 'gif', 'pdf', 'xml', 'vm', 'gl', 'wasm', 'jsx', 'tsx', 'vue', 'sdk', 'cli', 'app', 'web', 'of', 'to', 'in', 'on', 'at', 'by', 'is', 'it', 'or', 'and', 'the', 'for', 'no', 'up', 'my', 'get', 'set', 'new', 'old']);

/** Mean log-likelihood ratio per letter pair, English vs uniform random letters, in nats. */
export function englishScore(letters: string): number {
  const s = letters.toLowerCase();
  let sum = 0;
  let prev = 26; // a word's start
  for (let i = 0; i <= s.length; i++) {
    const cur = i === s.length ? 26 : s.charCodeAt(i) - 97;
    if (cur < 0 || cur > 26) return -Infinity;
    sum += ENGLISH_BIGRAMS[prev * 27 + cur]! / 10 + Math.log(26);
    prev = cur;
  }
  return sum / (s.length + 1);
}

/**
 * Whether letters read as English: their letter pairs are, on average, at least `threshold`
 * nats per pair more likely under English than under uniform letters. The thresholds used
 * are set from the score of random letters (test/name-rules.test.ts prints both).
 */
export function readsAsEnglish(letters: string, threshold: number): boolean {
  return englishScore(letters) >= threshold;
}

/** Threshold for short runs and humps: ~10% of random 4-letter runs score above it, ~2% of 6-letter ones. */
export const WORD_THRESHOLD = 0.2;

function shortWord(run: string): boolean {
  return SHORT_WORDS.has(run.toLowerCase()) || (run.length >= 2 && readsAsEnglish(run, WORD_THRESHOLD));
}

function letterRunIsWord(run: string): boolean {
  if (LOWER.test(run) || CAPITALIZED.test(run) || UPPER.test(run)) {
    return run.length >= PLAIN_WORD || shortWord(run);
  }
  if (!HUMPS.test(run)) return false;
  // `rotateCcw`, `spreadOdd`: short humps pass beside a long one that reads as English.
  const humps = run.split(/(?=[A-Z])/);
  const long = humps.filter((h) => h.length >= PLAIN_WORD);
  const longLetters = long.reduce((n, h) => n + h.length, 0);
  if (longLetters >= 6 && 2 * longLetters > run.length && long.every((h) => readsAsEnglish(h, WORD_THRESHOLD))) return true;
  return humps.every(shortWord);
}

/**
 * Codes that stand between separators in names: colours and code points (`cc0000`, `1f3ff`,
 * `200d`), language and region codes (`eo`, `vn`, `RS`). Only beside other pieces: alone,
 * such a token is a hash's shape.
 */
const CODE = /^(?:(?=[0-9a-f]*[0-9])[0-9a-f]{1,6}|(?=[0-9A-F]*[0-9])[0-9A-F]{1,6}|[a-z]{2,3}|[A-Z]{2,3})$/;

function pieceIsWords(piece: string): boolean {
  if (DIGITS.exec(piece)?.[0].length === piece.length) return true; // a number: `900`, `2`
  const fragment = FRAGMENT.exec(piece);
  let rest = fragment === null ? piece : piece.slice(fragment[0].length);
  // A number before a word: `99designs`.
  const lead = fragment === null ? LEADING_NUMBER.exec(rest) : null;
  if (lead !== null) return readsAsEnglish(lead[2]!, WORD_THRESHOLD);
  let afterDigits = false;
  while (rest !== '') {
    // Letters right after digits (`4o` in `Djixbf4o`) is how hashes look, not words.
    if (afterDigits) return false;
    const letters = LETTERS.exec(rest);
    if (letters === null || !letterRunIsWord(letters[0])) return false;
    rest = rest.slice(letters[0].length);
    const digits = DIGITS.exec(rest);
    if (digits !== null) {
      // A version after a word (`select2`, `bootstrap5`): the word must read as one.
      if (letters[0].length >= PLAIN_WORD && !readsAsEnglish(letters[0], WORD_THRESHOLD)) return false;
      rest = rest.slice(digits[0].length);
      afterDigits = true;
    }
  }
  return true;
}

/** A name between double underscores, as frameworks mark their own files: `__PAGE__`, `__layout__`. */
const DUNDER = /^__[A-Za-z]+__$/;

/** Whether every `-`/`_`-separated piece of token reads as words or numbers (see above). */
export function readsAsWords(token: string): boolean {
  if (DUNDER.test(token)) return true;
  // Words are joined by separators, not led or followed by them (`_Eohndz_` is a hash).
  const pieces = token.split(/[-_]+/);
  if (pieces[0] === '' || pieces[pieces.length - 1] === '') return false;
  const words = pieces.filter((piece) => pieces.length === 1 || !CODE.test(piece));
  if (!words.every(pieceIsWords)) return false;
  // Beside codes, the words must read as English: `CA-jlhqd` is a hash, `RS-Latin` is not.
  return words.length === pieces.length || words.every((w) => !/^[A-Za-z]{4,}$/.test(w) || readsAsEnglish(w, WORD_THRESHOLD));
}
