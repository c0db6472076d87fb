/**
 * An S3 bucket (or S3-compatible store) as the upload target. Each object carries its SHA-256
 * in user metadata (`x-amz-meta-sha256`); a HEAD that finds the same value, size and
 * Cache-Control skips the upload. Objects put by other tools have no such metadata and are
 * uploaded once more. The same bytes under another Cache-Control (uploaded no-cache by an
 * earlier run, immutable now, or the reverse) get the new headers by a CopyObject of the object
 * onto itself (MetadataDirective REPLACE, only if its ETag is still the one the HEAD saw), so
 * the bytes are not sent again; if the copy fails, they are.
 * Files up to `multipartThreshold` go in one PutObject from memory (so the SDK can retry them);
 * larger ones stream through a multipart upload (@aws-sdk/lib-storage) that is completed only
 * after the whole file was read and verified, and aborted otherwise.
 */
import { buffer } from 'node:stream/consumers';
import { CopyObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client, type S3BucketOptions } from '../origin/s3.js';
import type { UploadItem, UploadTarget } from './target.js';

const MiB = 1024 * 1024;

/** The largest object one CopyObject may copy (S3's limit); larger ones are uploaded again. */
const MAX_COPY_BYTES = 5 * 1024 * MiB;

export interface S3TargetOptions extends S3BucketOptions {
  /** Files larger than this (bytes) use a multipart upload. @default 16 MiB */
  readonly multipartThreshold?: number;
  /** Bytes per part (S3's minimum is 5 MiB; raised for files over 10,000 parts). @default 8 MiB */
  readonly partSize?: number;
  /** Parts of one file in flight at once (memory: partSize × this, per file). @default 4 */
  readonly partConcurrency?: number;
}

export class S3Target implements UploadTarget {
  readonly description: string;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #multipartThreshold: number;
  readonly #partSize: number;
  readonly #partConcurrency: number;
  /** Keys has() found holding the bytes under another Cache-Control, with the ETag it saw: put() copies them. */
  readonly #stale = new Map<string, { readonly sha256: string; readonly size: number; readonly etag: string | undefined }>();

  constructor(options: S3TargetOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
    this.description = `s3://${options.bucket}/${options.prefix}`;
    this.#multipartThreshold = options.multipartThreshold ?? 16 * MiB;
    this.#partSize = options.partSize ?? 8 * MiB;
    this.#partConcurrency = options.partConcurrency ?? 4;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createS3Client(options);
  }

  async has(item: Pick<UploadItem, 'key' | 'size' | 'sha256' | 'cacheControl'>): Promise<boolean> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + item.key }));
      if (head.Metadata?.sha256 !== item.sha256 || head.ContentLength !== item.size) return false;
      if (head.CacheControl === item.cacheControl) return true;
      // The right bytes with a stale Cache-Control: the edge may refuse them (no-cache where they are now immutable).
      this.#stale.set(item.key, { sha256: item.sha256, size: item.size, etag: head.ETag });
      return false;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      // HEAD has no body: a missing bucket is a 404 too, and the PUT that follows says which.
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async put(item: UploadItem): Promise<void> {
    const params = {
      Bucket: this.#bucket,
      Key: this.#prefix + item.key,
      ContentType: item.contentType,
      CacheControl: item.cacheControl,
      Metadata: { sha256: item.sha256 },
    };
    const stale = this.#stale.get(item.key);
    this.#stale.delete(item.key);
    if (stale !== undefined && stale.sha256 === item.sha256 && stale.size === item.size && item.size <= MAX_COPY_BYTES) {
      try {
        // New headers on the bytes already there, atomically: readers see the old object or the new one.
        await this.#client.send(new CopyObjectCommand({
          ...params,
          CopySource: encodeURIComponent(`${this.#bucket}/${params.Key}`).replace(/%2F/g, '/'),
          ...(stale.etag !== undefined ? { CopySourceIfMatch: stale.etag } : {}),
          MetadataDirective: 'REPLACE',
        }));
        return;
      } catch {
        // Changed since the HEAD (412), no permission to read it back, ...: send the bytes, which says why if it fails too.
      }
    }
    if (item.size <= this.#multipartThreshold) {
      const body = await buffer(item.open());
      await this.#client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: body.length }));
      return;
    }
    const body = item.open();
    const upload = new Upload({
      client: this.#client,
      params: { ...params, Body: body, ContentLength: item.size },
      partSize: Math.max(this.#partSize, Math.ceil(item.size / 10_000)),
      queueSize: this.#partConcurrency,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      // The body's own failure (E_UPLOAD_CHANGED) is the one to report, not a failed abort after it.
      throw body.errored ?? err;
    } finally {
      body.destroy();
    }
  }

  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      // A HEAD has no body to name the error: a 404 is the bucket.
      if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) throw Object.assign(new Error(`The bucket ${this.#bucket} does not exist.`), { name: 'NoSuchBucket' });
      // s3:ListBucket may be withheld from an upload-only role: the puts will tell.
      if (e.$metadata?.httpStatusCode === 403) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }
}
