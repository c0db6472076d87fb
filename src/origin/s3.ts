/**
 * An S3 bucket (or any S3-compatible store: MinIO, Ceph, R2) as the origin, through
 * @aws-sdk/client-s3. Credentials come from the standard AWS chain.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { OriginError } from '../errors.js';
import { totalFromContentRange, type Origin, type OriginGetOptions, type OriginObject } from './origin.js';

/** What `hashedge upload` stores as x-amz-meta-sha256. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A bucket and prefix, and how to reach them: what the origin and `hashedge upload` share. */
export interface S3BucketOptions extends S3Connection {
  readonly bucket: string;
  /** Key prefix: '' or ending in '/'. */
  readonly prefix: string;
  /** A client to use instead of building one (tests, tools). Not destroyed by close(). */
  readonly client?: S3Client;
}

export type S3OriginOptions = S3BucketOptions;

/** How to reach a bucket: shared by the origin and `hashedge upload`. */
export interface S3Connection {
  readonly region: string;
  /** For S3-compatible stores; AWS when undefined. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** SDK attempts per request. @default the SDK's (3) */
  readonly maxAttempts?: number;
}

export function createS3Client(connection: S3Connection): S3Client {
  return new S3Client({
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    ...(connection.endpoint !== undefined ? { endpoint: connection.endpoint } : {}),
    ...(connection.maxAttempts !== undefined ? { maxAttempts: connection.maxAttempts } : {}),
    // S3-compatible stores do not all know the newer default checksums, and validating a
    // whole-object checksum would force buffering: only when an operation requires it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class S3Origin implements Origin {
  readonly description: string;
  readonly storesCacheControl = true;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;

  constructor(options: S3OriginOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
    this.description = `s3://${options.bucket}/${options.prefix}`;
    this.#ownsClient = options.client === undefined;
    // Our own origin timeout bounds the whole request. One retry (the SDK's standard strategy,
    // with its back-off) covers a dropped keep-alive socket and S3's transient 500/503, which
    // AWS asks clients to retry; with --origin-error-ttl a failing bucket so sees at most two
    // GETs per key per interval from the key's owner (test/origin-faults.test.ts).
    this.#client = options.client ?? createS3Client({ ...options, maxAttempts: 2 });
  }

  async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const { signal, range } = options;
    let response;
    try {
      response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || status === 404) return null;
      if (e.name === 'AccessDenied' || status === 403) {
        throw new OriginError('E_ORIGIN_FORBIDDEN', 'The bucket refused access (check credentials and bucket policy).', err);
      }
      // The SDK's message can name internal hosts: keep it as the cause, never show it.
      throw new OriginError('E_ORIGIN', 'The S3 origin request failed.', err);
    }
    const body = response.Body;
    if (!(body instanceof Readable)) {
      throw new OriginError('E_ORIGIN', 'The S3 origin answered without a readable body.');
    }
    const size = range ? totalFromContentRange(response.ContentRange) : response.ContentLength;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      body.destroy();
      throw new OriginError('E_ORIGIN', 'The S3 origin did not say how large the object is.');
    }
    const sha256 = response.Metadata?.sha256?.toLowerCase();
    return {
      body, size, contentType: response.ContentType, lastModified: response.LastModified,
      ...(sha256 && SHA256_HEX.test(sha256) ? { sha256 } : {}),
      ...(response.CacheControl !== undefined ? { cacheControl: response.CacheControl } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }
}
