/**
 * The most requested keys, approximately, in bounded memory: the Space-Saving algorithm
 * (Metwally et al., 2005). At most `capacity` counters; a new key takes over the smallest
 * counter and inherits its count, so any key requested more than total/capacity times is
 * always present, and counts are over-estimates by at most the inherited amount.
 */
/** One key's counter; `key` is undefined once another key took it over (it left the map). */
interface Counter {
  key: string | undefined;
  count: number;
}

export class TopKeys {
  readonly #capacity: number;
  /**
   * Counters by key, each a mutable object: a requested key already counted is one lookup and
   * an increment, not a lookup and a set (Map.get and Map.set each hash and compare the key, a
   * string made afresh per request; under Zipf, called on every hit).
   */
  readonly #counts = new Map<string, Counter>();
  /**
   * Counters that had the smallest count at the last scan, in the map's order, and that count: the
   * counters a new key takes over next. Counts only grow and a new key starts above that count,
   * so a candidate still at it (and still in the map) is a smallest counter: one scan serves every
   * arrival until they are used up, instead of a scan of all counters per new key (under Zipf,
   * most requests of the long tail).
   */
  #floor: Counter[] = [];
  #floorAt = 0;
  #floorCount = 0;

  /** @param capacity counters kept (memory: ~100 bytes each). @default 64 */
  constructor(capacity = 64) {
    this.#capacity = capacity;
  }

  add(key: string, weight = 1): void {
    const counter = this.#counts.get(key);
    if (counter !== undefined) {
      counter.count += weight;
      return;
    }
    if (this.#counts.size < this.#capacity) {
      this.#counts.set(key, { key, count: weight });
      return;
    }
    const smallest = this.#smallest();
    this.#counts.delete(smallest.key!);
    smallest.key = undefined;
    this.#counts.set(key, { key, count: this.#floorCount + weight });
  }

  /** The first counter (in the map's order) with the smallest count, as a scan of every counter would find it. */
  #smallest(): Counter {
    while (this.#floorAt < this.#floor.length) {
      const counter = this.#floor[this.#floorAt++]!;
      if (counter.key !== undefined && counter.count === this.#floorCount) return counter;
    }
    let min = Infinity;
    for (const c of this.#counts.values()) if (c.count < min) min = c.count;
    const floor: Counter[] = [];
    for (const c of this.#counts.values()) if (c.count === min) floor.push(c);
    this.#floor = floor;
    this.#floorCount = min;
    this.#floorAt = 1;
    return floor[0]!;
  }

  /** The n keys with the highest counts, highest first. */
  top(n: number): Array<{ key: string; requests: number }> {
    return [...this.#counts]
      .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
      .slice(0, n)
      .map(([key, { count }]) => ({ key, requests: count }));
  }
}
