/** A bearer token check that takes the same time whatever the guess (no timing oracle). */
import { createHash, timingSafeEqual } from 'node:crypto';

export class BearerToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(`Bearer ${token}`);
  }

  /** Whether an Authorization header value presents the token. */
  matches(authorization: string | undefined): boolean {
    // Both sides hashed to a fixed length, so the comparison time says nothing of the token.
    return authorization !== undefined && timingSafeEqual(digest(authorization), this.#digest);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
