/**
 * What the group has under way, per key, in one place. Three records, not one, because each
 * lives for a different stretch of a load and merging them would change what a request or a
 * purge sees:
 *
 *  - flights (SingleFlight): from the start of a load until it answers (for a large object:
 *    until its Fill is handed out). Requests arriving meanwhile share the answer. Flights
 *    through a peer (`peer:<key>`) and to the origin (`<key>`) are separate, so a peer's
 *    request never waits on a flight bound for another peer; a flight may also make no load
 *    at all (a hand-over fetch that comes back empty is followed by one, in the same flight).
 *  - fills: a large object's Fill, from that answer until its last byte is cached (or fails):
 *    requests after the flight ended stream from it instead of starting a load. A purge
 *    removes it at once, so later requests start a fresh load.
 *  - loads: every load of the key in progress (both flights of a key may have one, and the
 *    owner-failed fallback is a second), from its start until its body is cached. A purge marks
 *    them discarded, so what they bring answers its waiters but is not kept.
 */
import type { Fill } from './fill.js';
import { SingleFlight } from './singleflight.js';

/** One load in progress: a purge sets `discarded`. */
export interface Load {
  readonly discarded: boolean;
}

export class InFlight<T> {
  readonly #flights = new SingleFlight<T>();
  /** Large objects arriving now; present from the moment their load answers until cached. */
  readonly #fills = new Map<string, Fill>();
  /** Loads in progress by key. */
  readonly #loads = new Map<string, Set<{ discarded: boolean }>>();

  /** One call of fn per flight key at a time; `shared`: this caller joined one under way. */
  flight(flightKey: string, fn: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    return this.#flights.do(flightKey, fn);
  }

  /** A load of key starts; `end` it exactly once, when its result is kept or dropped. */
  begin(key: string): { readonly load: Load; end(): void } {
    const load = { discarded: false };
    let loads = this.#loads.get(key);
    if (loads === undefined) this.#loads.set(key, (loads = new Set()));
    loads.add(load);
    const set = loads;
    return {
      load,
      end: () => {
        set.delete(load);
        if (set.size === 0 && this.#loads.get(key) === set) this.#loads.delete(key);
      },
    };
  }

  /** Keys with a load in progress. */
  loadingKeys(): IterableIterator<string> {
    return this.#loads.keys();
  }

  /** The Fill a request for key can stream from, if one is arriving. */
  filling(key: string): Fill | undefined {
    return this.#fills.get(key);
  }

  /** fill is arriving for key: later requests stream from it. */
  startFill(key: string, fill: Fill): void {
    this.#fills.set(key, fill);
  }

  /** fill has arrived or failed (a newer fill for the key, after a purge, stays). */
  endFill(key: string, fill: Fill): void {
    if (this.#fills.get(key) === fill) this.#fills.delete(key);
  }

  /** A purge of key: its loads bring nothing to keep, and later requests do not join its fill. */
  discard(key: string): void {
    for (const load of this.#loads.get(key) ?? []) load.discarded = true;
    this.#fills.delete(key);
  }
}
