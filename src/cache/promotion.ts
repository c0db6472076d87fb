/**
 * Which disk hits are kept in memory again (promoted), after 2Q's ghost queue (Johnson and
 * Shasha, VLDB '94) and nginx's proxy_cache_min_uses: a key read from disk is promoted at once
 * while memory has room for it without evicting anything; after that only on a second disk hit
 * while it is still among the last N keys read from disk and not promoted, N being the number
 * of objects memory holds now. Reasoning: memory's LRU keeps an object for about N
 * promotions, so a key whose disk hits come further apart than that would be evicted before its
 * next hit, and promoting it costs a SHA-256 of the whole file, the memory's churn (an
 * eviction, the GC of both bodies) and gains nothing. A key that is not promoted is answered
 * from the bytes just read (verified on its first read in this process), and dropped.
 * bench/disk-hit-cpu.ts measures it (bench/RESULTS.md): uniform hits over a working set 14x
 * memory, where promoting every hit was pure churn.
 */

/** Keys remembered at least, however little memory holds (after a restart, memory is empty). */
const MIN_REMEMBERED = 256;

export class Promotion {
  /** Keys read from disk and not promoted, oldest first (a Map keeps insertion order). */
  readonly #recent = new Map<string, true>();

  /**
   * Whether key, being read from disk now, goes back to memory. `fits`: memory has room for it
   * without evicting; `memoryItems`: the objects memory holds now.
   */
  admit(key: string, fits: boolean, memoryItems: number): boolean {
    if (this.#recent.delete(key) || fits) return true;
    this.#recent.set(key, true);
    const limit = Math.max(MIN_REMEMBERED, memoryItems);
    for (const oldest of this.#recent.keys()) {
      if (this.#recent.size <= limit) break;
      this.#recent.delete(oldest);
    }
    return false;
  }

  /** A purged key starts again. */
  forget(key: string): void {
    this.#recent.delete(key);
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#recent.size;
  }
}
