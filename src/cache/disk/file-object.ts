/**
 * A large object the disk tier serves from its file (not read into memory): the same metadata
 * and ETags a Blob has, and for each representation where its bytes lie in the file. The
 * HTTP layer plans it as it plans a Blob (same headers, 304, Range) and streams the bytes it
 * sends with read(), which opens the file when the body starts and reads only that span.
 */
import type { Readable } from 'node:stream';
import { etagBase, type Encoding } from '../blob.js';
import { toHttpSecond } from '../../units.js';
import type { RecordHead } from './record.js';

/** A representation's bytes in the file: `offset` (of the file) and `length`. */
export interface FileRepresentation {
  readonly encoding: Encoding;
  readonly etag: string;
  readonly offset: number;
  readonly length: number;
}

/** Opens a stream of the file's bytes [start, end] (inclusive, file offsets). */
export type ReadSpan = (start: number, end: number) => Readable;

export class FileObject {
  readonly key: string;
  readonly sha256: string;
  readonly contentType: string;
  readonly lastModified: string;
  readonly lastModifiedMs: number;
  readonly storedAt: number;
  /** Always 0: only immutable objects are written to disk. */
  readonly expiresAt = 0;
  readonly compressible: boolean;
  readonly immutability: string;
  readonly identity: FileRepresentation;
  readonly br: FileRepresentation | undefined;
  readonly gzip: FileRepresentation | undefined;
  readonly read: ReadSpan;

  constructor(key: string, head: RecordHead, read: ReadSpan) {
    const [identity, br, gzip] = head.sections;
    this.key = key;
    this.sha256 = identity.sha256;
    this.contentType = head.contentType;
    // As Blob does: HTTP's precision, so If-Modified-Since and If-Range compare cleanly.
    this.lastModifiedMs = toHttpSecond(head.lastModifiedMs);
    this.lastModified = new Date(this.lastModifiedMs).toUTCString();
    this.storedAt = head.storedAt;
    this.compressible = head.compressible;
    this.immutability = head.immutability;
    const tag = etagBase(identity.sha256);
    this.identity = { encoding: 'identity', etag: `"${tag}"`, offset: identity.offset, length: identity.length };
    this.br = br.length > 0 ? { encoding: 'br', etag: `"${tag}-br"`, offset: br.offset, length: br.length } : undefined;
    this.gzip = gzip.length > 0 ? { encoding: 'gzip', etag: `"${tag}-gz"`, offset: gzip.offset, length: gzip.length } : undefined;
    this.read = read;
  }

  get size(): number {
    return this.identity.length;
  }
}
