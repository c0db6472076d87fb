/**
 * SHA-256 (and SHA-384, for Subresource Integrity) of files as streams, and a read stream that proves the bytes it gives out are the
 * bytes that were hashed: a file changed between planning and upload must not end up under a
 * name that claims other content.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, Transform, type Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { EdgeError } from '../errors.js';

export interface Digest {
  /** Lower-case hex SHA-256 of the bytes. */
  readonly sha256: string;
  readonly size: number;
}

export interface FileDigest extends Digest {
  /** Base64 SHA-384 of the bytes: the file's Subresource Integrity is `sha384-<this>`. */
  readonly sha384: string;
}

/** Both hashes of a file, in one read. */
export async function digestFile(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  const hash384 = createHash('sha384');
  let size = 0;
  await pipelineAsync(createReadStream(path), async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      hash.update(chunk);
      hash384.update(chunk);
      size += chunk.length;
    }
  });
  return { sha256: hash.digest('hex'), sha384: hash384.digest('base64'), size };
}

/** The Subresource Integrity value (`integrity="..."`) of a digest. */
export function integrity(digest: Pick<FileDigest, 'sha384'>): string {
  return `sha384-${digest.sha384}`;
}

/**
 * The bytes of `source`, failing with E_UPLOAD_CHANGED *before it ends* when they do not hash
 * to `expected`: a consumer that stores only complete streams (a temp file renamed at the end,
 * a multipart upload completed at the end) then stores nothing. `onBytes` sees each chunk's size.
 */
export function verifiedStream(source: Readable, expected: Digest, label: string, onBytes?: (n: number) => void): Readable {
  const hash = createHash('sha256');
  let size = 0;
  const verifier = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
    flush(callback) {
      const sha256 = hash.digest('hex');
      if (size === expected.size && sha256 === expected.sha256) return callback();
      callback(new EdgeError('E_UPLOAD_CHANGED', 0, `${label} changed while it was being uploaded (now ${size} bytes, sha256 ${sha256.slice(0, 12)}…); nothing was stored for it. Run the upload again once the build is finished.`));
    },
  });
  // Errors of the source reach the consumer through the verifier; the callback only ends the chain.
  pipeline(source, verifier, () => {});
  return verifier;
}

/** verifiedStream of a file. */
export function verifiedFile(path: string, expected: Digest, label: string, onBytes?: (n: number) => void): Readable {
  return verifiedStream(createReadStream(path), expected, label, onBytes);
}
