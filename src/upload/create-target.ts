/** The upload target a spec names (as origin/create.ts makes the origin a Config names). */
import type { OriginSpec } from '../origin/origin.js';
import { DirectoryTarget } from './target-dir.js';
import type { S3TargetOptions } from './target-s3.js';
import type { UploadTarget } from './target.js';

export type S3ConnectionOptions = Omit<S3TargetOptions, 'bucket' | 'prefix'>;

/**
 * The target for spec. The AWS SDK is imported only for an S3 target: the CLI registers this
 * command in every process, and loading the SDK there cost every command ~200 ms of start-up
 * and `hashedge serve` on a disk origin 8 MiB of resident memory (78 -> 70 MiB idle).
 */
export async function createTarget(spec: OriginSpec, s3: S3ConnectionOptions): Promise<UploadTarget> {
  if (spec.kind !== 's3') return new DirectoryTarget(spec.root);
  const { S3Target } = await import('./target-s3.js');
  return new S3Target({ ...s3, bucket: spec.bucket, prefix: spec.prefix });
}
