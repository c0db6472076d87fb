/**
 * The most requested keys, approximately, in bounded memory: the Space-Saving algorithm
 * (Metwally et al., 2005). At most `capacity` counters; a new key takes over the smallest
 * counter and inherits its count, so any key requested more than total/capacity times is
 * always present, and counts are over-estimates by at most the inherited amount.
 */
export class TopKeys {
  readonly #capacity: number;
  readonly #counts = new Map<string, number>();

  /** @param capacity counters kept (memory: ~100 bytes each). @default 64 */
  constructor(capacity = 64) {
    this.#capacity = capacity;
  }

  add(key: string, weight = 1): void {
    const count = this.#counts.get(key);
    if (count !== undefined) {
      this.#counts.set(key, count + weight);
      return;
    }
    if (this.#counts.size < this.#capacity) {
      this.#counts.set(key, weight);
      return;
    }
    let minKey = '';
    let min = Infinity;
    for (const [k, c] of this.#counts) {
      if (c < min) {
        min = c;
        minKey = k;
      }
    }
    this.#counts.delete(minKey);
    this.#counts.set(key, min + weight);
  }

  /** The n keys with the highest counts, highest first. */
  top(n: number): Array<{ key: string; requests: number }> {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, n)
      .map(([key, requests]) => ({ key, requests }));
  }
}
