/**
 * Response header sets, computed once per cached representation (not per request) and kept in
 * a WeakMap beside the blob, so they die with it. The hit set is serialised once
 * (prepared-head.ts); only its Age line is written per request.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Blob, Representation } from '../cache/blob.js';
import type { FileRepresentation } from '../cache/disk/file-object.js';
import type { Outcome } from '../cache/outcome.js';
import type { CorsPolicy } from '../config.js';
import { prepareHead, type PreparedHead } from './prepared-head.js';

export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The outcomes a Cache-Status header reports (cache/outcome.ts). */
export type CacheStatus = Exclude<Outcome, 'none'>;

/** RFC 9211 Cache-Status values. */
export const CACHE_STATUS: Readonly<Record<CacheStatus, string>> = {
  hit: 'hashedge; hit',
  miss: 'hashedge; fwd=miss; stored',
  collapsed: 'hashedge; fwd=miss; collapsed; stored',
  // Fetched from the key's owner node (kept here only once hot).
  peer: 'hashedge; fwd=miss; detail=owner',
  // The owner failed; loaded from the origin by this node, which keeps it.
  fallback: 'hashedge; fwd=miss; stored; detail=owner-unavailable',
  uncached: 'hashedge; fwd=miss; detail=too-large',
};

/** `peer`, and this node kept the copy (the key is hot here): RFC 9211 `stored` as well. */
export const CACHE_STATUS_PEER_STORED = 'hashedge; fwd=miss; stored; detail=owner';

/**
 * A hit read from the disk tier (promoted to memory by this request, or served from its file):
 * RFC 9211's `detail` says where it came from. A memory hit stays `hashedge; hit`, byte for
 * byte what the fast lane writes.
 */
export const CACHE_STATUS_DISK_HIT = 'hashedge; hit; detail=disk';

/**
 * What an answer's Cache-Status adds to its status: `stored`, a peer's copy this node kept;
 * `disk`, a hit read from the disk tier.
 */
export type CacheStatusDetail = 'stored' | 'disk' | undefined;

/** The Cache-Status of an answer; `stored` matters only for `peer`, `disk` only for `hit` (the others say it by their name). */
export function cacheStatusHeader(status: CacheStatus, detail?: CacheStatusDetail): string {
  if (status === 'hit' && detail === 'disk') return CACHE_STATUS_DISK_HIT;
  return status === 'peer' && detail === 'stored' ? CACHE_STATUS_PEER_STORED : CACHE_STATUS[status];
}

export interface HeaderPolicyOptions {
  readonly corsOrigin: CorsPolicy;
  /** ms; max-age of names without a content hash. */
  readonly unhashedTtl: number;
  /** ms; Strict-Transport-Security max-age (responses over TLS only). Unset: not sent. */
  readonly hsts?: number;
}

/** What a response's headers need of a stored object: a Blob's, or a FileObject's (served from disk). */
export type StoredMeta = Pick<Blob, 'contentType' | 'expiresAt' | 'lastModified' | 'compressible'>;

interface RepresentationHeaders {
  /** 200 headers without Age and Cache-Status. */
  readonly base: Readonly<OutgoingHttpHeaders>;
  /** The hit head without Age, serialised on first use. */
  hit: PreparedHead | undefined;
}

export class HeaderPolicy {
  /** Headers on every asset response, errors included: CORS (when static), nosniff, CORP. */
  readonly common: Readonly<OutgoingHttpHeaders>;
  /** Whether Access-Control-Allow-Origin depends on the request's Origin (an allow-list). */
  readonly corsPerRequest: boolean;
  readonly #allowList: ReadonlySet<string>;
  readonly #unhashedCacheControl: string;
  readonly #sets = new WeakMap<Representation | FileRepresentation, RepresentationHeaders>();

  constructor(options: HeaderPolicyOptions) {
    const common: OutgoingHttpHeaders = {
      'x-content-type-options': 'nosniff',
      // Pages with Cross-Origin-Embedder-Policy may load these assets.
      'cross-origin-resource-policy': 'cross-origin',
    };
    if (options.hsts !== undefined) common['strict-transport-security'] = `max-age=${Math.floor(options.hsts / 1000)}`;
    if (options.corsOrigin === '*') {
      common['access-control-allow-origin'] = '*';
      common['timing-allow-origin'] = '*';
    }
    this.common = Object.freeze(common);
    this.corsPerRequest = Array.isArray(options.corsOrigin);
    this.#allowList = new Set(Array.isArray(options.corsOrigin) ? options.corsOrigin : []);
    this.#unhashedCacheControl = `public, max-age=${Math.ceil(options.unhashedTtl / 1000)}`;
  }

  /** Content-hashed names are immutable; others (with --allow-unhashed) get a short max-age. */
  cacheControl(hashed: boolean): string {
    return hashed ? IMMUTABLE : this.#unhashedCacheControl;
  }

  vary(compressible: boolean): string | undefined {
    if (this.corsPerRequest) return compressible ? 'Accept-Encoding, Origin' : 'Origin';
    return compressible ? 'Accept-Encoding' : undefined;
  }

  /** The 200 headers of a representation, without Age and Cache-Status. */
  base(blob: StoredMeta, rep: Representation | FileRepresentation): Readonly<OutgoingHttpHeaders> {
    return this.#setFor(blob, rep).base;
  }

  /**
   * A cache hit's head without Age, serialised once per representation. Age is the one
   * header that changes (every second); it goes per request as `ageLine()`, so a working set
   * of thousands of keys does not re-serialise thousands of heads every second.
   */
  hit(blob: Blob, rep: Representation): PreparedHead {
    const set = this.#setFor(blob, rep);
    set.hit ??= prepareHead({ ...set.base, 'cache-status': CACHE_STATUS.hit });
    return set.hit;
  }

  /** Adds the request-dependent CORS header when the policy is an allow-list. */
  withCors(headers: OutgoingHttpHeaders, requestHeaders: IncomingHttpHeaders): OutgoingHttpHeaders {
    if (!this.corsPerRequest) return headers;
    const origin = requestHeaders.origin;
    if (origin === undefined || !this.#allowList.has(origin)) return headers;
    return { ...headers, 'access-control-allow-origin': origin };
  }

  /** Whether a preflight from `origin` may be allowed. */
  allowsOrigin(origin: string | undefined): string | undefined {
    if (this.common['access-control-allow-origin'] === '*') return '*';
    return origin !== undefined && this.#allowList.has(origin) ? origin : undefined;
  }

  #setFor(blob: StoredMeta, rep: Representation | FileRepresentation): RepresentationHeaders {
    let set = this.#sets.get(rep);
    if (set === undefined) {
      const base: OutgoingHttpHeaders = {
        ...this.common,
        'content-type': blob.contentType,
        'content-length': String('body' in rep ? rep.body.length : rep.length),
        'cache-control': this.cacheControl(blob.expiresAt === 0),
        etag: rep.etag,
        'last-modified': blob.lastModified,
        'accept-ranges': 'bytes',
      };
      if (rep.encoding !== 'identity') base['content-encoding'] = rep.encoding;
      const vary = this.vary(blob.compressible);
      if (vary !== undefined) base.vary = vary;
      set = { base: Object.freeze(base), hit: undefined };
      this.#sets.set(rep, set);
    }
    return set;
  }
}

/** The Age header line of a hit at `now` (ms), for EdgeResponse.writePreparedHead(). */
export function ageLine(blob: Blob, now: number): string {
  return `age: ${ageSeconds(blob, now)}\r\n`;
}

export function ageSeconds(blob: Pick<Blob, 'storedAt'>, now: number): number {
  return Math.max(0, Math.floor((now - blob.storedAt) / 1000));
}
