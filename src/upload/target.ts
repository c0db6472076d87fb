/**
 * Where `hashedge upload` puts files: an S3 bucket (prefix) or a directory, behind one small
 * interface so the upload logic (and tests) do not care which.
 */
import type { Readable } from 'node:stream';
import type { OriginSpec } from '../config.js';
import { DirectoryTarget } from './target-dir.js';
import { S3Target, type S3TargetOptions } from './target-s3.js';

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
  /** Whether `key` already holds exactly these bytes (then the upload is skipped). */
  has(item: Pick<UploadItem, 'key' | 'size' | 'sha256'>): Promise<boolean>;
  /** Stores the item whole or not at all: readers never see part of it under its key. */
  put(item: UploadItem): Promise<void>;
  close(): Promise<void>;
}

export type S3ConnectionOptions = Omit<S3TargetOptions, 'bucket' | 'prefix'>;

export function createTarget(spec: OriginSpec, s3: S3ConnectionOptions): UploadTarget {
  return spec.kind === 's3' ? new S3Target({ ...s3, bucket: spec.bucket, prefix: spec.prefix }) : new DirectoryTarget(spec.root);
}
