/**
 * Compressed variants of cached blobs, made when the encoder has room (encoder.ts bounds it).
 * A blob stored while the encoder was busy is kept identity-only and its key waits here,
 * oldest first; whenever a job ends, the oldest waiting key still cached and still without
 * variants is encoded next, and a hit on a waiting key sends it ahead of the rest.
 * Keys only, so an evicted blob is not kept alive: the store tells of every key it drops.
 */
import type { Logger } from '../log.js';
import type { Blob } from './blob.js';
import type { Variants } from './encode.js';

/** Keys remembered as waiting for variants (~100 bytes each); beyond it, blobs stay identity-only. */
export const PENDING_VARIANTS_MAX = 10_000;

/** What the queue needs of the encoder (encoder.ts). */
export interface VariantEncoder {
  /** Whether a job would start now. */
  readonly idle: boolean;
  /** Jobs compressing or waiting to. */
  readonly jobs: number;
  /** The variants of body, or undefined (at once) when too much is waiting already. */
  encode(body: Buffer): Promise<Variants> | undefined;
}

/** Where the blobs are kept (store.ts). */
export interface VariantShelf {
  /** The blob kept for key, as it is (no recency, no expiry). */
  peek(key: string): Blob | undefined;
  /** Puts next in place of current, only if current is still what is kept for key. */
  replace(key: string, current: Blob, next: Blob): boolean;
}

export interface VariantQueueOptions {
  readonly encoder: VariantEncoder;
  readonly shelf: VariantShelf;
  readonly log: Logger;
  /** @default PENDING_VARIANTS_MAX */
  readonly maxPending?: number;
}

export class VariantQueue {
  readonly #encoder: VariantEncoder;
  readonly #shelf: VariantShelf;
  readonly #log: Logger;
  readonly #maxPending: number;
  /** Keys of cached compressible blobs kept without variants because the encoder was busy, oldest first. */
  readonly #pending = new Set<string>();

  constructor(options: VariantQueueOptions) {
    this.#encoder = options.encoder;
    this.#shelf = options.shelf;
    this.#log = options.log;
    this.#maxPending = options.maxPending ?? PENDING_VARIANTS_MAX;
  }

  /**
   * Encodes a kept blob's variants and keeps them in its place (unless it was purged or
   * replaced meanwhile); with the encoder full, its key waits. Then starts on the next waiting.
   */
  async add(blob: Blob): Promise<void> {
    const encoding = this.#encoder.encode(blob.identity.body);
    if (encoding === undefined) {
      if (this.#pending.size < this.#maxPending) this.#pending.add(blob.key);
      return;
    }
    try {
      const variants = await encoding;
      this.#shelf.replace(blob.key, blob, blob.withVariants(variants));
    } catch (err) {
      this.#log.warn({ event: 'encode_error', key: blob.key, err: String(err) });
    }
    this.#encodeNext();
  }

  /** A hit on a compressible blob without variants: if it waits and the encoder is free, it goes first. */
  hit(key: string, blob: Blob): void {
    if (this.#encoder.idle && this.#pending.delete(key)) void this.add(blob);
  }

  /** key's blob was dropped or replaced: nothing left to encode for it. */
  forget(key: string): void {
    this.#pending.delete(key);
  }

  /** Blobs waiting for or being given their variants: 0 once compression has caught up. */
  get size(): number {
    return this.#pending.size + this.#encoder.jobs;
  }

  /** With the encoder free, starts on the oldest blob still waiting for its variants. */
  #encodeNext(): void {
    for (const key of this.#pending) {
      if (!this.#encoder.idle) return;
      this.#pending.delete(key);
      const blob = this.#shelf.peek(key);
      if (blob !== undefined && blob.compressible && blob.br === undefined && blob.gzip === undefined) {
        void this.add(blob);
        return;
      }
    }
  }
}
