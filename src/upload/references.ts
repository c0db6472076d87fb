/**
 * Which files of a build other files name. A file with no evidence of immutability that the
 * build refers to (an `import()` of a lazy chunk, a CSS `url()`, a `<script src>`, a source map)
 * must keep its name: renaming it would break the reference. "Refers to" is taken broadly, so
 * that a rename can never break a build: the file's name (its basename, or its percent-encoded
 * form) appears anywhere, as a substring, in another text file of the build.
 *
 * Memory stays bounded whatever the build holds: text files are read one at a time, and those
 * over MAX_SCAN_BYTES are not read at all (reported, so the caller can say so). Each is searched
 * once for every name still unreferenced, with one regular expression.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';

/** Extensions of the files searched for names: what bundlers and pages write references in. */
export const TEXT_EXTENSIONS: ReadonlySet<string> = new Set(['.js', '.mjs', '.cjs', '.css', '.html', '.htm', '.xhtml', '.json', '.svg', '.map', '.txt', '.webmanifest', '.xml']);

/** Larger text files are not searched. */
export const MAX_SCAN_BYTES = 32 * 1024 * 1024;

export interface ScanFile {
  /** Path in the build (posix). */
  readonly source: string;
  /** Absolute path to read it from. */
  readonly file: string;
  readonly size: number;
}

export interface References {
  /** Candidate source path -> the first text file (path order) other than itself that names it. */
  readonly referencedBy: ReadonlyMap<string, string>;
  /** Text files not searched because they are over MAX_SCAN_BYTES. */
  readonly unscanned: readonly string[];
}

export function isTextFile(path: string): boolean {
  return TEXT_EXTENSIONS.has(posix.extname(path).toLowerCase());
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * For each of `candidates` (source paths), whether a text file among `files` other than the
 * candidate itself contains its basename (or the basename percent-encoded, as in a URL).
 */
export async function findReferences(candidates: readonly string[], files: readonly ScanFile[], maxBytes: number = MAX_SCAN_BYTES): Promise<References> {
  const referencedBy = new Map<string, string>();
  const unscanned: string[] = [];
  // Needle (a name as it would be written) -> the candidates it would refer to.
  const needles = new Map<string, string[]>();
  for (const source of candidates) {
    const base = posix.basename(source);
    let encoded = base;
    try {
      encoded = encodeURI(base);
    } catch {
      // a lone surrogate: the name can only be written as it is
    }
    for (const needle of new Set([base, encoded])) {
      const list = needles.get(needle);
      if (list === undefined) needles.set(needle, [source]);
      else list.push(source);
    }
  }
  let pattern: RegExp | undefined;
  let patternFor = -1;
  for (const f of files) {
    if (needles.size === 0) break;
    if (!isTextFile(f.source)) continue;
    if (f.size > maxBytes) {
      unscanned.push(f.source);
      continue;
    }
    if (pattern === undefined || patternFor !== needles.size) {
      // Longest first, inside a lookahead: every position is tried, and at each the longest name
      // that starts there is captured; the shorter ones it contains are found below.
      const alternatives = [...needles.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
      pattern = new RegExp(`(?=(${alternatives.join('|')}))`, 'g');
      patternFor = needles.size;
    }
    let text: string;
    try {
      text = await readFile(f.file, 'utf8');
    } catch {
      continue; // gone or unreadable: the upload itself will say so
    }
    const found = new Set<string>();
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      found.add(m[1]!);
      pattern.lastIndex = m.index + 1;
    }
    if (found.size === 0) continue;
    for (const needle of needles.keys()) {
      if (found.has(needle)) continue;
      for (const longer of found) {
        if (longer.includes(needle)) {
          found.add(needle);
          break;
        }
      }
    }
    for (const needle of found) {
      for (const source of needles.get(needle) ?? []) {
        if (source !== f.source && !referencedBy.has(source)) referencedBy.set(source, f.source);
      }
    }
    // Names whose every candidate is referenced are searched no more.
    for (const [needle, sources] of needles) {
      if (sources.every((s) => referencedBy.has(s))) needles.delete(needle);
    }
  }
  return { referencedBy, unscanned };
}
