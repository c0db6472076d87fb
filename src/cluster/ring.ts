/**
 * Consistent hash ring with virtual nodes: every key has one owner, and adding or removing one
 * of N nodes moves about 1/N of the keys (only to or from that node).
 *
 * Choice: 160 points per node from md5, 4 points per digest (the ketama scheme memcached
 * clients use). golang/groupcache uses 50 replicas of crc32; with 3-5 nodes that leaves shares
 * off by 20-30%, while 160 ketama points keep every node within a few percent of 1/N. The
 * ring is only consulted on a miss, so md5's cost (~1 us) is not on the hot path. The hash is
 * injectable for tests.
 */
import { createHash } from 'node:crypto';

/** Maps a string to 4 unsigned 32-bit points. */
export type RingHash = (data: string) => readonly number[];

export const md5Points: RingHash = (data) => {
  const d = createHash('md5').update(data).digest();
  return [d.readUInt32LE(0), d.readUInt32LE(4), d.readUInt32LE(8), d.readUInt32LE(12)];
};

export interface RingOptions {
  /** Points per node, a multiple of 4. @default 160 */
  readonly pointsPerNode?: number;
  readonly hash?: RingHash;
}

export class Ring {
  readonly nodes: readonly string[];
  readonly #points: Uint32Array;
  readonly #owners: Uint16Array;
  readonly #hash: RingHash;

  constructor(nodes: Iterable<string>, options: RingOptions = {}) {
    this.#hash = options.hash ?? md5Points;
    const perNode = options.pointsPerNode ?? 160;
    this.nodes = Object.freeze([...new Set(nodes)].sort());
    const entries: Array<[number, number]> = [];
    this.nodes.forEach((node, index) => {
      for (let i = 0; i < perNode / 4; i++) {
        for (const point of this.#hash(`${node}-${i}`)) entries.push([point, index]);
      }
    });
    // Ties broken by node name order, so every node builds the identical ring.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#points = Uint32Array.from(entries, (e) => e[0]);
    this.#owners = Uint16Array.from(entries, (e) => e[1]);
  }

  /** The node that owns key, or undefined for an empty ring. */
  owner(key: string): string | undefined {
    const n = this.#points.length;
    if (n === 0) return undefined;
    const point = this.#hash(key)[0]!;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < point) lo = mid + 1;
      else hi = mid;
    }
    return this.nodes[this.#owners[lo === n ? 0 : lo]!];
  }

  /** Fraction of the hash space each node owns (for the status page). */
  shares(): Map<string, number> {
    const shares = new Map<string, number>(this.nodes.map((node) => [node, 0]));
    const n = this.#points.length;
    for (let i = 0; i < n; i++) {
      const prev = i === 0 ? this.#points[n - 1]! - 2 ** 32 : this.#points[i - 1]!;
      const node = this.nodes[this.#owners[i]!]!;
      shares.set(node, shares.get(node)! + (this.#points[i]! - prev) / 2 ** 32);
    }
    return shares;
  }
}
