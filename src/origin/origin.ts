/**
 * The seam between the cache and where assets live. An origin knows nothing of the cache or
 * of HTTP requests; the cache knows nothing of disks or buckets. Tests plug in slow, failing or
 * counting origins through this interface.
 */
import type { Readable } from 'node:stream';

/** Where the objects are: a directory, or an S3 bucket and key prefix (--origin). */
export type OriginSpec =
  | { readonly kind: 'disk'; readonly root: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

/** The whole size from a Content-Range like `bytes 0-99/1234`, or undefined. */
export function totalFromContentRange(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /\/(\d+)\s*$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

export interface OriginGetOptions {
  /** Aborts the request and destroys the body; fired on timeout or when nobody needs the bytes. */
  readonly signal: AbortSignal;
  /** Only these bytes (the body then holds end-start+1 bytes; `size` stays the whole size). */
  readonly range?: ByteRange;
}

export interface OriginObject {
  /** The bytes. The consumer must read it to the end or destroy it (no leaked sockets). */
  readonly body: Readable;
  /** Size of the whole object in bytes. */
  readonly size: number;
  /** Content type the origin stored, if any; untrusted (validated before it reaches a header). */
  readonly contentType: string | undefined;
  readonly lastModified: Date | undefined;
  /**
   * The SHA-256 (hex) the origin stored for the whole object, if any (`hashedge upload` sets
   * S3 metadata `sha256`): a body that does not hash to it is refused, not cached.
   */
  readonly sha256?: string;
  /**
   * The Cache-Control stored with the object (S3 metadata), if any: evidence that it is
   * immutable (asset/immutability.ts). Untrusted; only read, never sent as it is.
   */
  readonly cacheControl?: string;
}

export interface Origin {
  /** For logs and the status page, e.g. `disk:/srv/assets` or `s3://bucket/prefix/`. */
  readonly description: string;
  /** Whether objects can carry a stored Cache-Control (S3 can, a directory cannot). @default false */
  readonly storesCacheControl?: boolean;
  /**
   * Resolves to the object, or null when the origin has no such key (a 404).
   * Rejects with an OriginError/OriginTimeoutError on any other failure.
   */
  get(key: string, options: OriginGetOptions): Promise<OriginObject | null>;
  close(): Promise<void>;
}
