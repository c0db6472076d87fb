/**
 * The names `hashedge upload` gives files it renames (static media with no evidence of
 * immutability that no file of the build names; see upload.ts): `<stem>-<hash><ext>`, split at the last extension as
 * bundlers do (`app.js` -> `app-1d18a1d220.js`, `jquery.min.js` -> `jquery.min-<hash>.js`).
 *
 * The hash scheme. The edge's integrity check (a body that does not match a name hashedge
 * generated is refused, not cached) depends on it, so it is fixed and versioned by this comment:
 *  1. SHA-256 of the file's bytes, as 64 lower-case hex digits;
 *  2. its first `length` digits (default 10; 8 to 64);
 *  3. when those contain no digit 0-9 (chance (6/16)^length, 5.5e-5 at 10), the following hex
 *     digits are taken too, one at a time, up to and including the first 0-9: the edge's
 *     hashed-name rule accepts a hex token only if it has a digit (so `facade` is no hash).
 * So a body matches a name hashedge generated iff the name's hash is a prefix (of at least 8
 * digits) of the lower-case hex SHA-256 of the body. The sample's `app-1d18a1d220.js` is one.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';

export const DEFAULT_HASH_LENGTH = 10;
export const MIN_HASH_LENGTH = 8;
export const MAX_HASH_LENGTH = 64;

/** The hash hashedge puts in a name for these bytes (the scheme above). */
export function uploadHash(bytes: Uint8Array, length: number = DEFAULT_HASH_LENGTH): string {
  return hashToken(createHash('sha256').update(bytes).digest('hex'), length);
}

/** The name hash from a full hex SHA-256 (for files hashed as a stream). */
export function hashToken(sha256Hex: string, length: number = DEFAULT_HASH_LENGTH): string {
  if (!Number.isInteger(length) || length < MIN_HASH_LENGTH || length > MAX_HASH_LENGTH) {
    throw new RangeError(`hash length must be an integer from ${MIN_HASH_LENGTH} to ${MAX_HASH_LENGTH}, got ${length}`);
  }
  const hex = sha256Hex.toLowerCase();
  let end = length;
  while (end < hex.length && !/[0-9]/.test(hex.slice(0, end))) end++;
  return hex.slice(0, end);
}

/**
 * `<stem>-<hash><ext>` in the source's directory, for a source file (posix relative path) that
 * `hashedge upload` renames: no evidence makes it immutable and no file of the build names it
 * (upload.ts decides that).
 */
export function hashedPath(sourcePath: string, sha256Hex: string, hashLength: number = DEFAULT_HASH_LENGTH): string {
  const dir = posix.dirname(sourcePath);
  const base = posix.basename(sourcePath);
  const ext = posix.extname(base);
  const name = `${base.slice(0, base.length - ext.length)}-${hashToken(sha256Hex, hashLength)}${ext}`;
  return dir === '.' ? name : `${dir}/${name}`;
}
