/**
 * What the group keeps, and nothing about how it got there: the main and hot LRUs of blobs
 * within one byte budget, and the negative caches (origin 404s, refusals of keys that are not
 * immutable, remembered load errors). groupcache's `cache` type (an LRU with byte accounting),
 * twice, plus what hashedge remembers of failed or refused loads.
 *
 *  - main: keys this node loaded from the origin (it owns them, or their owner was failing);
 *    at most the budget less hot's share;
 *  - hot:  keys owned by other nodes that admission.ts let in. Its share of the budget is
 *    guaranteed; beyond it, hot borrows the room main leaves free and gives it back first: a
 *    set that takes main + hot over the budget evicts hot's least recently used entries (never
 *    a main one because hot borrowed). Memory a node's own keys do not use would otherwise sit
 *    idle while other members' keys took a round trip each (issue 18: --workers 2 under Zipf).
 *    lru-cache's maxSize is fixed per instance, so the hot LRU is sized to the whole budget and
 *    the store enforces the joint limit after each set with the hot LRU's own pop() (its
 *    dispose counts the eviction, tells the reclaimer and the variant queue);
 *  - a blob that is not immutable (kept with --allow-unhashed) expires at its `expiresAt`;
 *  - every blob dropped (evicted, expired, purged) is reported to the reclaimer, whose GCs
 *    give bodies' memory back (reclaim.ts).
 */
import { LRUCache } from 'lru-cache';
import type { Verdict } from '../asset/immutability.js';
import type { EdgeError } from '../errors.js';
import type { Blob } from './blob.js';

/** Origin 404s, refusals and errors remembered at most, each (each costs ~100 bytes). */
export const NEGATIVE_CACHE_ENTRIES = 10_000;

/** Which of the two LRUs a blob is kept in. */
export type Tier = 'main' | 'hot';

/** Counters the store adds to (the group's stats). */
export interface StoreCounters {
  evictions: number;
  /** Hits on the hot tier (a hit there whose blob had expired included). */
  hotHits: number;
}

export interface StoreOptions {
  /** Bytes the main and hot LRUs may hold together, variants included. */
  readonly budgetBytes: number;
  /**
   * Bytes of budgetBytes guaranteed to the hot LRU (main holds at most the rest); hot may also
   * borrow what main leaves free. 0: no hot tier. @default 0
   */
  readonly hotShareBytes?: number;
  /** ms an origin 404 or a refusal (not immutable) is remembered; 0 disables. */
  readonly negativeTtl: number;
  /** ms a failed load is remembered; 0 disables. @default 0 */
  readonly errorTtl?: number;
  /** ms since epoch, compared with blobs' expiresAt and errors' deadlines. @default Date.now */
  readonly clock?: () => number;
  readonly counters: StoreCounters;
  /** Told of every blob's bytes dropped (evicted, expired, purged), not of replaced ones. */
  readonly reclaimer?: { dropped(bytes: number): void };
  /** A key's blob left its LRU or was replaced (by its variants, a purge, a refill). */
  readonly onDispose?: (key: string) => void;
  /** A blob was kept in the main tier (filled, promoted from disk, given its variants) or evicted from it: the disk tier writes it behind. */
  readonly onMain?: (blob: Blob) => void;
}

/** A tier's fill and budget. */
export interface TierUsage {
  bytes: number;
  items: number;
  /** main: what it may hold (the budget less hot's share); hot: its guaranteed share (it may borrow beyond it what main leaves free). */
  budgetBytes: number;
}

export class Store {
  readonly #clock: () => number;
  readonly #errorTtl: number;
  /** Bytes main and hot may hold together. */
  readonly #budget: number;
  /** Bytes of #budget guaranteed to hot. */
  readonly #hotShare: number;
  readonly #main: LRUCache<string, Blob>;
  readonly #hot: LRUCache<string, Blob> | undefined;
  readonly #counters: StoreCounters;
  readonly #onMain: ((blob: Blob) => void) | undefined;
  readonly #negative: LRUCache<string, true> | undefined;
  /** Keys whose last load failed, with the error and until when (ms, clock) it is answered again. */
  readonly #errors: LRUCache<string, { error: EdgeError; until: number }> | undefined;
  /** Keys the origin has but nothing says are immutable (only set without serveMutable). */
  readonly #notImmutable: LRUCache<string, Verdict> | undefined;

  constructor(options: StoreOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#errorTtl = options.errorTtl ?? 0;
    this.#counters = options.counters;
    const { reclaimer, onDispose, onMain } = options;
    const blobCache = (maxSize: number, onEvict?: (blob: Blob) => void) =>
      new LRUCache<string, Blob>({
        maxSize,
        sizeCalculation: (blob) => blob.byteSize,
        dispose: (blob, key, reason) => {
          if (reason === 'evict') {
            this.#counters.evictions++;
            onEvict?.(blob);
          }
          // Evicted, expired or purged: its bodies are garbage now (a 'set' keeps them in the new blob).
          if (reason !== 'set') reclaimer?.dropped(blob.byteSize);
          onDispose?.(key);
        },
      });
    this.#budget = options.budgetBytes;
    this.#hotShare = Math.min(options.hotShareBytes ?? 0, this.#budget);
    this.#main = blobCache(this.#budget - this.#hotShare, onMain);
    this.#onMain = onMain;
    // Sized to the whole budget: what hot may use beyond its share is checked in #giveBack.
    this.#hot = this.#hotShare > 0 ? blobCache(this.#budget) : undefined;
    const negativeTtl = options.negativeTtl;
    // lru-cache keeps its own time (performance.now, read at most once per ms); an injected
    // clock is read on every check instead, so whoever moves it sees the move at once.
    const ttlClock = options.clock === undefined ? {} : { perf: { now: options.clock }, ttlResolution: 0 };
    this.#negative = negativeTtl > 0 ? new LRUCache<string, true>({ max: NEGATIVE_CACHE_ENTRIES, ttl: negativeTtl, ...ttlClock }) : undefined;
    this.#notImmutable = negativeTtl > 0 ? new LRUCache<string, Verdict>({ max: NEGATIVE_CACHE_ENTRIES, ttl: negativeTtl, ...ttlClock }) : undefined;
    this.#errors = this.#errorTtl > 0 ? new LRUCache({ max: NEGATIVE_CACHE_ENTRIES }) : undefined;
  }

  /** Whether there is a hot tier (a hot cache budget above 0). */
  get hasHot(): boolean {
    return this.#hot !== undefined;
  }

  /**
   * The blob cached for key, main tier first, as recently used; synchronous, for the hot path.
   * A blob past its expiresAt is dropped from both tiers instead.
   */
  get(key: string): Blob | undefined {
    let blob = this.#main.get(key);
    if (blob === undefined) {
      blob = this.#hot?.get(key);
      if (blob === undefined) return undefined;
      this.#counters.hotHits++;
    }
    if (blob.expiresAt !== 0 && blob.expiresAt <= this.#clock()) {
      this.#main.delete(key);
      this.#hot?.delete(key);
      return undefined;
    }
    return blob;
  }

  /** The blob cached for key, main tier first, without touching recency or expiry. */
  peek(key: string): Blob | undefined {
    return this.#main.peek(key) ?? this.#hot?.peek(key);
  }

  /** Whether bytes more fit in the budget without evicting anything (main and hot together). */
  fits(bytes: number): boolean {
    return this.#main.calculatedSize + (this.#hot?.calculatedSize ?? 0) + bytes <= this.#budget;
  }

  /** Keeps blob in tier (the hot tier must exist); false: it is too large to be kept there. */
  set(tier: Tier, key: string, blob: Blob): boolean {
    const cache = tier === 'main' ? this.#main : this.#hot!;
    cache.set(key, blob);
    if (tier === 'main') this.#onMain?.(blob);
    this.#giveBack();
    return cache.peek(key) === blob;
  }

  /** Replaces key's blob by next in the tier holding exactly `current`; false: neither holds it any more. */
  replace(key: string, current: Blob, next: Blob): boolean {
    const tier = this.#main.peek(key) === current ? this.#main : this.#hot?.peek(key) === current ? this.#hot : undefined;
    if (tier === undefined) return false;
    tier.set(key, next);
    if (tier === this.#main) this.#onMain?.(next);
    this.#giveBack();
    return true;
  }

  /**
   * The joint limit, after any set: while main + hot exceed the budget, hot's least recently
   * used entry goes. Main never exceeds the budget less hot's share, so only borrowed room is
   * given back (hot is above its share whenever the sum is over) and no main entry is evicted.
   */
  #giveBack(): void {
    const hot = this.#hot;
    if (hot === undefined) return;
    while (this.#main.calculatedSize + hot.calculatedSize > this.#budget && hot.size > 0) hot.pop();
  }

  /** Whether the origin answered 404 for key within negativeTtl. */
  notFound(key: string): boolean {
    return this.#negative?.get(key) === true;
  }

  rememberNotFound(key: string): void {
    this.#negative?.set(key, true);
  }

  /** The verdict of a key refused as not immutable within negativeTtl. */
  refusal(key: string): Verdict | undefined {
    return this.#notImmutable?.get(key);
  }

  rememberRefusal(key: string, verdict: Verdict): void {
    this.#notImmutable?.set(key, verdict);
  }

  /** The error of key's last load while it is remembered (errorTtl); forgets it after. */
  failure(key: string): EdgeError | undefined {
    const failed = this.#errors?.get(key);
    if (failed === undefined) return undefined;
    if (failed.until > this.#clock()) return failed.error;
    this.#errors!.delete(key);
    return undefined;
  }

  /** A failed load, answered again for errorTtl without asking (nginx's proxy_cache_lock has the waiters; this covers the ones after). */
  rememberFailure(key: string, error: EdgeError): void {
    this.#errors?.set(key, { error, until: this.#clock() + this.#errorTtl });
  }

  /** Forgets key everywhere (both tiers, 404, refusal, error); returns whether a blob was cached. */
  purge(key: string): boolean {
    const inMain = this.#main.delete(key);
    const inHot = this.#hot?.delete(key) ?? false;
    this.#negative?.delete(key);
    this.#notImmutable?.delete(key);
    this.#errors?.delete(key);
    return inMain || inHot;
  }

  /** Forgets every key starting with prefix; returns the keys whose blobs were cached. */
  purgePrefix(prefix: string): Set<string> {
    const keys = new Set<string>();
    for (const key of this.#main.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.#hot?.keys() ?? []) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.#negative?.keys() ?? []) if (key.startsWith(prefix)) this.#negative?.delete(key);
    for (const key of this.#notImmutable?.keys() ?? []) if (key.startsWith(prefix)) this.#notImmutable?.delete(key);
    for (const key of this.#errors?.keys() ?? []) if (key.startsWith(prefix)) this.#errors?.delete(key);
    for (const key of keys) this.purge(key);
    return keys;
  }

  /** A tier's fill and budget (all 0 for a hot tier that does not exist); see TierUsage.budgetBytes. */
  usage(tier: Tier): TierUsage {
    const cache = tier === 'main' ? this.#main : this.#hot;
    const budgetBytes = cache === undefined ? 0 : tier === 'main' ? cache.maxSize : this.#hotShare;
    return { bytes: cache?.calculatedSize ?? 0, items: cache?.size ?? 0, budgetBytes };
  }
}
