/**
 * One cached object on disk: a file named by the SHA-256 of its key, holding a small JSON head
 * (key, metadata, every section's length and SHA-256) and then the identity bytes and the
 * encoded variants kept for it. Everything a Blob needs, so a disk hit builds the same Blob a
 * fill built, and answers with the same headers.
 *
 *   "HEDGEDC1" | u32 head length (big-endian) | head (JSON) | identity | br | gzip
 *
 * The file's total length is in its name (`<sha256(key)>.<bytes>`), so the index is rebuilt at
 * start from directory listings alone (no stat, no read; nginx's cache loader reads every
 * file's header instead). Nothing read from a file is trusted: decode() checks the magic, the
 * lengths, the key, and every section's SHA-256 before a byte is served.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Blob } from '../blob.js';

const MAGIC = Buffer.from('HEDGEDC1', 'latin1');
export const PREAMBLE_BYTES = MAGIC.length + 4;
/** A head is ~300 bytes; anything near this is not one of ours. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** First read of a file: the preamble and, nearly always, the whole head. */
const FIRST_READ_BYTES = 4096;

interface Head {
  readonly key: string;
  readonly contentType: string;
  readonly lastModifiedMs: number;
  readonly storedAt: number;
  readonly compressible: boolean;
  readonly immutability: string;
  readonly originCacheControl?: string;
  /** identity, br, gzip: byte length and SHA-256 (hex) of each section; 0 and '' when absent. */
  readonly sections: readonly (readonly [bytes: number, sha256: string])[];
}

/** Why a stored file was refused (it is then deleted and counted). */
export class CorruptRecordError extends Error {}

/** The file name for a key: 64 hex characters of SHA-256, the file's total length after a dot. */
export function recordName(keyHash: string, bytes: number): string {
  return `${keyHash}.${bytes}`;
}

const NAME = /^([0-9a-f]{64})\.(\d{1,15})$/;

/** A file name parsed back into the key's hash and the file's length; undefined: not a record. */
export function parseRecordName(name: string): { keyHash: string; bytes: number } | undefined {
  const m = NAME.exec(name);
  return m ? { keyHash: m[1]!, bytes: Number(m[2]) } : undefined;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The buffers of a blob's file, in order (for one writev), and their total length. */
export function encodeRecord(blob: Blob): { chunks: Buffer[]; bytes: number } {
  const bodies = [blob.identity.body, blob.br?.body, blob.gzip?.body];
  const head: Head = {
    key: blob.key,
    contentType: blob.contentType,
    lastModifiedMs: blob.lastModifiedMs,
    storedAt: blob.storedAt,
    compressible: blob.compressible,
    immutability: blob.immutability,
    ...(blob.originCacheControl !== undefined ? { originCacheControl: blob.originCacheControl } : {}),
    sections: bodies.map((body, i) => (body === undefined ? [0, ''] : [body.length, i === 0 ? blob.sha256 : sha256(body)])),
  };
  const json = Buffer.from(JSON.stringify(head));
  const preamble = Buffer.allocUnsafe(PREAMBLE_BYTES);
  MAGIC.copy(preamble);
  preamble.writeUInt32BE(json.length, MAGIC.length);
  const chunks = [preamble, json, ...bodies.filter((b): b is Buffer => b !== undefined && b.length > 0)];
  return { chunks, bytes: chunks.reduce((n, c) => n + c.length, 0) };
}

/**
 * Checks and decodes a whole record, `whole` being its file's bytes (read at once: one trip to
 * libuv's threads, the length taken from the file's name). The magic, the lengths, the key are
 * always checked; every section's SHA-256 when `verify` (the file's first read in this process,
 * and every promotion to memory). The Blob's bodies are views of `whole`, not copies: it holds
 * nothing else but the head (a few hundred bytes, within BLOB_OVERHEAD_BYTES). Throws
 * CorruptRecordError for anything that is not exactly what was written for `key`.
 */
export function decodeRecord(whole: Buffer, key: string, verify: boolean): Blob {
  const bytes = whole.length;
  if (bytes < PREAMBLE_BYTES || whole.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) throw new CorruptRecordError('not a record (short, or no magic)');
  const headBytes = whole.readUInt32BE(MAGIC.length);
  if (headBytes > MAX_HEAD_BYTES || PREAMBLE_BYTES + headBytes > bytes) throw new CorruptRecordError('head length out of bounds');
  let head: Head;
  try {
    head = JSON.parse(whole.toString('utf8', PREAMBLE_BYTES, PREAMBLE_BYTES + headBytes)) as Head;
  } catch {
    throw new CorruptRecordError('head is not JSON');
  }
  if (head.key !== key) throw new CorruptRecordError('record of another key');
  const sections = head.sections;
  if (!Array.isArray(sections) || sections.length !== 3 || sections.some((s) => !Array.isArray(s) || !Number.isSafeInteger(s[0]) || s[0] < 0)) {
    throw new CorruptRecordError('bad section table');
  }
  if (PREAMBLE_BYTES + headBytes + sections[0]![0] + sections[1]![0] + sections[2]![0] !== bytes) throw new CorruptRecordError('lengths do not add up to the file');
  const bodies: Buffer[] = [];
  let offset = PREAMBLE_BYTES + headBytes;
  for (const [length, expected] of sections) {
    const body = whole.subarray(offset, offset + length);
    if (verify && length > 0 && sha256(body) !== expected) throw new CorruptRecordError('SHA-256 mismatch');
    bodies.push(body);
    offset += length;
  }
  const [identity, br, gzip] = bodies as [Buffer, Buffer, Buffer];
  return new Blob(
    {
      key,
      body: identity,
      sha256: sections[0]![1],
      contentType: head.contentType,
      lastModified: new Date(head.lastModifiedMs),
      storedAt: head.storedAt,
      expiresAt: 0,
      compressible: head.compressible,
      immutability: head.immutability,
      originCacheControl: head.originCacheControl,
      viewsOfOwnBuffer: true,
    },
    { ...(br.length > 0 ? { br } : {}), ...(gzip.length > 0 ? { gzip } : {}) },
  );
}

/** The key a record says it holds (its head only), for a prefix purge; undefined: unreadable. */
export async function readRecordKey(file: FileHandle): Promise<string | undefined> {
  const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
  const { bytesRead } = await file.read(first, 0, first.length, 0);
  if (bytesRead < PREAMBLE_BYTES || !first.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const headBytes = first.readUInt32BE(MAGIC.length);
  if (headBytes > MAX_HEAD_BYTES) return undefined;
  let headBuf = first.subarray(PREAMBLE_BYTES, Math.min(bytesRead, PREAMBLE_BYTES + headBytes));
  if (headBuf.length < headBytes) {
    headBuf = Buffer.allocUnsafe(headBytes);
    const { bytesRead: more } = await file.read(headBuf, 0, headBytes, PREAMBLE_BYTES);
    if (more < headBytes) return undefined;
  }
  try {
    const key = (JSON.parse(headBuf.toString('utf8')) as Partial<Head>).key;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

async function readExactly(file: FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new CorruptRecordError('file shorter than its record');
    done += bytesRead;
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One section of a record: where its bytes lie in the file, their length and SHA-256 (hex). */
export interface RecordSection {
  readonly offset: number;
  readonly length: number;
  readonly sha256: string;
}

/** A record's head, checked against its file's length and key, with where each section lies. */
export interface RecordHead {
  readonly contentType: string;
  readonly lastModifiedMs: number;
  readonly storedAt: number;
  readonly compressible: boolean;
  readonly immutability: string;
  readonly originCacheControl: string | undefined;
  /** identity, br, gzip (length 0: absent). */
  readonly sections: readonly [RecordSection, RecordSection, RecordSection];
}

/**
 * Reads and checks a record's head only (the bodies are not read): the magic, the lengths
 * against the file's `bytes`, the key. Throws CorruptRecordError as decodeRecord does.
 */
export async function readRecordHead(file: FileHandle, key: string, bytes: number): Promise<{ head: RecordHead; bytesRead: number }> {
  const first = Buffer.allocUnsafe(Math.min(FIRST_READ_BYTES, bytes));
  const { bytesRead } = await file.read(first, 0, first.length, 0);
  if (bytesRead < PREAMBLE_BYTES || !first.subarray(0, MAGIC.length).equals(MAGIC)) throw new CorruptRecordError('not a record (short, or no magic)');
  const headBytes = first.readUInt32BE(MAGIC.length);
  if (headBytes > MAX_HEAD_BYTES || PREAMBLE_BYTES + headBytes > bytes) throw new CorruptRecordError('head length out of bounds');
  let headBuf = first.subarray(PREAMBLE_BYTES, Math.min(bytesRead, PREAMBLE_BYTES + headBytes));
  let read = bytesRead;
  if (headBuf.length < headBytes) {
    headBuf = Buffer.allocUnsafe(headBytes);
    await readExactly(file, headBuf, PREAMBLE_BYTES);
    read += headBytes;
  }
  let head: Head;
  try {
    head = JSON.parse(headBuf.toString('utf8')) as Head;
  } catch {
    throw new CorruptRecordError('head is not JSON');
  }
  if (head.key !== key) throw new CorruptRecordError('record of another key');
  const table = head.sections;
  if (!Array.isArray(table) || table.length !== 3 || table.some((s) => !Array.isArray(s) || !Number.isSafeInteger(s[0]) || s[0] < 0 || typeof s[1] !== 'string')) {
    throw new CorruptRecordError('bad section table');
  }
  if (PREAMBLE_BYTES + headBytes + table.reduce((n, s) => n + s[0], 0) !== bytes) throw new CorruptRecordError('lengths do not add up to the file');
  let offset = PREAMBLE_BYTES + headBytes;
  const sections = table.map(([length, sha]) => {
    const section = { offset, length, sha256: sha };
    offset += length;
    return section;
  }) as unknown as RecordHead['sections'];
  return {
    head: {
      contentType: head.contentType, lastModifiedMs: head.lastModifiedMs, storedAt: head.storedAt, compressible: head.compressible,
      immutability: head.immutability, originCacheControl: head.originCacheControl, sections,
    },
    bytesRead: read,
  };
}

/** Bytes read at a time when a section is hashed from its file (never the whole object in memory). */
const VERIFY_CHUNK_BYTES = 1024 * 1024;

/**
 * Streams every section of a record through SHA-256, a chunk at a time; throws
 * CorruptRecordError on a mismatch or a file shorter than its head says. Resolves with the bytes read.
 */
export async function verifySections(file: FileHandle, head: RecordHead): Promise<number> {
  const chunk = Buffer.allocUnsafe(VERIFY_CHUNK_BYTES);
  let total = 0;
  for (const section of head.sections) {
    if (section.length === 0) continue;
    const hash = createHash('sha256');
    for (let done = 0; done < section.length; ) {
      const want = Math.min(chunk.length, section.length - done);
      const { bytesRead } = await file.read(chunk, 0, want, section.offset + done);
      if (bytesRead === 0) throw new CorruptRecordError('file shorter than its record');
      hash.update(chunk.subarray(0, bytesRead));
      done += bytesRead;
      total += bytesRead;
    }
    if (hash.digest('hex') !== section.sha256) throw new CorruptRecordError('SHA-256 mismatch');
  }
  return total;
}
