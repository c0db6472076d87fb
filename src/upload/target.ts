/**
 * Where `hashedge upload` puts files: an S3 bucket (prefix) or a directory, behind one small
 * interface so the upload logic (and tests) do not care which. create-target.ts makes the one
 * a spec names.
 */
import type { Readable } from 'node:stream';

export interface UploadItem {
  /** Target-relative key, posix separators: `assets/app-1d18a1d220.js`. */
  readonly key: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the bytes; stored with the object (S3 metadata `sha256`). */
  readonly sha256: string;
  readonly contentType: string;
  readonly cacheControl: string;
  /** Opens the bytes. The stream fails before its end if they are not the ones hashed. */
  readonly open: () => Readable;
}

export interface UploadTarget {
  /** `s3://bucket/prefix/` or the directory's absolute path. */
  readonly description: string;
  /**
   * Whether `key` already holds exactly these bytes, stored with this Cache-Control where the
   * target stores one (then the upload is skipped). The same bytes under another Cache-Control
   * (a file whose decision changed since an earlier upload) are not: put() then fixes it.
   */
  has(item: Pick<UploadItem, 'key' | 'size' | 'sha256' | 'cacheControl'>): Promise<boolean>;
  /**
   * Rejects when the target cannot be used at all (no credentials, no such bucket, a refused
   * connection), so the upload stops with one error before any file. Resolves when it can, or
   * when it cannot tell (a bucket that allows puts but not a look at itself).
   */
  check(): Promise<void>;
  /** Stores the item whole or not at all: readers never see part of it under its key. */
  put(item: UploadItem): Promise<void>;
  close(): Promise<void>;
}
