/**
 * A load in progress: reads an origin body as fast as the origin sends it, keeps every chunk
 * (the object fits the cache, so it will be held whole anyway), hashes as it goes, and lets any
 * number of readers follow from any offset while it fills. Readers never slow the origin read
 * down and the origin never waits for a slow reader: memory is bounded by the object's size,
 * which is at most --max-object-size.
 */
import { createHash } from 'node:crypto';
import { OriginError } from '../errors.js';
import type { Verdict } from '../asset/immutability.js';
import type { OriginObject } from '../origin/origin.js';

export class Fill {
  readonly key: string;
  readonly size: number;
  readonly object: Omit<OriginObject, 'body'>;
  /** Whether the object is immutable and why (its response headers say so). */
  readonly verdict: Verdict;
  /** Resolves with the whole body and its sha256 once the last byte arrived; rejects on failure. */
  readonly done: Promise<{ body: Buffer; sha256: string }>;
  readonly #chunks: Buffer[] = [];
  #received = 0;
  #error: Error | undefined;
  #finished = false;
  #wake: Array<() => void> = [];

  /**
   * @param expected what the bytes must hash to: the origin's stored SHA-256, and/or a hex
   *   prefix of it from the name (--verify-names). A body that does not is refused, not cached.
   */
  constructor(key: string, object: OriginObject, verdict: Verdict, expected: { sha256?: string | undefined; sha256Prefixes?: readonly string[] | undefined } = {}) {
    this.key = key;
    this.size = object.size;
    this.verdict = verdict;
    this.object = { size: object.size, contentType: object.contentType, lastModified: object.lastModified, ...(object.cacheControl !== undefined ? { cacheControl: object.cacheControl } : {}) };
    const hash = createHash('sha256');
    this.done = new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        if (this.#finished || this.#error) return;
        this.#error = err;
        this.#chunks.length = 0;
        object.body.destroy();
        this.#notify();
        reject(err);
      };
      object.body.on('data', (chunk: Buffer) => {
        if (this.#error) return;
        this.#received += chunk.length;
        if (this.#received > this.size) {
          fail(new OriginError('E_ORIGIN_TRUNCATED', 'The origin sent more bytes than it announced.'));
          return;
        }
        hash.update(chunk);
        this.#chunks.push(chunk);
        this.#notify();
      });
      object.body.once('error', (err) => fail(err));
      object.body.once('end', () => {
        if (this.#error) return;
        if (this.#received !== this.size) {
          fail(new OriginError('E_ORIGIN_TRUNCATED', `The origin body ended after ${this.#received} of ${this.size} bytes.`));
          return;
        }
        const sha256 = hash.digest('hex');
        if (expected.sha256 !== undefined && sha256 !== expected.sha256) {
          fail(new OriginError('E_ORIGIN_INTEGRITY', 'The origin body does not match the SHA-256 stored with it.'));
          return;
        }
        if (expected.sha256Prefixes !== undefined && !expected.sha256Prefixes.some((p) => sha256.startsWith(p))) {
          fail(new OriginError('E_ORIGIN_INTEGRITY', "The origin body does not match the content hash in its name."));
          return;
        }
        this.#finished = true;
        const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.size);
        this.#notify();
        resolve({ body, sha256 });
      });
      // A body that closes without 'end' or 'error' (destroyed without an error) is truncated.
      object.body.once('close', () => {
        if (!this.#finished) fail(new OriginError('E_ORIGIN_TRUNCATED', 'The origin body closed early.'));
      });
    });
    this.done.catch(() => {}); // readers observe failures through `error`; the group logs them
  }

  get received(): number {
    return this.#received;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Chunk number `index`, or undefined if it has not arrived (yet). */
  chunk(index: number): Buffer | undefined {
    return this.#chunks[index];
  }

  /** Resolves when more bytes arrived, or the fill finished or failed. */
  progress(): Promise<void> {
    if (this.#finished || this.#error) return Promise.resolve();
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const fn of wake) fn();
  }
}
