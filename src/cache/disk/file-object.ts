/**
 * A large object the disk tier serves from its file (not read into memory): the same metadata
 * and ETags a Blob has, and for each representation where its bytes lie in the file. The
 * HTTP layer plans it as it plans a Blob (same headers, 304, Range, multipart) and streams the
 * bytes it sends with readParts(), which opens the file when the body starts and reads only the
 * spans sent.
 */
import type { Readable } from 'node:stream';
import { etagBase, representationEtag, type Encoding } from '../blob.js';
import { toHttpSecond } from '../../units.js';
import type { RecordHead } from './record.js';

/** A representation's bytes in the file: `offset` (of the file) and `length`. */
export interface FileRepresentation {
  readonly encoding: Encoding;
  readonly etag: string;
  readonly offset: number;
  readonly length: number;
}

/** Bytes [start, end] of the file (inclusive, file offsets). */
export interface FileSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * What a body is made of, in order: spans of the file, and bytes of the response's own (a
 * multipart body's part headers and boundaries) sent between them as they are.
 */
export type FilePart = FileSpan | Buffer;

/** Opens one stream of parts: the file opened once, each span read when the client wants it. */
export type ReadParts = (parts: readonly FilePart[]) => Readable;

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
  /** The origin's stored Cache-Control, as a Blob keeps it (a peer passes it on). */
  readonly originCacheControl: string | undefined;
  readonly identity: FileRepresentation;
  readonly br: FileRepresentation | undefined;
  readonly gzip: FileRepresentation | undefined;
  /** A body of file spans and literal bytes (one range, a representation, a multipart body). */
  readonly readParts: ReadParts;

  constructor(key: string, head: RecordHead, readParts: ReadParts) {
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
    this.originCacheControl = head.originCacheControl;
    const tag = etagBase(identity.sha256);
    this.identity = { encoding: 'identity', etag: representationEtag(tag, 'identity'), offset: identity.offset, length: identity.length };
    this.br = br.length > 0 ? { encoding: 'br', etag: representationEtag(tag, 'br'), offset: br.offset, length: br.length } : undefined;
    this.gzip = gzip.length > 0 ? { encoding: 'gzip', etag: representationEtag(tag, 'gzip'), offset: gzip.offset, length: gzip.length } : undefined;
    this.readParts = readParts;
  }

  /** Bytes [start, end] of the file as a stream. */
  read(start: number, end: number): Readable {
    return this.readParts([{ start, end }]);
  }

  get size(): number {
    return this.identity.length;
  }
}
