/**
 * A key's load, after groupcache's Group.load: the route is decided once per load (the owner
 * if it is another member that is up, else this node), and this node's own loads ask the
 * key's previous owner first after a membership change (hand-over), else the origin. An
 * owner that fails is replaced by an origin load in the same flight. What a load brings is
 * kept in the main cache (this node's own loads), the hot cache (an owner's copy, while
 * memory has room or once the key is hot: admission.ts), or nowhere.
 */
import { contentTypeFor } from '../asset/content-type.js';
import { hexHashTokens } from '../asset/hashed-name.js';
import { withOriginWord, type Verdict } from '../asset/immutability.js';
import { asEdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ByteRange, Origin, OriginObject } from '../origin/origin.js';
import { getWithTimeout } from '../origin/timeout.js';
import type { Admission } from './admission.js';
import { Blob } from './blob.js';
import { isCompressible } from './encode.js';
import type { Encoder } from './encoder.js';
import { Fill } from './fill.js';
import type { InFlight, Load } from './inflight.js';
import { peerFailed, type PeerPicker } from './peers.js';
import type { Store, Tier } from './store.js';
import type { VariantQueue } from './variants.js';

/** Objects up to this size are buffered whole before the first answer (so it carries an ETag). */
export const BUFFER_WHOLE_BYTES = 1024 * 1024;

export type LoadResult =
  | { readonly kind: 'blob'; readonly blob: Blob; readonly stored: boolean; readonly fallback?: boolean }
  | { readonly kind: 'filling'; readonly fill: Fill; readonly fallback?: boolean }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'not-immutable'; readonly verdict: Verdict }
  | { readonly kind: 'too-large'; readonly verdict: Verdict; readonly claim: () => OriginObject | undefined };

/** The group's options a load reads (documented on GroupOptions). */
export interface LoadOptions {
  readonly origin: Origin;
  readonly maxObjectSize: number;
  readonly originTimeout: number;
  readonly unhashedTtl: number;
  readonly serveMutable?: boolean;
  readonly verifyNames?: boolean;
  readonly log: Logger;
  readonly peers?: PeerPicker;
  readonly onFetch?: (source: 'origin' | 'peer', result: 'ok' | 'not-found' | 'error', seconds: number) => void;
}

/** The group's counters a load adds to (part of GroupStats). */
export interface LoadCounters {
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
  passThrough: number;
  /** Keys owned by other nodes admitted to the hot cache. */
  hotAdmissions: number;
}

export interface LoaderParts {
  readonly options: LoadOptions;
  readonly counters: LoadCounters;
  /** ms since epoch, for blobs' storedAt and expiresAt. */
  readonly clock: () => number;
  readonly store: Store;
  /** Present when there is a hot cache. */
  readonly admission: Admission | undefined;
  readonly inflight: InFlight<LoadResult>;
  readonly encoder: Encoder;
  readonly variants: VariantQueue;
}

export class Loader {
  readonly #options: LoadOptions;
  readonly #counters: LoadCounters;
  readonly #clock: () => number;
  readonly #store: Store;
  readonly #admission: Admission | undefined;
  readonly #inflight: InFlight<LoadResult>;
  readonly #encoder: Encoder;
  readonly #variants: VariantQueue;

  constructor(parts: LoaderParts) {
    this.#options = parts.options;
    this.#counters = parts.counters;
    this.#clock = parts.clock;
    this.#store = parts.store;
    this.#admission = parts.admission;
    this.#inflight = parts.inflight;
    this.#encoder = parts.encoder;
    this.#variants = parts.variants;
  }

  /**
   * One load per key at a time, along the route decided by the caller: from `peer` (the key's
   * owner), or by this node. Loads through a peer and loads by this node are separate flights:
   * a peer's request (always local) never waits on a flight bound for a peer, so two nodes that
   * disagree about the ring cannot wait on each other.
   */
  start(key: string, verdict: Verdict, peer: string | undefined): { promise: Promise<LoadResult>; shared: boolean } {
    return peer === undefined
      ? this.#inflight.flight(key, () => this.#loadFromOrigin(key, verdict))
      : this.#inflight.flight(`peer:${key}`, () => this.#loadFromPeer(key, verdict, peer));
  }

  /**
   * A fresh origin stream, uncached: for objects over --max-object-size and their ranges.
   * Straight from the origin, even in a cluster: no node stores these, so an owner would only
   * add a hop.
   */
  async openUncached(key: string, range?: ByteRange): Promise<OriginObject | null> {
    this.#counters.originFetches++;
    this.#counters.passThrough++;
    const started = performance.now();
    try {
      const object = await getWithTimeout(this.#options.origin, key, { timeoutMs: this.#options.originTimeout, ...(range ? { range } : {}) });
      this.#options.onFetch?.('origin', object === null ? 'not-found' : 'ok', (performance.now() - started) / 1000);
      return object;
    } catch (err) {
      this.#options.onFetch?.('origin', 'error', (performance.now() - started) / 1000);
      this.#counters.originErrors++;
      throw asEdgeError(err);
    }
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
    this.#counters.handovers++;
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
      this.#counters.peerFailures++;
      this.#options.log.warn({ event: 'peer_failed', peer, key, err: String((err as Error).message) });
      const { promise } = this.#inflight.flight(key, () => this.#loadFromOrigin(key, verdict));
      const result = await promise;
      return result.kind === 'blob' || result.kind === 'filling' ? { ...result, fallback: true } : result;
    }
  }

  /**
   * Where a freshly loaded key of `bytes` is kept: the main cache when this node loaded it from
   * the origin; the hot cache when it came through its owner and admission.ts lets it in (at
   * once while memory has room, else when hot); else nowhere.
   */
  #tierFor(key: string, bytes: number, viaPeer: boolean, load: Load): Tier | undefined {
    if (load.discarded) return undefined;
    if (!viaPeer) return 'main';
    if (this.#admission === undefined || !this.#admission.admit(key, this.#store.fits(bytes))) return undefined;
    return 'hot';
  }

  /** Keeps blob in tier; false: too large to be kept there. A hot key kept is counted as admitted. */
  #keep(tier: Tier, key: string, blob: Blob): boolean {
    const kept = this.#store.set(tier, key, blob);
    if (kept && tier === 'hot') this.#counters.hotAdmissions++;
    return kept;
  }

  /** A failed load, remembered for errorTtl and logged. */
  #failed(key: string, err: unknown, started: number): never {
    const edge = asEdgeError(err);
    this.#store.rememberFailure(key, edge);
    this.#options.log.warn({ event: 'origin_error', key, code: edge.code, ms: Math.round(performance.now() - started), err: String((err as Error)?.message ?? err) });
    throw edge;
  }

  /**
   * One load from `origin`: the origin itself, or (`from`) a peer behind an Origin face: the
   * key's owner (kept only when hot), or its previous owner handing it over (kept as ours).
   */
  async #load(key: string, known: Verdict, origin: Origin, from?: { readonly peer: string; readonly handover?: boolean }): Promise<LoadResult> {
    const peer = from?.peer;
    const source = peer === undefined ? 'origin' : 'peer';
    const { load, end } = this.#inflight.begin(key);
    // A large object's load goes on after this returns (readers stream it): it ends itself.
    let handedOff = false;
    try {
      const { originTimeout, maxObjectSize, log, onFetch } = this.#options;
      if (source === 'origin') this.#counters.originFetches++;
      else if (!from?.handover) this.#counters.peerFetches++;
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
        this.#counters.originErrors++;
        this.#failed(key, err, started);
      }
      if (object === null) {
        this.#counters.originNotFound++;
        this.#store.rememberNotFound(key);
        return { kind: 'not-found' };
      }
      const verdict = withOriginWord(known, object.cacheControl);
      if (!verdict.immutable && !this.#options.serveMutable) {
        object.body.destroy();
        this.#store.rememberRefusal(key, verdict);
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
          this.#counters.originErrors++;
          // The owner's body failed after its answer was accepted: route around it from now on.
          if (peer !== undefined) this.#options.peers?.failed(peer);
          return this.#failed(key, err, started);
        },
      );
      // Kept in the main cache when this node loaded it as its owner (a hand-over included).
      const viaPeer = source === 'peer' && !from?.handover;
      if (object.size <= BUFFER_WHOLE_BYTES) {
        // Small: answer with the whole blob, variants included, so the first response already
        // carries its ETag and encodings (and tests need no waiting).
        const identity = await finish;
        const tier = this.#tierFor(key, identity.byteSize, viaPeer, load);
        // Variants cost a compression per fill: made only for what is kept. With the encoder
        // free, the first answer waits for them (and carries them); with it busy, the answer
        // goes now with the identity bytes and the variants follow in the background.
        const encode = identity.compressible && tier !== undefined;
        const encodeNow = encode && this.#encoder.idle;
        const blob = encodeNow ? identity.withVariants(await this.#encoder.encode(identity.identity.body)!) : identity;
        // A purge may have come while the variants were made.
        // Whether it fit is decided on the identity bytes; variants made since may take the hot
        // tier over what main leaves free, and its least recently used entries then give it back.
        const keep = tier !== undefined && !load.discarded && this.#keep(tier, key, blob);
        if (keep && encode && !encodeNow) void this.#variants.add(blob);
        return { kind: 'blob', blob, stored: keep };
      }
      this.#inflight.startFill(key, fill);
      handedOff = true;
      finish.then(
        (identity) => {
          const tier = this.#tierFor(key, identity.byteSize, viaPeer, load);
          const kept = tier !== undefined && this.#keep(tier, key, identity);
          this.#inflight.endFill(key, fill);
          if (kept && identity.compressible) void this.#variants.add(identity);
        },
        () => this.#inflight.endFill(key, fill),
      ).finally(end);
      return { kind: 'filling', fill };
    } finally {
      if (!handedOff) end();
    }
  }
}
