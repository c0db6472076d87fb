/**
 * The heart of hashedge, after golang/groupcache's Group: get(key) looks in the main cache,
 * then asks the key's loader (the origin here; the owner peer in a cluster), with one load per
 * key at a time however many requests want it. Knows nothing of HTTP.
 *
 * In a cluster, keys owned by other nodes are asked of their owner and not kept here, unless
 * they are hot: then they go to a separate hot cache (groupcache's hotCache), so a key hammered
 * through this node is soon served locally without crowding out the keys this node owns.
 * Admission (see HOT_AFTER_REQUESTS): groupcache promotes 1 fetch in 10 at random, so a
 * one-off key still lands there 10% of the time and a hot one needs ~10 owner round trips;
 * galaxycache estimates each key's rate. Counting requests per key over a short window is the
 * simple form of the latter: deterministic (testable), one-offs never admitted, a hot key
 * admitted on its second request.
 *
 * Outcomes of a lookup:
 *  - blob:      the object is cached (or was just filled, buffered whole because it is small);
 *  - filling:   a large cacheable object is arriving; readers stream it while it fills;
 *  - stream:    larger than --max-object-size: an uncached origin stream for this caller alone;
 *  - not-found: the origin has no such key (remembered for --negative-ttl);
 *  - not-immutable: the origin has it, but nothing says it is immutable and the group serves
 *    immutable keys only (without --allow-unhashed); remembered like a 404, body not kept.
 */
import { LRUCache } from 'lru-cache';
import { contentTypeFor } from '../asset/content-type.js';
import { hexHashTokens } from '../asset/hashed-name.js';
import { withOriginWord, type Verdict } from '../asset/immutability.js';
import { asEdgeError, type EdgeError } from '../errors.js';
import type { ByteRange, Origin, OriginObject } from '../origin/origin.js';
import { getWithTimeout } from '../origin/timeout.js';
import type { Logger } from '../log.js';
import { Blob } from './blob.js';
import { isCompressible } from './encode.js';
import { Encoder } from './encoder.js';
import { Reclaimer } from './reclaim.js';
import { Fill } from './fill.js';
import type { FetchStatus } from './outcome.js';
import { SingleFlight } from './singleflight.js';

/** Objects up to this size are buffered whole before the first answer (so it carries an ETag). */
export const BUFFER_WHOLE_BYTES = 1024 * 1024;
/** Origin 404s remembered at most (each costs ~100 bytes). */
const NEGATIVE_CACHE_ENTRIES = 10_000;
/** A key owned by another node is kept in the hot cache once requested this often here... */
export const HOT_AFTER_REQUESTS = 2;
/** ...within this window (ms) of its first request. */
export const HOT_WINDOW_MS = 60_000;
/** Keys whose requests are counted for admission at most (each costs ~100 bytes). */
const HOT_CANDIDATES = 10_000;
/** Keys remembered as waiting for variants (~100 bytes each); beyond it, blobs stay identity-only. */
const PENDING_VARIANTS_MAX = 10_000;

export type { FetchStatus } from './outcome.js';

export type Lookup =
  | { readonly kind: 'blob'; readonly blob: Blob; readonly status: FetchStatus }
  | { readonly kind: 'filling'; readonly fill: Fill; readonly status: FetchStatus }
  | { readonly kind: 'stream'; readonly object: OriginObject; readonly verdict: Verdict; readonly status: 'miss' | 'peer' }
  | { readonly kind: 'not-found'; readonly status: FetchStatus }
  | { readonly kind: 'not-immutable'; readonly verdict: Verdict; readonly status: FetchStatus };

export interface GroupOptions {
  readonly origin: Origin;
  /** Bytes the main and hot caches may hold together, variants included. */
  readonly cacheSize: number;
  /** Bytes of cacheSize set aside for hot keys owned by other nodes (0 outside a cluster). */
  readonly hotCacheSize?: number;
  /** Bytes above which objects stream through uncached. */
  readonly maxObjectSize: number;
  /** ms the origin may take to answer or stay silent mid-body. */
  readonly originTimeout: number;
  /** ms an origin 404 is remembered; 0 disables. */
  readonly negativeTtl: number;
  /**
   * ms a failed load (origin error or timeout, a body cut short or corrupt) is remembered per
   * key and answered again without asking, so a failing origin sees a bounded number of
   * requests per key, not one per client request. 0 disables. @default 0
   */
  readonly errorTtl?: number;
  /** ms keys that are not immutable stay cached (with serveMutable). */
  readonly unhashedTtl: number;
  /** Also keep and serve keys that are not immutable (--allow-unhashed). @default false */
  readonly serveMutable?: boolean;
  readonly brotliQuality: number;
  /** Refuse bodies whose SHA-256 does not start with the hex hash in their name. */
  readonly verifyNames?: boolean;
  readonly log: Logger;
  /** In a cluster: who owns a key, and how to ask it. */
  readonly peers?: PeerPicker;
  /** Told of each load's time to an answer (headers), for the fetch-duration histogram. */
  readonly onFetch?: (source: 'origin' | 'peer', result: 'ok' | 'not-found' | 'error', seconds: number) => void;
  /** ms since epoch; injectable for tests. */
  readonly clock?: () => number;
}

/**
 * What the group needs of the cluster, after groupcache's PeerPicker: whom to ask for a key,
 * and how. The group decides the route once per load and falls back to the origin itself.
 */
export interface PeerPicker {
  /** The key's owner when it is another member that is up; undefined: this node loads it. */
  pickPeer(key: string): string | undefined;
  /**
   * The owner's copy (null: its origin has none). Rejects with an `E_PEER*` EdgeError when the
   * peer itself failed (the group then loads from the origin), or with the owner's origin
   * error (502/504 `E_ORIGIN*`), which the group answers as it is.
   */
  fetch(peer: string, key: string, options: { readonly signal: AbortSignal }): Promise<OriginObject | null>;
  /** A body the owner had started failed after its answer was accepted (cut short, or not the bytes its SHA-256 named). */
  failed(peer: string): void;
  /**
   * After a membership change, for a grace period: the key's owner on the previous ring, when
   * it is another member that is up (and not the current owner). Its copy saves an origin load.
   */
  previousOwner(key: string): string | undefined;
  /** The peer's copy only if it holds one (no load there); null: it holds none. */
  fetchCached(peer: string, key: string, options: { readonly signal: AbortSignal }): Promise<OriginObject | null>;
}

/** Whether err says the peer itself failed (not its origin). */
function peerFailed(err: unknown): boolean {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('E_PEER');
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
  /** Loads this node asked of the origin itself. */
  originFetches: number;
  /** Loads asked of the key's owner. */
  peerFetches: number;
  /** Of those, the ones whose owner failed: this node then loaded the key from the origin (an originFetch) and kept it. */
  peerFailures: number;
  /** Loads answered by the key's previous owner after a membership change (hand-over): origin loads saved. */
  handovers: number;
  originNotFound: number;
  /** Loads that failed (origin or owner and fallback), answered 502/504. */
  originErrors: number;
  /** Requests answered with a remembered load error, without asking (see errorTtl). */
  errorHits: number;
  passThrough: number;
  evictions: number;
  /** Hits on the hot cache (also counted in hits). */
  hotHits: number;
  /** Keys owned by other nodes admitted to the hot cache. */
  hotAdmissions: number;
}

type LoadResult =
  | { readonly kind: 'blob'; readonly blob: Blob; readonly stored: boolean; readonly fallback?: boolean }
  | { readonly kind: 'filling'; readonly fill: Fill; readonly fallback?: boolean }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'not-immutable'; readonly verdict: Verdict }
  | { readonly kind: 'too-large'; readonly verdict: Verdict; readonly claim: () => OriginObject | undefined };

export class Group {
  readonly #options: GroupOptions;
  readonly #clock: () => number;
  readonly #main: LRUCache<string, Blob>;
  readonly #hot: LRUCache<string, Blob> | undefined;
  /** Requests per key routed to its owner, within HOT_WINDOW_MS: the hot cache's admission. */
  readonly #heat: LRUCache<string, number> | undefined;
  readonly #negative: LRUCache<string, true> | undefined;
  /** Keys whose last load failed, with the error and until when (ms, clock) it is answered again. */
  readonly #errors: LRUCache<string, { error: EdgeError; until: number }> | undefined;
  /** Keys the origin has but nothing says are immutable (without serveMutable), for --negative-ttl. */
  readonly #notImmutable: LRUCache<string, Verdict> | undefined;
  readonly #flight = new SingleFlight<LoadResult>();
  /** Large objects arriving now; present from the moment the load resolves until cached. */
  readonly #filling = new Map<string, Fill>();
  /** Loads in flight by key; a purge marks them so what they bring is served but not kept. */
  readonly #loads = new Map<string, Set<{ discarded: boolean }>>();
  readonly #encoder: Encoder;
  /** Gives evicted bodies' memory back (see reclaim.ts). */
  readonly reclaimer: Reclaimer;
  /**
   * Keys of cached compressible blobs stored without variants because the encoder was busy,
   * oldest first: encoded one after another whenever the encoder is free (a hit goes first).
   * Keys only, so an evicted blob is not kept alive; an eviction removes its key.
   */
  readonly #pendingVariants = new Set<string>();
  readonly stats: GroupStats = {
    hits: 0, misses: 0, collapsed: 0, negativeHits: 0, originFetches: 0, peerFetches: 0, peerFailures: 0, handovers: 0,
    originNotFound: 0, originErrors: 0, errorHits: 0, passThrough: 0, evictions: 0, hotHits: 0, hotAdmissions: 0,
  };

  constructor(options: GroupOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#encoder = new Encoder({ brotliQuality: options.brotliQuality });
    this.reclaimer = new Reclaimer({ thresholdBytes: Reclaimer.thresholdFor(options.cacheSize) });
    const hotSize = options.hotCacheSize ?? 0;
    const blobCache = (maxSize: number) =>
      new LRUCache<string, Blob>({
        maxSize,
        sizeCalculation: (blob) => blob.byteSize,
        dispose: (blob, key, reason) => {
          if (reason === 'evict') this.stats.evictions++;
          // Evicted, expired or purged: its bodies are garbage now (a 'set' keeps them in the new blob).
          if (reason !== 'set') this.reclaimer.dropped(blob.byteSize);
          // Replaced (by its variants, a purge, a refill) or evicted: nothing left to encode.
          this.#pendingVariants.delete(key);
        },
      });
    this.#main = blobCache(options.cacheSize - hotSize);
    if (hotSize > 0) {
      this.#hot = blobCache(hotSize);
      this.#heat = new LRUCache<string, number>({ max: HOT_CANDIDATES, ttl: HOT_WINDOW_MS, noUpdateTTL: true });
    }
    this.#negative = options.negativeTtl > 0
      ? new LRUCache<string, true>({ max: NEGATIVE_CACHE_ENTRIES, ttl: options.negativeTtl })
      : undefined;
    this.#errors = (options.errorTtl ?? 0) > 0 ? new LRUCache({ max: NEGATIVE_CACHE_ENTRIES }) : undefined;
    this.#notImmutable = options.negativeTtl > 0 && !options.serveMutable
      ? new LRUCache<string, Verdict>({ max: NEGATIVE_CACHE_ENTRIES, ttl: options.negativeTtl })
      : undefined;
  }

  /** The cached blob, if any: synchronous, for the hot path. Counts a hit. */
  peek(key: string): Blob | undefined {
    let blob = this.#main.get(key);
    if (blob === undefined) {
      blob = this.#hot?.get(key);
      if (blob === undefined) return undefined;
      this.stats.hotHits++;
    }
    if (blob.expiresAt !== 0 && blob.expiresAt <= this.#clock()) {
      this.#main.delete(key);
      this.#hot?.delete(key);
      return undefined;
    }
    this.stats.hits++;
    // Three property reads for the usual hit; the pending set only for a compressible blob with no variant.
    if (blob.compressible && blob.br === undefined && blob.gzip === undefined && this.#encoder.idle && this.#pendingVariants.delete(key)) {
      void this.#addVariants(this.#cacheHolding(key, blob), blob);
    }
    return blob;
  }

  /**
   * Everything after a peek() miss. `verdict` is what is known of the key's immutability
   * before it is fetched; the origin's stored Cache-Control may add to it. Immutable keys are
   * cached forever; others only with serveMutable, for --unhashed-ttl.
   */
  async lookup(key: string, verdict: Verdict, options: LookupOptions = {}): Promise<Lookup> {
    const cached = this.peek(key);
    if (cached !== undefined) return { kind: 'blob', blob: cached, status: 'hit' };
    if (this.#negative?.get(key)) {
      this.stats.negativeHits++;
      return { kind: 'not-found', status: 'hit' };
    }
    const failed = this.#errors?.get(key);
    if (failed !== undefined) {
      if (failed.until > this.#clock()) {
        this.stats.errorHits++;
        throw failed.error;
      }
      this.#errors!.delete(key);
    }
    const refused = this.#notImmutable?.get(key);
    if (refused !== undefined) {
      this.stats.negativeHits++;
      return { kind: 'not-immutable', verdict: refused, status: 'hit' };
    }
    const filling = this.#filling.get(key);
    if (filling !== undefined) {
      this.stats.collapsed++;
      return { kind: 'filling', fill: filling, status: 'collapsed' };
    }
    // The route is decided once, here: the owner if it is another member that is up, else the
    // origin. Loads through a peer and loads from the origin are separate flights: a peer's
    // request (always local) never waits on a flight bound for a peer, so two nodes that
    // disagree about the ring cannot wait on each other.
    const peer = options.local ? undefined : this.#options.peers?.pickPeer(key);
    if (peer !== undefined && this.#heat !== undefined) this.#heat.set(key, (this.#heat.get(key) ?? 0) + 1);
    const { promise, shared } = peer === undefined
      ? this.#flight.do(key, () => this.#loadFromOrigin(key, verdict))
      : this.#flight.do(`peer:${key}`, () => this.#loadFromPeer(key, verdict, peer));
    if (shared) this.stats.collapsed++;
    else this.stats.misses++;
    const status: FetchStatus = shared ? 'collapsed' : 'miss';
    const result = await promise;
    switch (result.kind) {
      case 'blob':
        return { kind: 'blob', blob: result.blob, status: result.fallback ? 'fallback' : result.stored ? status : 'peer' };
      case 'filling':
        // Whether a large key from its owner is kept is known when it has arrived.
        return { kind: 'filling', fill: result.fill, status: result.fallback ? 'fallback' : peer !== undefined ? 'peer' : status };
      case 'not-found':
        return { kind: 'not-found', status };
      case 'not-immutable':
        return { kind: 'not-immutable', verdict: result.verdict, status };
      case 'too-large': {
        // Uncacheable objects are not collapsed: the first caller takes the stream that was
        // opened, the others open their own (like nginx, which does not lock what it won't store).
        const object = result.claim() ?? (await this.openUncached(key));
        if (object === null) return { kind: 'not-found', status: 'miss' };
        return { kind: 'stream', object, verdict: result.verdict, status: 'miss' };
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
    const started = performance.now();
    try {
      const object = await getWithTimeout(this.#options.origin, key, { timeoutMs: this.#options.originTimeout, ...(range ? { range } : {}) });
      this.#options.onFetch?.('origin', object === null ? 'not-found' : 'ok', (performance.now() - started) / 1000);
      return object;
    } catch (err) {
      this.#options.onFetch?.('origin', 'error', (performance.now() - started) / 1000);
      this.stats.originErrors++;
      throw asEdgeError(err);
    }
  }

  /**
   * Removes keys from the caches (main, hot and negative); returns how many were cached. A
   * key loading now is not kept when it arrives, so a purge cannot be undone by a fill that
   * started before it.
   */
  purge(keys: Iterable<string>): number {
    let removed = 0;
    for (const key of keys) {
      for (const load of this.#loads.get(key) ?? []) load.discarded = true;
      // Later requests start a fresh load instead of joining the purged fill.
      this.#filling.delete(key);
      const inMain = this.#main.delete(key);
      const inHot = this.#hot?.delete(key) ?? false;
      if (inMain || inHot) removed++;
      this.#negative?.delete(key);
      this.#notImmutable?.delete(key);
      this.#errors?.delete(key);
      this.#heat?.delete(key);
    }
    return removed;
  }

  /** Removes every key starting with prefix; returns how many were cached. */
  purgePrefix(prefix: string): number {
    const keys = new Set<string>();
    for (const key of this.#main.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.#hot?.keys() ?? []) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.#loads.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.#negative?.keys() ?? []) if (key.startsWith(prefix)) this.#negative?.delete(key);
    for (const key of this.#notImmutable?.keys() ?? []) if (key.startsWith(prefix)) this.#notImmutable?.delete(key);
    for (const key of this.#errors?.keys() ?? []) if (key.startsWith(prefix)) this.#errors?.delete(key);
    return this.purge(keys);
  }

  get cacheBytes(): number {
    return this.#main.calculatedSize;
  }

  get cacheItems(): number {
    return this.#main.size;
  }

  get cacheBudget(): number {
    return this.#main.maxSize;
  }

  /** The hot cache's fill and budget (all 0 outside a cluster). */
  get hotCache(): { bytes: number; items: number; budgetBytes: number } {
    return { bytes: this.#hot?.calculatedSize ?? 0, items: this.#hot?.size ?? 0, budgetBytes: this.#hot?.maxSize ?? 0 };
  }

  /** A failed load, answered again for errorTtl without asking (nginx's proxy_cache_lock has the waiters; this covers the ones after). */
  #rememberError(key: string, error: EdgeError): void {
    this.#errors?.set(key, { error, until: this.#clock() + this.#options.errorTtl! });
  }

  /**
   * A load this node makes as the key's owner (or for a peer, or after its owner failed), in
   * the flight of the key: from the key's previous owner if the ring changed lately and it
   * holds a copy (hand-over, so scaling out or in does not re-fetch the working set), else
   * from the origin.
   */
  async #loadFromOrigin(key: string, verdict: Verdict): Promise<LoadResult> {
    const previous = this.#options.peers?.previousOwner(key);
    if (previous !== undefined) {
      const handed = await this.#handOver(key, verdict, previous);
      if (handed !== undefined) return handed;
    }
    return this.#load(key, verdict, this.#options.origin);
  }

  /** The previous owner's copy, kept here as the new owner's; undefined: it has none, or failed. */
  async #handOver(key: string, verdict: Verdict, previous: string): Promise<LoadResult | undefined> {
    const picker = this.#options.peers!;
    let object: OriginObject | null;
    try {
      object = await getWithTimeout({ description: previous, get: (k, options) => picker.fetchCached(previous, k, options), close: async () => {} }, key, { timeoutMs: this.#options.originTimeout });
    } catch {
      return undefined; // the previous owner failed: the origin it is
    }
    if (object === null) return undefined;
    this.stats.handovers++;
    const fetched = object;
    return this.#load(key, verdict, { description: previous, get: async () => fetched, close: async () => {} }, { peer: previous, handover: true });
  }

  /**
   * A load from the key's owner. If the owner itself fails (no answer, a cut or corrupt body),
   * the key is loaded from the origin in this same flight and kept in the main cache, so a down
   * owner costs the origin one load per key, not one per request. If the owner answers that
   * its origin failed, that is the answer: asking the origin again here would only double the
   * load on a failing origin.
   */
  async #loadFromPeer(key: string, verdict: Verdict, peer: string): Promise<LoadResult> {
    const picker = this.#options.peers!;
    const owner: Origin = { description: peer, get: (k, options) => picker.fetch(peer, k, options), close: async () => {} };
    try {
      return await this.#load(key, verdict, owner, { peer });
    } catch (err) {
      if (!peerFailed(err)) throw err;
      this.stats.peerFailures++;
      this.#options.log.warn({ event: 'peer_failed', peer, key, err: String((err as Error).message) });
      const { promise } = this.#flight.do(key, () => this.#loadFromOrigin(key, verdict));
      const result = await promise;
      return result.kind === 'blob' || result.kind === 'filling' ? { ...result, fallback: true } : result;
    }
  }

  /**
   * Where a freshly loaded key is kept: the main cache when this node loaded it from the
   * origin; the hot cache when it came through its owner and is hot; else nowhere.
   */
  #cacheFor(key: string, viaPeer: boolean, load: { discarded: boolean }): LRUCache<string, Blob> | undefined {
    if (load.discarded) return undefined;
    if (!viaPeer) return this.#main;
    if (this.#hot === undefined || (this.#heat?.get(key) ?? 0) < HOT_AFTER_REQUESTS) return undefined;
    this.#heat?.delete(key);
    this.stats.hotAdmissions++;
    return this.#hot;
  }

  /**
   * One load from `origin`: the origin itself, or (`from`) a peer behind an Origin face: the
   * key's owner (kept only when hot), or its previous owner handing it over (kept as ours).
   */
  async #load(key: string, known: Verdict, origin: Origin, from?: { readonly peer: string; readonly handover?: boolean }): Promise<LoadResult> {
    const peer = from?.peer;
    const source = peer === undefined ? 'origin' : 'peer';
    const load = { discarded: false };
    let loads = this.#loads.get(key);
    if (loads === undefined) this.#loads.set(key, (loads = new Set()));
    loads.add(load);
    const untrack = () => {
      loads.delete(load);
      if (loads.size === 0 && this.#loads.get(key) === loads) this.#loads.delete(key);
    };
    // A large object's load goes on after this returns (readers stream it): it untracks itself.
    let handedOff = false;
    try {
      const { originTimeout, maxObjectSize, log, onFetch } = this.#options;
      if (source === 'origin') this.stats.originFetches++;
      else if (!from?.handover) this.stats.peerFetches++;
      const started = performance.now();
      let object: OriginObject | null;
      try {
        object = await getWithTimeout(origin, key, { timeoutMs: originTimeout });
        onFetch?.(source, object === null ? 'not-found' : 'ok', (performance.now() - started) / 1000);
      } catch (err) {
        onFetch?.(source, 'error', (performance.now() - started) / 1000);
        const edge = asEdgeError(err);
        // The owner itself failed: #loadFromPeer loads from the origin instead.
        if (source === 'peer' && peerFailed(edge)) throw edge;
        this.stats.originErrors++;
        this.#rememberError(key, edge);
        log.warn({ event: 'origin_error', key, code: edge.code, ms: Math.round(performance.now() - started), err: String((err as Error)?.message ?? err) });
        throw edge;
      }
      if (object === null) {
        this.stats.originNotFound++;
        this.#negative?.set(key, true);
        return { kind: 'not-found' };
      }
      const verdict = withOriginWord(known, object.cacheControl);
      if (!verdict.immutable && !this.#options.serveMutable) {
        object.body.destroy();
        this.#notImmutable?.set(key, verdict);
        return { kind: 'not-immutable', verdict };
      }
      if (object.size > maxObjectSize) {
        let unclaimed: OriginObject | undefined = object;
        // Nobody claimed it within a turn of the event loop: release the origin connection.
        setImmediate(() => unclaimed?.body.destroy());
        return {
          kind: 'too-large',
          verdict,
          claim: () => {
            const taken = unclaimed;
            unclaimed = undefined;
            return taken;
          },
        };
      }
      const prefixes = this.#options.verifyNames ? hexHashTokens(key) : [];
      const fill = new Fill(key, object, verdict, { sha256: object.sha256, sha256Prefixes: prefixes.length > 0 ? prefixes : undefined });
      const finish = fill.done.then(
        ({ body, sha256 }) => {
          const now = this.#clock();
          const contentType = contentTypeFor(key, object.contentType);
          const blob = new Blob({
            key, body, sha256, contentType,
            lastModified: object.lastModified,
            storedAt: now,
            expiresAt: verdict.immutable ? 0 : now + this.#options.unhashedTtl,
            compressible: isCompressible(contentType),
            immutability: verdict.reason,
            originCacheControl: object.cacheControl,
          });
          log.debug({ event: 'fill', key, bytes: body.length, ms: Math.round(performance.now() - started) });
          return blob;
        },
        (err: unknown) => {
          this.stats.originErrors++;
          // The owner's body failed after its answer was accepted: route around it from now on.
          if (peer !== undefined) this.#options.peers?.failed(peer);
          const edge = asEdgeError(err);
          this.#rememberError(key, edge);
          log.warn({ event: 'origin_error', key, code: edge.code, ms: Math.round(performance.now() - started), err: String((err as Error)?.message ?? err) });
          throw edge;
        },
      );
      // Kept in the main cache when this node loaded it as its owner (a hand-over included).
      const viaPeer = source === 'peer' && !from?.handover;
      if (object.size <= BUFFER_WHOLE_BYTES) {
        // Small: answer with the whole blob, variants included, so the first response already
        // carries its ETag and encodings (and tests need no waiting).
        const identity = await finish;
        const cache = this.#cacheFor(key, viaPeer, load);
        // Variants cost a compression per fill: made only for what is kept. With the encoder
        // free, the first answer waits for them (and carries them); with it busy, the answer
        // goes now with the identity bytes and the variants follow in the background.
        const encode = identity.compressible && cache !== undefined;
        const encodeNow = encode && this.#encoder.idle;
        const blob = encodeNow ? identity.withVariants(await this.#encoder.encode(identity.identity.body)!) : identity;
        // A purge may have come while the variants were made.
        const keep = cache !== undefined && !load.discarded;
        if (keep) {
          cache.set(key, blob);
          if (encode && !encodeNow) void this.#addVariants(cache, blob);
        }
        return { kind: 'blob', blob, stored: keep };
      }
      this.#filling.set(key, fill);
      handedOff = true;
      finish.then(
        (identity) => {
          const cache = this.#cacheFor(key, viaPeer, load);
          cache?.set(key, identity);
          if (this.#filling.get(key) === fill) this.#filling.delete(key);
          if (cache !== undefined && identity.compressible) void this.#addVariants(cache, identity);
        },
        () => {
          if (this.#filling.get(key) === fill) this.#filling.delete(key);
        },
      ).finally(untrack);
      return { kind: 'filling', fill };
    } finally {
      if (!handedOff) untrack();
    }
  }

  async #addVariants(cache: LRUCache<string, Blob> | undefined, identity: Blob): Promise<void> {
    if (cache === undefined) return;
    const encoding = this.#encoder.encode(identity.identity.body);
    if (encoding === undefined) {
      if (this.#pendingVariants.size < PENDING_VARIANTS_MAX) this.#pendingVariants.add(identity.key);
      return;
    }
    try {
      const variants = await encoding;
      // Only if the entry is still this blob (not purged or replaced meanwhile).
      if (cache.peek(identity.key) === identity) cache.set(identity.key, identity.withVariants(variants));
    } catch (err) {
      this.#options.log.warn({ event: 'encode_error', key: identity.key, err: String(err) });
    }
    this.#encodeNextPending();
  }

  /** With the encoder free, starts on the oldest blob still waiting for its variants. */
  #encodeNextPending(): void {
    for (const key of this.#pendingVariants) {
      if (!this.#encoder.idle) return;
      this.#pendingVariants.delete(key);
      const blob = this.#main.peek(key) ?? this.#hot?.peek(key);
      if (blob !== undefined && blob.compressible && blob.br === undefined && blob.gzip === undefined) {
        void this.#addVariants(this.#cacheHolding(key, blob), blob);
        return;
      }
    }
  }

  /** Blobs waiting for or being given their compressed variants: 0 once compression has caught up. */
  get pendingVariants(): number {
    return this.#pendingVariants.size + this.#encoder.jobs;
  }

  #cacheHolding(key: string, blob: Blob): LRUCache<string, Blob> | undefined {
    if (this.#main.peek(key) === blob) return this.#main;
    return this.#hot?.peek(key) === blob ? this.#hot : undefined;
  }
}
