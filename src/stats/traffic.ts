/**
 * What the asset path answered, counted as plain numbers on the hot path (one Map update per
 * response: no prom-client label lookups there). /_hashedge/stats and /metrics read these when
 * asked.
 */
import { OUTCOMES, type Outcome } from '../cache/outcome.js';
import { TopKeys } from './top-keys.js';

/** How the cache took part (cache/outcome.ts). */
export type CacheResult = Outcome;

export const CACHE_RESULTS: readonly CacheResult[] = OUTCOMES;
const CACHE_INDEX = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Readonly<Record<CacheResult, number>>;
/** Combined key: status * SLOTS + cache index. */
const SLOTS = 8;

export class Traffic {
  requests = 0;
  /** Body bytes of the responses, as announced in their Content-Length. */
  bytesSent = 0;
  readonly #counts = new Map<number, number>();
  /** 200 hits, the hot path's one outcome, in a plain field (no Map update). */
  #hit200 = 0;
  /** Hits the HTTP/1 fast lane answered itself (counted in the figures above too). */
  laneHits = 0;
  /**
   * Requests the fast lane held on its connection while the asset handler answered them: misses,
   * and requests with Range, If-Range or a conditional (their cache result is in byCache).
   */
  laneHeld = 0;
  /** Connections the fast lane gave to node:http (at their first request it did not take). */
  laneHandovers = 0;
  /**
   * Connections the fast lane accepted, by how it read them: into its own buffer (Node's socket
   * internals, fast-lane/read-buffer.ts), or through the socket's stream where this Node lacks them.
   */
  laneReadsBuffer = 0;
  laneReadsStream = 0;
  /**
   * Hits the fast lane wrote, by how: to the socket's handle (Node's stream internals,
   * fast-lane/handle-writer.ts), or through the socket's stream (this Node lacks them, or the
   * stream still held bytes of an earlier answer).
   */
  laneWritesHandle = 0;
  laneWritesStream = 0;
  readonly #topKeys = new TopKeys();

  record(status: number, cache: CacheResult, bytes: number): void {
    this.requests++;
    this.bytesSent += bytes;
    if (status === 200 && cache === 'hit') {
      this.#hit200++;
      return;
    }
    const slot = status * SLOTS + CACHE_INDEX[cache];
    this.#counts.set(slot, (this.#counts.get(slot) ?? 0) + 1);
  }

  /** Called with every valid asset key requested (one bounded Map update). */
  countKey(key: string): void {
    this.#topKeys.add(key);
  }

  /** Responses by (status, cache result). */
  *counts(): IterableIterator<{ status: number; cache: CacheResult; count: number }> {
    if (this.#hit200 > 0) yield { status: 200, cache: 'hit', count: this.#hit200 };
    for (const [slot, count] of this.#counts) yield { status: Math.floor(slot / SLOTS), cache: CACHE_RESULTS[slot % SLOTS]!, count };
  }

  topKeys(n = 10): Array<{ key: string; requests: number }> {
    return this.#topKeys.top(n);
  }

  toJSON() {
    const byStatus: Record<string, number> = {};
    const byCache = Object.fromEntries(CACHE_RESULTS.map((c) => [c, 0])) as Record<CacheResult, number>;
    for (const { status, cache, count } of [...this.counts()].sort((a, b) => a.status - b.status)) {
      byStatus[status] = (byStatus[status] ?? 0) + count;
      byCache[cache] += count;
    }
    return {
      requests: this.requests,
      bytesSent: this.bytesSent,
      byStatus,
      byCache,
      fastLane: {
        hits: this.laneHits,
        held: this.laneHeld,
        handovers: this.laneHandovers,
        connections: { buffer: this.laneReadsBuffer, stream: this.laneReadsStream },
        writes: { handle: this.laneWritesHandle, stream: this.laneWritesStream },
      },
    };
  }
}
