/**
 * Request path -> cache key. This is the only place a client-controlled string becomes a key,
 * and keys become origin paths (disk) or object names (S3), so every check is named, in the
 * manner of pillarjs/send, and answers with its own status and code.
 *
 * Normalisation (documented in docs/keys.md; the hardening property tests hold it):
 *  1. The query string and fragment are dropped; Host is never part of the key.
 *  2. The raw path must start with `/` and be at most MAX_PATH_BYTES long (else 414).
 *  3. `%2F`, `%5C` (encoded slash, backslash) and `%25` (double encoding) are refused (400).
 *  4. The path is percent-decoded exactly once; invalid or overlong UTF-8 is refused (400).
 *  5. Control bytes (NUL, CR, LF, ... DEL) and `\` are refused (400).
 *  6. Empty, `.` and `..` segments are refused (400); a segment starting with `.` is a
 *     dotfile (404); a path ending in `/` names a directory (404).
 *  7. The key is the decoded path without its leading `/`. No case folding, no Unicode
 *     normalisation: the origin's names are matched exactly.
 */
import { NotFoundError, RequestPathError } from '../errors.js';

export const MAX_PATH_BYTES = 2048;

export interface AssetKey {
  /** The origin-relative name, e.g. `static/logo-0492830483.png`. */
  readonly key: string;
}

/** Characters that need no decoding and cannot form an attack on their own. */
const PLAIN_PATH = /^\/[A-Za-z0-9._~\-/@+=,!$&'()*:;]*$/;
// Control characters in the C0 range and DEL. Built from escapes so the source stays printable.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Parses remembered (hot assets are requested by the same few targets over and over). */
const MEMO_ENTRIES = 4096;
/** Longer targets are parsed every time, so the memo stays under ~1 MB whatever clients send. */
const MEMO_MAX_TARGET_LENGTH = 200;
const memo = new Map<string, AssetKey>();

/**
 * The key of a request target, or a RequestPathError/NotFoundError saying why it has none.
 * Valid targets are memoised in a small bounded map (cleared when full): a hit then pays one
 * Map lookup instead of the checks, and the key is the same string object every time, which
 * makes the cache and traffic lookups that follow cheaper too.
 */
export function parseAssetPath(url: string): AssetKey {
  let asset = memo.get(url);
  if (asset === undefined) {
    asset = parseUncached(url);
    if (url.length <= MEMO_MAX_TARGET_LENGTH) {
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(url, asset);
    }
  }
  return asset;
}

function parseUncached(url: string): AssetKey {
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  const raw = end === url.length ? url : url.slice(0, end);

  // too long
  if (raw.length > MAX_PATH_BYTES) throw new RequestPathError('E_URI_TOO_LONG', `The path is longer than ${MAX_PATH_BYTES} bytes.`);
  // not origin-form (absolute-form and authority-form requests, `*`)
  if (raw.charCodeAt(0) !== 47 /* / */) throw new RequestPathError('E_BAD_PATH', 'The request target must be a path starting with /.');

  let path = raw;
  if (!PLAIN_PATH.test(raw)) {
    // encoded slash or backslash: would let one segment pose as several
    if (/%2f|%5c/i.test(raw)) throw new RequestPathError('E_BAD_PATH', 'Encoded slashes and backslashes are not allowed in asset paths.');
    // double encoding: `%252e` would become `%2e` and tempt a second decode somewhere
    if (/%25/.test(raw)) throw new RequestPathError('E_BAD_PATH', 'Double percent-encoding is not allowed in asset paths.');
    try {
      path = decodeURIComponent(raw);
    } catch {
      // malformed escape or invalid/overlong UTF-8 (e.g. %C0%AE)
      throw new RequestPathError('E_BAD_PATH', 'The path is not valid percent-encoded UTF-8.');
    }
    // control bytes, NUL
    if (CONTROL.test(path)) throw new RequestPathError('E_BAD_PATH', 'Control characters are not allowed in asset paths.');
    // backslash: a separator on some origins
    if (path.includes('\\')) throw new RequestPathError('E_BAD_PATH', 'Backslashes are not allowed in asset paths.');
  }

  const key = path.slice(1);
  if (key === '' || key.endsWith('/')) throw new NotFoundError('Directories are not served; request an asset by its file name.');
  let start = 0;
  for (;;) {
    const slash = key.indexOf('/', start);
    const segEnd = slash === -1 ? key.length : slash;
    const first = key.charCodeAt(start);
    if (segEnd === start) throw new RequestPathError('E_BAD_PATH', 'Empty path segments (//) are not allowed.');
    if (first === 46 /* . */) {
      const len = segEnd - start;
      // malicious path: `.` or `..`
      if (len === 1 || (len === 2 && key.charCodeAt(start + 1) === 46)) {
        throw new RequestPathError('E_TRAVERSAL', 'Dot segments (. and ..) are not allowed in asset paths.');
      }
      // dotfile
      throw new RequestPathError('E_DOTFILE', 'Dotfiles are not served.');
    }
    if (slash === -1) break;
    start = slash + 1;
  }
  return { key };
}
