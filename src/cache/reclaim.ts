/**
 * Memory of evicted bodies given back promptly. A cached body lives outside V8's heap (a Buffer's
 * backing store, from malloc or mmap) and is freed only when a major GC finds its Buffer
 * unreachable. V8 plans major GCs by the growth of its own heap, which a cache of long-lived
 * bodies barely touches, and reacts to outside memory only after it grew by 64 MiB. Under a
 * working set larger than the cache that is 64 MiB of dead bodies on top of the budget, and
 * more when a GC comes late (bench memory workload, 45 MiB cache: V8's external memory at
 * 53-113 MiB for 45 MiB of bodies).
 *
 * So once the cache has dropped (evicted or purged) `thresholdBytes` since the last collection
 * it asked for, it asks V8 for a full GC, on a later turn of the event loop so that no caller's
 * stack still holds the dropped blob, and never sooner than `minIntervalMs` after the last one.
 * A forced full GC is dearer than its pause (18 ms on average for hashedge's heap, --trace-gc):
 * it also costs V8 optimized code, compiled again afterwards (a 13 s run of the bench's churn
 * with no compression: 1,090 optimizations with one forced GC a second, 447 with none), and one
 * a second served 15-25% fewer requests. Under heavy churn V8 runs its own incremental
 * mark-compacts anyway (~5 a second there), so the interval is long: 10 s. Light churn, where
 * V8 would wait for 64 MiB of new outside memory, gets its memory back after every threshold.
 *
 * V8 gives a script its `gc` function only under --expose-gc; the flag is set at run time and
 * the function taken from a fresh context, as jest's leak detector does. Setting the flag after
 * start is outside what Node documents for v8.setFlagsFromString, so `gc` is checked to be a
 * function and reclaiming turns itself off (memory then goes back whenever V8 decides) if not.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Asks for a full collection at least every this many bytes dropped... */
export const RECLAIM_MIN_BYTES = 8 * 1024 * 1024;
/** ...or this share of the cache budget, whichever is larger: GCs stay rare for large caches. */
export const RECLAIM_BUDGET_SHARE = 0.05;
/** At most one full GC per this many milliseconds, however fast the cache churns. */
export const RECLAIM_MIN_INTERVAL_MS = 10_000;

export interface ReclaimerOptions {
  /** Bytes dropped that make the reclaimer ask for a GC. */
  readonly thresholdBytes: number;
  /** Runs a full GC; injectable for tests. @default V8's gc, exposed at run time */
  readonly collect?: (() => void) | undefined;
  /** Milliseconds from one GC asked for to the next, at least. @default RECLAIM_MIN_INTERVAL_MS */
  readonly minIntervalMs?: number;
}

export class Reclaimer {
  readonly #thresholdBytes: number;
  readonly #collect: (() => void) | undefined;
  readonly #minIntervalMs: number;
  #droppedBytes = 0;
  #scheduled = false;
  /** performance.now() of the last GC asked for. */
  #lastCollectionAt = -Infinity;
  /** Full GCs asked for so far (hashedge_cache_reclaim_gcs_total). */
  collections = 0;

  constructor(options: ReclaimerOptions) {
    this.#thresholdBytes = options.thresholdBytes;
    this.#collect = 'collect' in options ? options.collect : exposedGc();
    this.#minIntervalMs = options.minIntervalMs ?? RECLAIM_MIN_INTERVAL_MS;
  }

  /** The threshold for a cache of budgetBytes. */
  static thresholdFor(budgetBytes: number): number {
    return Math.max(RECLAIM_MIN_BYTES, Math.floor(budgetBytes * RECLAIM_BUDGET_SHARE));
  }

  /** Whether a GC function is at hand (false: memory goes back when V8 decides). */
  get enabled(): boolean {
    return this.#collect !== undefined;
  }

  /** The cache let go of bytes of bodies. */
  dropped(bytes: number): void {
    this.#droppedBytes += bytes;
    if (this.#droppedBytes < this.#thresholdBytes || this.#scheduled || this.#collect === undefined) return;
    this.#scheduled = true;
    const collect = this.#collect;
    const run = () => {
      // Timers fire on libuv's millisecond clock, which can run up to ~1 ms behind
      // performance.now(): wait out what is left rather than collect early.
      const left = this.#lastCollectionAt + this.#minIntervalMs - performance.now();
      if (left > 0) {
        setTimeout(run, Math.ceil(left)).unref();
        return;
      }
      this.#scheduled = false;
      this.#droppedBytes = 0;
      this.collections++;
      this.#lastCollectionAt = performance.now();
      collect();
    };
    const wait = this.#lastCollectionAt + this.#minIntervalMs - performance.now();
    (wait > 0 ? setTimeout(run, wait) : setImmediate(run)).unref();
  }
}

let gcFunction: (() => void) | undefined | null = null;

/** V8's gc(), exposed once per process; undefined if this Node does not allow it. */
function exposedGc(): (() => void) | undefined {
  if (gcFunction !== null) return gcFunction;
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return (gcFunction = existing as () => void);
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    gcFunction = typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    gcFunction = undefined;
  }
  return gcFunction;
}
