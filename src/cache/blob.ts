/**
 * An immutable cached object: the identity bytes, the encoded variants kept for it, and the
 * metadata every response needs. Built once per fill; never mutated (a new Blob replaces it
 * when variants arrive), so the HTTP layer can hang per-blob header sets off it safely.
 */
import { toHttpSecond } from '../units.js';

export type Encoding = 'br' | 'gzip' | 'identity';

export interface Representation {
  readonly encoding: Encoding;
  readonly body: Buffer;
  /** Strong ETag (quoted) of these exact bytes' content, identical on every node. */
  readonly etag: string;
}

export interface BlobInit {
  readonly key: string;
  readonly body: Buffer;
  /** sha256 of body, hex. Computed while the bytes streamed in, so not recomputed here. */
  readonly sha256: string;
  readonly contentType: string;
  readonly lastModified: Date | undefined;
  /** ms since epoch when stored. */
  readonly storedAt: number;
  /** ms since epoch when it stops being served from cache; 0 = never (content-hashed). */
  readonly expiresAt: number;
  /** Whether the type is worth compressing (Vary: Accept-Encoding is sent for these). */
  readonly compressible: boolean;
  /** Why it is (or is not) immutable, for people (asset/immutability.ts Verdict.reason). */
  readonly immutability: string;
  /** The Cache-Control the origin stored with it, passed on to peers as evidence. */
  readonly originCacheControl?: string | undefined;
  /**
   * The bodies are views of one buffer that holds little else (a disk read: the file's head):
   * kept as they are, not copied (see ownMemory). @default false
   */
  readonly viewsOfOwnBuffer?: boolean;
}

/** Bytes counted per blob beyond its bodies: metadata, header sets, LRU bookkeeping. */
export const BLOB_OVERHEAD_BYTES = 1024;

export class Blob {
  readonly key: string;
  readonly sha256: string;
  readonly contentType: string;
  /** HTTP-date; the fill time when the origin gave none (so 304s still work). */
  readonly lastModified: string;
  readonly lastModifiedMs: number;
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly compressible: boolean;
  readonly immutability: string;
  readonly originCacheControl: string | undefined;
  readonly identity: Representation;
  readonly br: Representation | undefined;
  readonly gzip: Representation | undefined;
  /** What this blob costs the cache budget, every variant included. */
  readonly byteSize: number;

  constructor(init: BlobInit, variants: { br?: Buffer; gzip?: Buffer } = {}) {
    this.key = init.key;
    this.sha256 = init.sha256;
    this.contentType = init.contentType;
    // Rounded down to HTTP's precision so If-Modified-Since and If-Range compare cleanly.
    this.lastModifiedMs = toHttpSecond((init.lastModified ?? new Date(init.storedAt)).getTime());
    this.lastModified = new Date(this.lastModifiedMs).toUTCString();
    this.storedAt = init.storedAt;
    this.expiresAt = init.expiresAt;
    this.compressible = init.compressible;
    this.immutability = init.immutability;
    this.originCacheControl = init.originCacheControl;
    const tag = etagBase(init.sha256);
    const own = init.viewsOfOwnBuffer ? (bytes: Buffer) => bytes : ownMemory;
    this.identity = { encoding: 'identity', body: own(init.body), etag: representationEtag(tag, 'identity') };
    this.br = variants.br ? { encoding: 'br', body: own(variants.br), etag: representationEtag(tag, 'br') } : undefined;
    this.gzip = variants.gzip ? { encoding: 'gzip', body: own(variants.gzip), etag: representationEtag(tag, 'gzip') } : undefined;
    this.byteSize = init.body.length + (variants.br?.length ?? 0) + (variants.gzip?.length ?? 0) + BLOB_OVERHEAD_BYTES;
  }

  get size(): number {
    return this.identity.body.length;
  }

  /** The same blob with encoded variants attached. */
  withVariants(variants: { br?: Buffer; gzip?: Buffer }): Blob {
    return new Blob(
      {
        key: this.key,
        body: this.identity.body,
        sha256: this.sha256,
        contentType: this.contentType,
        lastModified: new Date(this.lastModifiedMs),
        storedAt: this.storedAt,
        expiresAt: this.expiresAt,
        compressible: this.compressible,
        immutability: this.immutability,
        originCacheControl: this.originCacheControl,
      },
      variants,
    );
  }
}

/**
 * The bytes in memory of their own, so what the budget counts is what the cache holds. zlib
 * hands its output back as views into 16 KiB chunks, sockets as views into their 64 KiB reads,
 * and small Buffer copies come from a shared 8 KiB pool: kept as they are, a 1 KiB variant pins
 * 16 KiB the budget never sees (on the bench corpus, the variants of 400 scripts and styles held
 * 15.9 MiB for 12.2 MiB counted). Bodies that own their memory already are not copied, nor
 * a disk read's sections (BlobInit.viewsOfOwnBuffer: one file's buffer, its head the only
 * excess); allocUnsafeSlow, because allocUnsafe would put a small copy back in the pool.
 */
export function ownMemory(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** 22 base64url characters (132 bits) of the sha256: short, and collisions are not a concern. */
export function etagBase(sha256Hex: string): string {
  return Buffer.from(sha256Hex, 'hex').toString('base64url').slice(0, 22);
}

const ETAG_SUFFIX: Record<Encoding, string> = { identity: '', br: '-br', gzip: '-gz' };

/**
 * The strong ETag of one representation, from etagBase(): one spelling for an object in memory
 * and one served from its file (disk/file-object.ts), so a 304 or If-Range holds across tiers.
 */
export function representationEtag(tag: string, encoding: Encoding): string {
  return `"${tag}${ETAG_SUFFIX[encoding]}"`;
}
