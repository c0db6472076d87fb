/** The origin a Config names. */
import { DiskOrigin } from './disk.js';
import type { Origin, OriginSpec } from './origin.js';

/** What of the Config (config.ts) names an origin; a Config is one. */
export interface OriginConfig {
  readonly origin: OriginSpec;
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string;
  readonly s3ForcePathStyle: boolean;
}

export async function createOrigin(config: OriginConfig): Promise<Origin> {
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
