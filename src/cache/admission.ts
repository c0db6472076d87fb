/**
 * Which keys owned by other nodes earn a place in the hot cache (groupcache's hotCache).
 * groupcache promotes 1 fetch in 10 at random, so a one-off key still lands there 10% of the
 * time and a hot one needs ~10 owner round trips; galaxycache estimates each key's rate.
 * Counting requests per key over a short window is the simple form of the latter:
 * deterministic (testable), one-offs never admitted, a hot key admitted on its second request.
 */
import { LRUCache } from 'lru-cache';

/** A key owned by another node is kept in the hot cache once requested this often here... */
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

  /** Whether key is hot enough to be kept; if so its count starts again. */
  admit(key: string): boolean {
    if ((this.#heat.get(key) ?? 0) < this.#afterRequests) return false;
    this.#heat.delete(key);
    return true;
  }

  /** Forgets key's requests (a purge). */
  forget(key: string): void {
    this.#heat.delete(key);
  }
}
