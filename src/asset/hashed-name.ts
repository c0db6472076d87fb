/**
 * Does a file name carry a content hash, in one of the forms bundlers emit? Only such names
 * are served as immutable: a false positive would pin a mutable file in browsers for a year,
 * so the rules are conservative and a miss is the lesser error (use --allow-unhashed).
 *
 * A name is `stem SEP token (.ext)+` with SEP `-` or `.`, and the token is one of:
 *  - hex, 8-64 digits, at least one of them 0-9: webpack/Parcel `main.3f2a9b1c.js`,
 *    Rails `application-<64 hex>.css`, hashedge upload, `logo-0492830483.png`;
 *  - esbuild's base32, exactly 8 of [A-Z2-7]: `index-5XHQKZ2N.js`;
 *  - Rollup/Vite base64url, 8-21 of [A-Za-z0-9_-] mixing at least two of lower case, upper
 *    case, digits and `-_`, with no run of 4+ lower-case letters (that is how words look,
 *    `MyWidget`, `Settings`; random base64 has such a run in ~13% of 8-char hashes, which are
 *    then treated as unhashed): `index-BwT4yKxK.js`, `vendor-B-x_3kQ2.js`.
 */
const HEX = /^[0-9a-f]{8,64}$/i;
const BASE32 = /^[A-Z2-7]{8}$/;
const BASE64URL = /^[A-Za-z0-9_-]{8,21}$/;
const WORDLIKE = /[a-z]{4}/;

export function isHashToken(token: string): boolean {
  if (HEX.test(token)) return /[0-9]/.test(token);
  if (BASE32.test(token)) return true;
  if (!BASE64URL.test(token) || WORDLIKE.test(token)) return false;
  let classes = 0;
  if (/[a-z]/.test(token)) classes++;
  if (/[A-Z]/.test(token)) classes++;
  if (/[0-9]/.test(token)) classes++;
  if (/[-_]/.test(token)) classes++;
  return classes >= 2;
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

export function isContentHashedName(name: string): boolean {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return false; // needs a stem and an extension
  const parts = name.split('.');
  // Candidates: a whole dot-separated part after the stem (`main.3f2a9b1c.js`), or the tail of
  // any part after a '-' (`index-BwT4yKxK.js`; the hash itself may contain '-').
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (i > 0 && isHashToken(part)) return true;
    for (let dash = part.indexOf('-'); dash > 0; dash = part.indexOf('-', dash + 1)) {
      if (isHashToken(part.slice(dash + 1))) return true;
    }
  }
  return false;
}
