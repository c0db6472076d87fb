/** The origin a Config names. */
import type { Config } from '../config.js';
import { DiskOrigin } from './disk.js';
import type { Origin } from './origin.js';

export async function createOrigin(config: Config): Promise<Origin> {
  const spec = config.origin;
  if (spec.kind === 'disk') return DiskOrigin.open(spec.root);
  // Loaded only when used: the AWS SDK adds ~100 ms and tens of MB to start-up.
  const { S3Origin } = await import('./s3.js');
  return new S3Origin({
    bucket: spec.bucket,
    prefix: spec.prefix,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    ...(config.s3Endpoint !== undefined ? { endpoint: config.s3Endpoint } : {}),
  });
}
