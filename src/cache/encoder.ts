/**
 * Compression of fills, bounded. Brotli costs ~15 ms of CPU per 300 KB of script at quality 6
 * (~120 ms at 9, ~400 at 11), on libuv's threadpool. A burst of cold misses (a deploy, a
 * working set larger than the cache) would otherwise queue one job per miss: the threadpool
 * falls minutes behind, starves serving of CPU, and every queued job holds its buffers at once
 * (`npm run bench` memory workload: 418 MiB resident with a 45 MiB cache before this bound).
 *
 * At most ENCODE_CONCURRENCY jobs run at a time; others wait in a queue of at most
 * ENCODE_BACKLOG_BYTES. A job beyond that is refused at once: the blob is kept identity-only and
 * gets its variants later, when the encoder is free (see Group: oldest first, a hit first). A
 * response waits for its variants only when the encoder is free; otherwise it goes with the
 * identity bytes.
 */
import { encodeVariants, type Variants } from './encode.js';

/** Jobs (a brotli and a gzip of one body, in parallel) compressing at once. */
export const ENCODE_CONCURRENCY = 1;
/** Bytes of bodies allowed to wait for the encoder; more and encode() refuses. */
export const ENCODE_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface EncoderOptions {
  readonly brotliQuality: number;
  /** @default ENCODE_CONCURRENCY */
  readonly concurrency?: number;
  /** @default ENCODE_BACKLOG_BYTES */
  readonly backlogBytes?: number;
}

export class Encoder {
  readonly #options: Required<EncoderOptions>;
  #running = 0;
  #waitingBytes = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(options: EncoderOptions) {
    this.#options = { concurrency: ENCODE_CONCURRENCY, backlogBytes: ENCODE_BACKLOG_BYTES, ...options };
  }

  /** Whether a job would start now. */
  get idle(): boolean {
    return this.#running < this.#options.concurrency;
  }

  /** Jobs compressing or waiting to. */
  get jobs(): number {
    return this.#running + this.#waiting.length;
  }

  /** The variants of body, or undefined (at once) when too much is waiting already. */
  encode(body: Buffer): Promise<Variants> | undefined {
    if (this.idle) {
      this.#running++;
      return this.#run(body);
    }
    if (this.#waitingBytes + body.length > this.#options.backlogBytes) return undefined;
    this.#waitingBytes += body.length;
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(() => {
      this.#waitingBytes -= body.length;
      return this.#run(body);
    });
  }

  /** Runs in a slot taken by the caller; hands the slot to the next waiting job, if any. */
  async #run(body: Buffer): Promise<Variants> {
    try {
      return await encodeVariants(body, this.#options.brotliQuality);
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#running--;
    }
  }
}
