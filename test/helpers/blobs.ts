/** Blobs for in-memory tests of the cache's parts: a body of n bytes, no fetch. */
import { createHash } from 'node:crypto';
import { Blob, BLOB_OVERHEAD_BYTES } from '../../src/cache/blob.js';

export { BLOB_OVERHEAD_BYTES };

export function blob(key: string, body: string | Buffer, options: { expiresAt?: number; compressible?: boolean; storedAt?: number } = {}): Blob {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return new Blob({
    key, body: bytes, sha256: createHash('sha256').update(bytes).digest('hex'),
    contentType: options.compressible === false ? 'image/png' : 'text/javascript; charset=utf-8',
    lastModified: undefined, storedAt: options.storedAt ?? 0, expiresAt: options.expiresAt ?? 0,
    compressible: options.compressible ?? true, immutability: 'test', originCacheControl: undefined,
  });
}
