/**
 * Which keys owned by other nodes earn a place in the hot cache (groupcache's hotCache).
 *
 * While memory has room for a key without evicting anything (main and hot together, the
 * store's fits()), it is kept at once: 2Q's free-room case, as promotion.ts does for disk hits,
 * and the spirit of nginx's proxy_cache_min_uses. Refusing it would leave memory idle while
 * every request for the key took a round trip to its owner (issue 18: each worker of
 * `--workers 2` sent ~10% of a Zipf load to its sibling with its main cache two-thirds empty).
 *
 * Once memory is full, keeping a key evicts another, so it must earn its place. groupcache
 * promotes 1 fetch in 10 at random, so a one-off key still lands there 10% of the time and a
 * hot one needs ~10 owner round trips; galaxycache estimates each key's rate. Counting
 * requests per key over a short window is the simple form of the latter: deterministic
 * (testable), one-offs never admitted, a hot key admitted on its second request.
 */
import { LRUCache } from 'lru-cache';

/** With memory full, a key owned by another node is kept in the hot cache once requested this often here... */
export const HOT_AFTER_REQUESTS = 2;
/** ...within this window (ms) of its first request. */
export const HOT_WINDOW_MS = 60_000;
/** Keys whose requests are counted for admission at most (each costs ~100 bytes). */
export const HOT_CANDIDATES = 10_000;

export interface AdmissionOptions {
  /** @default HOT_AFTER_REQUESTS */
  readonly afterRequests?: number;
  /** ms from a key's first counted request in which the others must come. @default HOT_WINDOW_MS */
  readonly windowMs?: number;
  /** Keys counted at most; the least recently requested are forgotten. @default HOT_CANDIDATES */
  readonly candidates?: number;
  /** Monotonic ms, injectable for tests. @default performance.now (lru-cache's) */
  readonly clock?: () => number;
}

export class Admission {
  readonly #afterRequests: number;
  /** Requests per key routed to its owner, counted from the key's first one for windowMs. */
  readonly #heat: LRUCache<string, number>;

  constructor(options: AdmissionOptions = {}) {
    this.#afterRequests = options.afterRequests ?? HOT_AFTER_REQUESTS;
    this.#heat = new LRUCache<string, number>({
      max: options.candidates ?? HOT_CANDIDATES,
      ttl: options.windowMs ?? HOT_WINDOW_MS,
      noUpdateTTL: true,
      // An injected clock is read on every check (lru-cache otherwise reuses a reading for 1 ms).
      ...(options.clock ? { perf: { now: options.clock }, ttlResolution: 0 } : {}),
    });
  }

  /** A request for key is going to its owner. */
  requested(key: string): void {
    this.#heat.set(key, (this.#heat.get(key) ?? 0) + 1);
  }

  /**
   * Whether key is kept: at once when it `fits` (memory has room for it without evicting
   * anything), else when it is hot enough. If kept, its count starts again.
   */
  admit(key: string, fits: boolean): boolean {
    if (!fits && (this.#heat.get(key) ?? 0) < this.#afterRequests) return false;
    this.#heat.delete(key);
    return true;
  }

  /** Forgets key's requests (a purge). */
  forget(key: string): void {
    this.#heat.delete(key);
  }
}
