/**
 * The most requested keys, approximately, in bounded memory: the Space-Saving algorithm
 * (Metwally et al., 2005). At most `capacity` counters; a new key takes over the smallest
 * counter and inherits its count, so any key requested more than total/capacity times is
 * always present, and counts are over-estimates by at most the inherited amount.
 */
export class TopKeys {
  readonly #capacity: number;
  readonly #counts = new Map<string, number>();
  /**
   * Keys that had the smallest count at the last scan, in the map's order, and that count: the
   * counters a new key takes over next. Counts only grow and a new key starts above that count,
   * so a candidate still at it is a smallest counter: one scan serves every arrival until they
   * are used up, instead of a scan of all counters per new key (under Zipf, most requests of
   * the long tail).
   */
  #floor: string[] = [];
  #floorAt = 0;
  #floorCount = 0;

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
    const minKey = this.#smallest();
    const min = this.#counts.get(minKey)!;
    this.#counts.delete(minKey);
    this.#counts.set(key, min + weight);
  }

  /** The first key (in the map's order) with the smallest count, as a scan of every counter would find it. */
  #smallest(): string {
    while (this.#floorAt < this.#floor.length) {
      const key = this.#floor[this.#floorAt++]!;
      if (this.#counts.get(key) === this.#floorCount) return key;
    }
    let min = Infinity;
    for (const c of this.#counts.values()) if (c < min) min = c;
    const floor: string[] = [];
    for (const [k, c] of this.#counts) if (c === min) floor.push(k);
    this.#floor = floor;
    this.#floorCount = min;
    this.#floorAt = 1;
    return floor[0]!;
  }

  /** The n keys with the highest counts, highest first. */
  top(n: number): Array<{ key: string; requests: number }> {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, n)
      .map(([key, requests]) => ({ key, requests }));
  }
}
