/**
 * The heart of hashedge, after golang/groupcache's Group: get(key) looks in the main cache,
 * then asks the key's loader (the origin here; the owner peer in a cluster), with one load per
 * key at a time however many requests want it. Knows nothing of HTTP.
 *
 * Outcomes of a lookup:
 *  - blob:      the object is cached (or was just filled, buffered whole because it is small);
 *  - filling:   a large cacheable object is arriving; readers stream it while it fills;
 *  - stream:    larger than --max-object-size: an uncached origin stream for this caller alone;
 *  - not-found: the origin has no such key (remembered for --negative-ttl).
 */
import { LRUCache } from 'lru-cache';
import { contentTypeFor } from '../asset/content-type.js';
import { asEdgeError } from '../errors.js';
import type { ByteRange, Origin, OriginObject } from '../origin/origin.js';
import { getWithTimeout } from '../origin/timeout.js';
import type { Logger } from '../log.js';
import { Blob } from './blob.js';
import { encodeVariants, isCompressible } from './encode.js';
import { Fill } from './fill.js';
import { SingleFlight } from './singleflight.js';

/** Objects up to this size are buffered whole before the first answer (so it carries an ETag). */
export const BUFFER_WHOLE_BYTES = 1024 * 1024;
/** Origin 404s remembered at most (each costs ~100 bytes). */
const NEGATIVE_CACHE_ENTRIES = 10_000;

export type FetchStatus = 'hit' | 'miss' | 'collapsed';

export type Lookup =
  | { readonly kind: 'blob'; readonly blob: Blob; readonly status: FetchStatus }
  | { readonly kind: 'filling'; readonly fill: Fill; readonly status: FetchStatus }
  | { readonly kind: 'stream'; readonly object: OriginObject; readonly status: 'miss' }
  | { readonly kind: 'not-found'; readonly status: FetchStatus };

export interface GroupOptions {
  readonly origin: Origin;
  /** Bytes the main cache may hold, variants included. */
  readonly cacheSize: number;
  /** Bytes above which objects stream through uncached. */
  readonly maxObjectSize: number;
  /** ms the origin may take to answer or stay silent mid-body. */
  readonly originTimeout: number;
  /** ms an origin 404 is remembered; 0 disables. */
  readonly negativeTtl: number;
  /** ms names without a content hash stay cached. */
  readonly unhashedTtl: number;
  readonly brotliQuality: number;
  readonly log: Logger;
  /** In a cluster: the loader that asks a key's owner (falling back to the origin). */
  readonly cluster?: ClusterRouter;
  /** ms since epoch; injectable for tests. */
  readonly clock?: () => number;
}

/** What the group needs of the cluster: where a key's miss goes. */
export interface ClusterRouter extends Origin {
  /** Whether a miss for key (not from a peer) is asked of another node. */
  routesToPeer(key: string): boolean;
}

export interface LookupOptions {
  /** A peer asked (hop header): load from the origin here, never forward again. */
  readonly local?: boolean;
}

export interface GroupStats {
  hits: number;
  misses: number;
  collapsed: number;
  negativeHits: number;
  originFetches: number;
  originNotFound: number;
  originErrors: number;
  passThrough: number;
  evictions: number;
}

type LoadResult =
  | { readonly kind: 'blob'; readonly blob: Blob }
  | { readonly kind: 'filling'; readonly fill: Fill }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'too-large'; readonly claim: () => OriginObject | undefined };

export class Group {
  readonly #options: GroupOptions;
  readonly #clock: () => number;
  readonly #main: LRUCache<string, Blob>;
  readonly #negative: LRUCache<string, true> | undefined;
  readonly #flight = new SingleFlight<LoadResult>();
  /** Large objects arriving now; present from the moment the load resolves until cached. */
  readonly #filling = new Map<string, Fill>();
  readonly stats: GroupStats = {
    hits: 0, misses: 0, collapsed: 0, negativeHits: 0, originFetches: 0,
    originNotFound: 0, originErrors: 0, passThrough: 0, evictions: 0,
  };

  constructor(options: GroupOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#main = new LRUCache<string, Blob>({
      maxSize: options.cacheSize,
      sizeCalculation: (blob) => blob.byteSize,
      dispose: (_blob, _key, reason) => {
        if (reason === 'evict') this.stats.evictions++;
      },
    });
    this.#negative = options.negativeTtl > 0
      ? new LRUCache<string, true>({ max: NEGATIVE_CACHE_ENTRIES, ttl: options.negativeTtl })
      : undefined;
  }

  /** The cached blob, if any: synchronous, for the hot path. Counts a hit. */
  peek(key: string): Blob | undefined {
    const blob = this.#main.get(key);
    if (blob === undefined) return undefined;
    if (blob.expiresAt !== 0 && blob.expiresAt <= this.#clock()) {
      this.#main.delete(key);
      return undefined;
    }
    this.stats.hits++;
    return blob;
  }

  /**
   * Everything after a peek() miss. `hashed` names are cached forever; others (served only
   * with --allow-unhashed) for --unhashed-ttl.
   */
  async lookup(key: string, hashed: boolean, options: LookupOptions = {}): Promise<Lookup> {
    const cached = this.peek(key);
    if (cached !== undefined) return { kind: 'blob', blob: cached, status: 'hit' };
    if (this.#negative?.get(key)) {
      this.stats.negativeHits++;
      return { kind: 'not-found', status: 'hit' };
    }
    const filling = this.#filling.get(key);
    if (filling !== undefined) {
      this.stats.collapsed++;
      return { kind: 'filling', fill: filling, status: 'collapsed' };
    }
    // Loads through a peer and loads from the origin are separate flights: a peer's request
    // (always local) never waits on a flight bound for a peer, so two nodes that disagree
    // about the ring cannot wait on each other.
    const cluster = this.#options.cluster;
    const source: Origin = !options.local && cluster?.routesToPeer(key) ? cluster : this.#options.origin;
    const flightKey = source === this.#options.origin ? key : `peer:${key}`;
    const { promise, shared } = this.#flight.do(flightKey, () => this.#load(key, hashed, source));
    if (shared) this.stats.collapsed++;
    else this.stats.misses++;
    const status: FetchStatus = shared ? 'collapsed' : 'miss';
    const result = await promise;
    switch (result.kind) {
      case 'blob':
        return { kind: 'blob', blob: result.blob, status };
      case 'filling':
        return { kind: 'filling', fill: result.fill, status };
      case 'not-found':
        return { kind: 'not-found', status };
      case 'too-large': {
        // Uncacheable objects are not collapsed: the first caller takes the stream that was
        // opened, the others open their own (like nginx, which does not lock what it won't store).
        const object = result.claim() ?? (await this.openUncached(key));
        if (object === null) return { kind: 'not-found', status: 'miss' };
        return { kind: 'stream', object, status: 'miss' };
      }
    }
  }

  /**
   * A fresh origin stream, uncached: for objects over --max-object-size and their ranges.
   * Straight from the origin, even in a cluster: no node stores these, so an owner would only
   * add a hop.
   */
  async openUncached(key: string, range?: ByteRange): Promise<OriginObject | null> {
    this.stats.originFetches++;
    this.stats.passThrough++;
    try {
      return await getWithTimeout(this.#options.origin, key, { timeoutMs: this.#options.originTimeout, ...(range ? { range } : {}) });
    } catch (err) {
      this.stats.originErrors++;
      throw asEdgeError(err);
    }
  }

  /** Removes keys from the cache (and the negative cache); returns how many were cached. */
  purge(keys: Iterable<string>): number {
    let removed = 0;
    for (const key of keys) {
      if (this.#main.delete(key)) removed++;
      this.#negative?.delete(key);
    }
    return removed;
  }

  /** Removes every key starting with prefix; returns how many were cached. */
  purgePrefix(prefix: string): number {
    const keys: string[] = [];
    for (const key of this.#main.keys()) if (key.startsWith(prefix)) keys.push(key);
    for (const key of this.#negative?.keys() ?? []) if (key.startsWith(prefix)) this.#negative?.delete(key);
    return this.purge(keys);
  }

  get cacheBytes(): number {
    return this.#main.calculatedSize;
  }

  get cacheItems(): number {
    return this.#main.size;
  }

  get cacheBudget(): number {
    return this.#options.cacheSize;
  }

  async #load(key: string, hashed: boolean, origin: Origin): Promise<LoadResult> {
    const { originTimeout, maxObjectSize, log } = this.#options;
    this.stats.originFetches++;
    const started = performance.now();
    let object: OriginObject | null;
    try {
      object = await getWithTimeout(origin, key, { timeoutMs: originTimeout });
    } catch (err) {
      this.stats.originErrors++;
      const edge = asEdgeError(err);
      log.warn({ event: 'origin_error', key, code: edge.code, ms: Math.round(performance.now() - started), err: String((err as Error)?.message ?? err) });
      throw edge;
    }
    if (object === null) {
      this.stats.originNotFound++;
      this.#negative?.set(key, true);
      return { kind: 'not-found' };
    }
    if (object.size > maxObjectSize) {
      let unclaimed: OriginObject | undefined = object;
      // Nobody claimed it within a turn of the event loop: release the origin connection.
      setImmediate(() => unclaimed?.body.destroy());
      return {
        kind: 'too-large',
        claim: () => {
          const taken = unclaimed;
          unclaimed = undefined;
          return taken;
        },
      };
    }
    const fill = new Fill(key, object);
    const finish = fill.done.then(
      ({ body, sha256 }) => {
        const now = this.#clock();
        const contentType = contentTypeFor(key, object.contentType);
        const blob = new Blob({
          key, body, sha256, contentType,
          lastModified: object.lastModified,
          storedAt: now,
          expiresAt: hashed ? 0 : now + this.#options.unhashedTtl,
          compressible: isCompressible(contentType),
        });
        log.debug({ event: 'fill', key, bytes: body.length, ms: Math.round(performance.now() - started) });
        return blob;
      },
      (err: unknown) => {
        this.stats.originErrors++;
        const edge = asEdgeError(err);
        log.warn({ event: 'origin_error', key, code: edge.code, ms: Math.round(performance.now() - started), err: String((err as Error)?.message ?? err) });
        throw edge;
      },
    );
    if (object.size <= BUFFER_WHOLE_BYTES) {
      // Small: answer with the whole blob, variants included, so the first response already
      // carries its ETag and encodings (and tests need no waiting).
      const identity = await finish;
      const blob = identity.compressible ? identity.withVariants(await encodeVariants(identity.identity.body, this.#options.brotliQuality)) : identity;
      this.#main.set(key, blob);
      return { kind: 'blob', blob };
    }
    this.#filling.set(key, fill);
    finish.then(
      (identity) => {
        this.#main.set(key, identity);
        this.#filling.delete(key);
        if (identity.compressible) void this.#addVariants(identity);
      },
      () => this.#filling.delete(key),
    );
    return { kind: 'filling', fill };
  }

  async #addVariants(identity: Blob): Promise<void> {
    try {
      const variants = await encodeVariants(identity.identity.body, this.#options.brotliQuality);
      // Only if the entry is still this blob (not purged or replaced meanwhile).
      if (this.#main.peek(identity.key) === identity) this.#main.set(identity.key, identity.withVariants(variants));
    } catch (err) {
      this.#options.log.warn({ event: 'encode_error', key: identity.key, err: String(err) });
    }
  }
}
