/**
 * The heart of hashedge, after golang/groupcache's Group: get(key) looks in the main cache,
 * then asks the key's loader (the origin here; the owner peer in a cluster), with one load per
 * key at a time however many requests want it. Knows nothing of HTTP.
 *
 * A coordinator of small parts, as groupcache's package is:
 *  - store.ts:     the main and hot LRUs, their joint budget (hot borrows what main leaves
 *                  free) and evictions, the negative caches;
 *  - admission.ts: which keys owned by other nodes the hot cache keeps (at once while memory
 *                  has room, else once hot);
 *  - load.ts:      a key's load: the route (owner, hand-over, origin), the fallback, where it is kept;
 *  - inflight.ts:  flights, fills arriving, loads a purge must discard;
 *  - variants.ts:  compressed variants made when the encoder has room;
 *  - disk/tier.ts: the disk tier under memory (--disk-cache): main-tier blobs written behind,
 *    a key memory lacks read back before any load, promoted when promotion.ts says (a large one, for a
 *    caller that can stream it, served from its file instead: `file` below).
 *
 * Outcomes of a lookup:
 *  - blob:      the object is cached (or was just filled, buffered whole because it is small);
 *  - filling:   a large cacheable object is arriving; readers stream it while it fills;
 *  - file:      a large object on disk, verified, served from its file (LookupOptions.fromFile);
 *  - stream:    larger than --max-object-size: an uncached origin stream for this caller alone;
 *  - not-found: the origin has no such key (remembered for --negative-ttl);
 *  - not-immutable: the origin has it, but nothing says it is immutable and the group serves
 *    immutable keys only (without --allow-unhashed); remembered like a 404, body not kept.
 */
import type { Verdict } from '../asset/immutability.js';
import type { Logger } from '../log.js';
import type { ByteRange, Origin, OriginObject } from '../origin/origin.js';
import { Admission } from './admission.js';
import { BLOB_OVERHEAD_BYTES, type Blob } from './blob.js';
import type { FileObject } from './disk/file-object.js';
import type { DiskTier } from './disk/tier.js';
import { Encoder } from './encoder.js';
import type { Fill } from './fill.js';
import { InFlight } from './inflight.js';
import { Loader, type LoadCounters, type LoadResult } from './load.js';
import type { FetchStatus } from './outcome.js';
import type { PeerPicker } from './peers.js';
import { Promotion } from './promotion.js';
import { Reclaimer } from './reclaim.js';
import { SingleFlight } from './singleflight.js';
import { Store, type TierUsage } from './store.js';
import { VariantQueue } from './variants.js';

export { HOT_AFTER_REQUESTS, HOT_WINDOW_MS } from './admission.js';
export { BUFFER_WHOLE_BYTES } from './load.js';
export type { FetchStatus } from './outcome.js';
export type { PeerPicker } from './peers.js';

export type Lookup =
  /**
   * stored: with status peer, whether this node kept the owner's copy (it is hot here). disk:
   * with status hit, read back from the disk tier by this lookup (promoted to memory or not).
   */
  | { readonly kind: 'blob'; readonly blob: Blob; readonly status: FetchStatus; readonly stored?: boolean; readonly disk?: boolean }
  | { readonly kind: 'filling'; readonly fill: Fill; readonly status: FetchStatus }
  | { readonly kind: 'file'; readonly object: FileObject; readonly status: 'hit' }
  | { readonly kind: 'stream'; readonly object: OriginObject; readonly verdict: Verdict; readonly status: 'miss' | 'peer' }
  | { readonly kind: 'not-found'; readonly status: FetchStatus }
  | { readonly kind: 'not-immutable'; readonly verdict: Verdict; readonly status: FetchStatus };

export interface GroupOptions {
  readonly origin: Origin;
  /** Bytes the main and hot caches may hold together, variants included. */
  readonly cacheSize: number;
  /**
   * Bytes of cacheSize guaranteed to keys owned by other nodes (the hot tier), which may also
   * borrow what the main tier leaves free. 0: no hot tier (outside a cluster).
   */
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
  /** The disk tier under the main cache (--disk-cache), opened by the caller. */
  readonly disk?: DiskTier;
}

export interface LookupOptions {
  /** A peer asked (hop header): load from the origin here, never forward again. */
  readonly local?: boolean;
  /**
   * The caller can stream a large disk-held object from its file (the asset handler, the peer
   * route): it is answered as `file`, not read into memory. Others (a caller that needs the
   * bytes in a Blob) get it read whole, as a small one.
   */
  readonly fromFile?: boolean;
}

export interface GroupStats extends LoadCounters {
  hits: number;
  misses: number;
  collapsed: number;
  negativeHits: number;
  /** Requests answered with a remembered load error, without asking (see errorTtl). */
  errorHits: number;
  evictions: number;
  /** Hits on the hot cache (also counted in hits). */
  hotHits: number;
}

export class Group {
  readonly #store: Store;
  /** Present when there is a hot cache (a cluster). */
  readonly #admission: Admission | undefined;
  readonly #inflight = new InFlight<LoadResult>();
  readonly #variants: VariantQueue;
  readonly #loader: Loader;
  readonly #peers: PeerPicker | undefined;
  readonly #disk: DiskTier | undefined;
  /** One disk read per key at a time (readers of a key share it, and its promotion). */
  readonly #diskReads = new SingleFlight<Blob | undefined>();
  /** Which disk hits go back to memory (see promotion.ts). */
  readonly #promotion = new Promotion();
  /** One head read (and first-read verification) per large key at a time. */
  readonly #diskOpens = new SingleFlight<FileObject | undefined>();
  /** Gives evicted bodies' memory back (see reclaim.ts). */
  readonly reclaimer: Reclaimer;
  readonly stats: GroupStats = {
    hits: 0, misses: 0, collapsed: 0, negativeHits: 0, originFetches: 0, peerFetches: 0, peerFailures: 0, handovers: 0,
    originNotFound: 0, originErrors: 0, errorHits: 0, passThrough: 0, evictions: 0, hotHits: 0, hotAdmissions: 0,
  };

  constructor(options: GroupOptions) {
    const clock = options.clock ?? Date.now;
    const hotSize = options.hotCacheSize ?? 0;
    const encoder = new Encoder({ brotliQuality: options.brotliQuality });
    this.#peers = options.peers;
    const disk = (this.#disk = options.disk);
    this.reclaimer = new Reclaimer({ thresholdBytes: Reclaimer.thresholdFor(options.cacheSize) });
    this.#store = new Store({
      budgetBytes: options.cacheSize,
      hotShareBytes: hotSize,
      negativeTtl: options.negativeTtl,
      errorTtl: options.errorTtl ?? 0,
      clock,
      counters: this.stats,
      reclaimer: this.reclaimer,
      // Replaced (by its variants, a purge, a refill) or evicted: nothing left to encode.
      onDispose: (key) => this.#variants.forget(key),
      ...(disk !== undefined ? { onMain: (blob: Blob) => disk.write(blob) } : {}),
    });
    this.#admission = hotSize > 0 ? new Admission() : undefined;
    this.#variants = new VariantQueue({ encoder, shelf: this.#store, log: options.log });
    this.#loader = new Loader({
      options, counters: this.stats, clock, store: this.#store, admission: this.#admission,
      inflight: this.#inflight, encoder, variants: this.#variants,
    });
  }

  /** The cached blob, if any: synchronous, for the hot path. Counts a hit. */
  peek(key: string): Blob | undefined {
    const blob = this.#store.get(key);
    if (blob === undefined) return undefined;
    this.stats.hits++;
    // Three property reads for the usual hit; the variant queue only for a compressible blob with no variant.
    if (blob.compressible && blob.br === undefined && blob.gzip === undefined) this.#variants.hit(key, blob);
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
    if (this.#store.notFound(key)) {
      this.stats.negativeHits++;
      return { kind: 'not-found', status: 'hit' };
    }
    const failed = this.#store.failure(key);
    if (failed !== undefined) {
      this.stats.errorHits++;
      throw failed;
    }
    const refused = this.#store.refusal(key);
    if (refused !== undefined) {
      this.stats.negativeHits++;
      return { kind: 'not-immutable', verdict: refused, status: 'hit' };
    }
    const filling = this.#inflight.filling(key);
    if (filling !== undefined) {
      this.stats.collapsed++;
      return { kind: 'filling', fill: filling, status: 'collapsed' };
    }
    if (this.#disk?.has(key)) {
      const fromDisk = await this.#fromDisk(key, options.fromFile ?? false, true);
      if (fromDisk !== undefined) return fromDisk;
      // Gone, unreadable or corrupt (deleted, counted), or purged meanwhile: loaded again as a miss.
    }
    // The route is decided once, here: the owner if it is another member that is up, else
    // this node (load.ts).
    const peer = options.local ? undefined : this.#peers?.pickPeer(key);
    if (peer !== undefined) this.#admission?.requested(key);
    const { promise, shared } = this.#loader.start(key, verdict, peer);
    if (shared) this.stats.collapsed++;
    else this.stats.misses++;
    const status: FetchStatus = shared ? 'collapsed' : 'miss';
    const result = await promise;
    switch (result.kind) {
      case 'blob':
        // From the owner is peer whether kept here or not (as for a fill below); stored says which.
        return { kind: 'blob', blob: result.blob, status: result.fallback ? 'fallback' : peer !== undefined ? 'peer' : status, stored: result.stored };
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
   * The copy this node holds, in memory or on disk, and never a load: what a hand-over asks for
   * (the peer route's `Cache-Control: only-if-cached`). undefined: none (or a disk copy that
   * turned out gone or corrupt). A disk-held key is read as for lookup() (a large one, for a
   * caller that can stream it, served from its file), verified, but not promoted: the asking
   * node is the key's new owner and keeps it, and this node's memory is for keys it owns.
   */
  async cached(key: string, options: Pick<LookupOptions, 'fromFile'> = {}): Promise<Extract<Lookup, { kind: 'blob' | 'file' }> | undefined> {
    const blob = this.peek(key);
    if (blob !== undefined) return { kind: 'blob', blob, status: 'hit' };
    if (!this.#disk?.has(key)) return undefined;
    return this.#fromDisk(key, options.fromFile ?? false, false);
  }

  /**
   * key's object from the disk tier (which lists it): a large one served from its file when the
   * caller can stream it (`fromFile`), else read whole; kept in memory again (verified) when
   * `promote` allows and promotion.ts admits it, unless purged meanwhile. undefined: gone,
   * unreadable or corrupt (deleted, counted).
   */
  async #fromDisk(key: string, fromFile: boolean, promote: boolean): Promise<Extract<Lookup, { kind: 'blob' | 'file' }> | undefined> {
    const disk = this.#disk!;
    if (fromFile && disk.servesFromFile(key)) {
      // Large: served from the file and never promoted. Memory would hold one such object in
      // place of hundreds of small ones, and the OS page cache keeps a hot file's pages anyway.
      const file = await this.#diskOpens.do(key, () => disk.openFile(key)).promise;
      return file !== undefined && disk.has(key) ? { kind: 'file', object: file, status: 'hit' } : undefined;
    }
    // Readers of a key share one read; a hand-over's read (never promoted) is a flight of its own.
    const blob = promote ? await this.#diskReads.do(key, () => this.#readBack(key)).promise : await disk.read(key, true);
    return blob !== undefined && disk.has(key) ? { kind: 'blob', blob, status: 'hit', disk: true } : undefined;
  }

  /**
   * A key read back from disk. Promoted (verified, and kept in memory again unless purged
   * meanwhile) when promotion.ts admits it; otherwise answered from the bytes read and dropped.
   */
  async #readBack(key: string): Promise<Blob | undefined> {
    const disk = this.#disk!;
    const memory = this.#store.usage('main');
    const fits = memory.bytes + (disk.fileBytes(key) ?? 0) + BLOB_OVERHEAD_BYTES <= memory.budgetBytes;
    const promote = this.#promotion.admit(key, fits, memory.items);
    const blob = await disk.read(key, promote);
    if (blob === undefined || !disk.has(key)) return undefined;
    if (promote) this.#store.set('main', key, blob);
    return blob;
  }

  /**
   * A fresh origin stream, uncached: for objects over --max-object-size and their ranges.
   * Straight from the origin, even in a cluster: no node stores these, so an owner would only
   * add a hop.
   */
  openUncached(key: string, range?: ByteRange): Promise<OriginObject | null> {
    return this.#loader.openUncached(key, range);
  }

  /**
   * Removes keys from the caches (main, hot, negative and disk) at once; resolves with how many
   * were cached (in memory, on disk or both, each once) when their files are gone from the disk
   * tier too. Without a disk tier (or none of the keys on it) nothing is waited for. A key
   * loading now is not kept when it arrives, so a purge cannot be undone by a fill that started
   * before it.
   */
  async purge(keys: Iterable<string>): Promise<number> {
    let removed = 0;
    let unlinks: Promise<unknown>[] | undefined;
    for (const key of keys) {
      this.#forget(key);
      const disk = this.#disk?.purge(key);
      if (disk?.gone !== undefined) (unlinks ??= []).push(disk.gone);
      if (this.#store.purge(key) || disk?.held) removed++;
    }
    if (unlinks !== undefined) await Promise.all(unlinks);
    return removed;
  }

  /**
   * Removes every key starting with prefix, from memory at once and from the disk tier (its
   * files gone when this resolves); resolves with how many keys were cached, in memory, on disk
   * or both (each counted once).
   */
  async purgePrefix(prefix: string): Promise<number> {
    const keys = this.#store.purgePrefix(prefix);
    const removed = new Set(keys);
    for (const key of this.#inflight.loadingKeys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of keys) {
      this.#forget(key);
      this.#store.purge(key);
    }
    if (this.#disk !== undefined) {
      for (const key of await this.#disk.purgePrefix(prefix)) {
        // A key read back from disk while the purge read the files' heads is dropped again.
        this.#store.purge(key);
        removed.add(key);
      }
    }
    return removed.size;
  }

  get cacheBytes(): number {
    return this.#store.usage('main').bytes;
  }

  get cacheItems(): number {
    return this.#store.usage('main').items;
  }

  get cacheBudget(): number {
    return this.#store.usage('main').budgetBytes;
  }

  /** The hot cache's fill and budget (all 0 outside a cluster). */
  get hotCache(): TierUsage {
    return this.#store.usage('hot');
  }

  /** The disk tier (--disk-cache), if any. */
  get disk(): DiskTier | undefined {
    return this.#disk;
  }

  /** Blobs waiting for or being given their compressed variants: 0 once compression has caught up. */
  get pendingVariants(): number {
    return this.#variants.size;
  }

  /** A purged key's loads keep nothing, later requests do not join its fill, its requests are not counted for the hot cache. */
  #forget(key: string): void {
    // Later requests start a fresh load instead of joining the purged fill.
    this.#inflight.discard(key);
    this.#admission?.forget(key);
    this.#promotion.forget(key);
  }
}
