/**
 * The disk tier under the memory cache: what the node filled (and what memory evicts unwritten)
 * is written behind, off the request path, one file per object (record.ts); a key memory lacks
 * is read back whole, every section's SHA-256 checked, and promoted to memory by the group;
 * a file of STREAM_FROM_BYTES or more is served from the file instead (openFile, FileObject),
 * verified by streaming it through SHA-256 on its first read in this process.
 * After nginx's proxy_cache: files written under a temporary name and renamed (a crash never
 * leaves a file that looks complete), the index rebuilt from the directory at start, a budget
 * held by evicting (SIEVE here, sieve.ts, where nginx's cache manager uses LRU).
 *
 * Faults keep the node serving: a write that fails with ENOSPC, EROFS or any other error pauses
 * writing for `retryAfterMs` (state `full`, `read-only`, `failing`; logged once per change, and
 * counted), and a read that fails or does not verify is a miss (a corrupt file is deleted).
 * No fsync: a file lost or garbled by a machine crash is caught by the SHA-256 check on read.
 */
import { closeSync, open as openFd, read as readFd } from 'node:fs';
import { mkdir, open, readdir, rename, rm, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../../log.js';
import type { Blob } from '../blob.js';
import { lockDirectory, type DirectoryLock } from './lock.js';
import { FileObject, type FilePart } from './file-object.js';
import { CorruptRecordError, decodeRecord, MAX_HEAD_BYTES, PREAMBLE_BYTES, encodeRecord, hashKey, parseRecordName, readRecordHead, readRecordKey, recordName, verifySections } from './record.js';
import { Sieve } from './sieve.js';

/**
 * Files written at once. One kept up with fills only on an idle machine (bench disk workload:
 * 393 of 2,000 fills skipped with a full queue under load); more would take libuv's four
 * threads from disk reads and the disk origin.
 */
const WRITERS = 2;
/** Where files are written before their rename (cleared at start: a crash's leftovers). */
const TEMP_DIR = 'tmp';
/**
 * Files of at least this many bytes are served from the file (FileObject), never read whole:
 * a 200 MB video read into memory per hit (or per Range) costs a whole read and its memory,
 * and promoting it would evict hundreds of small objects. Below it an object is read whole,
 * verified and promoted to memory (one read of a few hundred KiB; memory is where it belongs).
 */
export const STREAM_FROM_BYTES = 1024 * 1024;
/**
 * Bytes read at a time when a file is streamed to a client (fresh buffers: the socket keeps
 * them). Each chunk costs a thread-pool round trip, an ArrayBuffer and a socket write: an 8 MB
 * file took 16-18 ms of CPU per request read 64 KiB at a time and 8-10 ms at 512 KiB (load ~7,
 * back to back); a client holds at most about two chunks (this one and the stream's buffer).
 */
const STREAM_CHUNK_BYTES = 512 * 1024;
/**
 * What a file is charged when the file system's block size cannot be read (or looks wrong):
 * 4 KiB, the block of ext4, XFS and tmpfs.
 */
const DEFAULT_BLOCK_BYTES = 4096;
/** 256 sub-directories by the key hash's first two hex digits (a 100,000-object directory lists slowly). */
const FANOUT = /^[0-9a-f]{2}$/;

export type DiskState = 'ok' | 'full' | 'read-only' | 'failing';

/** Writes one file from buffers; injectable so tests can fail it (ENOSPC) where no small file system can be mounted. */
export type WriteFile = (path: string, chunks: readonly Buffer[]) => Promise<void>;

export interface DiskTierOptions {
  /** The directory (made if missing), used by this process alone (lock file). */
  readonly dir: string;
  /**
   * Bytes of files the directory may hold, each file counted as the file system charges it:
   * its length rounded up to whole blocks (the block size read once at open). Older objects
   * are evicted beyond it.
   */
  readonly budgetBytes: number;
  /**
   * Bytes of an object's identity body at most (--max-object-size): a file named larger than
   * three such bodies and a head is not one of ours, and is never read (its name sets the read).
   */
  readonly maxObjectBytes: number;
  /** Bytes of objects waiting to be written at most; a fill beyond it is not written (counted). @default 64 MiB */
  readonly queueBytes?: number;
  /** ms writing pauses after a failed write (disk full, read-only) before trying again. @default 30_000 */
  readonly retryAfterMs?: number;
  readonly log: Logger;
  /** @default fs open + writev + close */
  readonly writeFile?: WriteFile;
  /** ms since epoch. @default Date.now */
  readonly clock?: () => number;
}

export interface DiskCounters {
  /** Keys memory lacked that were answered from disk: read whole (promoted or not) or served from the file. */
  hits: number;
  /** Objects written (renamed into place). */
  writes: number;
  /** Fills not written: the queue was full, or writing was paused after a failure. */
  writesSkipped: number;
  /** Writes that failed (disk full, read-only, I/O). */
  writeErrors: number;
  /** Files removed to hold the budget. */
  evictions: number;
  /** Files that did not verify (short, garbled, SHA-256 mismatch): deleted, read as a miss. */
  verifyFailures: number;
  /** Reads that failed with an I/O error (the file gone included): read as a miss, or the response cut mid-stream. */
  readErrors: number;
  /** Bytes read from files: whole reads, verification and streamed spans (a Range reads only its bytes). */
  bytesRead: number;
}

export interface DiskStatus extends DiskCounters {
  readonly dir: string;
  readonly state: DiskState;
  /** Bytes the files take on the file system: each file's length rounded up to whole blocks. */
  readonly bytes: number;
  readonly objects: number;
  readonly budgetBytes: number;
  /** Objects and bytes waiting to be written. */
  readonly queued: number;
  readonly queuedBytes: number;
}

interface InWrite {
  /** Encoded variants the file being written holds: a blob with no more need not follow it. */
  readonly variants: number;
  purged: boolean;
  /** Settles when the write is over: renamed and indexed, or undone (a purge's file unlinked). */
  done?: Promise<void>;
}

interface Entry {
  /** The file's length (it is in the name too); the index counts it rounded up to whole blocks. */
  readonly bytes: number;
  /** Known once written or read in this process; a prefix purge reads the head otherwise. */
  readonly key: string | undefined;
  /** Encoded variants in the file, when known: a blob with more is written again. */
  readonly variants: number;
  /** Every section's SHA-256 checked in this process (a whole read or a streamed verification). */
  readonly verified: boolean;
}

export class DiskTier {
  readonly dir: string;
  readonly budgetBytes: number;
  readonly stats: DiskCounters = { hits: 0, writes: 0, writesSkipped: 0, writeErrors: 0, evictions: 0, verifyFailures: 0, readErrors: 0, bytesRead: 0 };
  readonly #index = new Sieve<Entry>();
  readonly #queue = new Map<string, Blob>();
  #queuedBytes = 0;
  readonly #queueLimit: number;
  readonly #maxRecordBytes: number;
  readonly #retryAfterMs: number;
  readonly #log: Logger;
  readonly #writeFile: WriteFile;
  readonly #clock: () => number;
  readonly #lock: DirectoryLock;
  readonly #madeDirs = new Set<string>();
  #state: DiskState = 'ok';
  #pausedUntil = 0;
  /** Writers draining the queue now (at most WRITERS). */
  readonly #writers = new Set<Promise<void>>();
  #closed = false;
  #tempSeq = 0;
  /** Keys being written now, each with its variants and whether a purge named it meanwhile. */
  readonly #inWrite = new Map<string, InWrite>();
  /** Bytes room was made for by writes not yet indexed. */
  #reserved = 0;
  /**
   * Unlinks under way (evictions, purges, replaced files) by path: flushed(), and so close(),
   * waits for them, so a file purged is gone before the next process on the directory lists it;
   * a write renames into a path only after its pending unlink is done (#store).
   */
  readonly #unlinks = new Map<string, Promise<void>>();
  /** The file system's block: a file takes its length rounded up to a multiple of it. */
  readonly #blockBytes: number;
  /** The key #hash() hashed last, and its hash (one lookup asks about the same key in turn). */
  #hashedKey: string | undefined;
  #keyHash = '';

  private constructor(options: DiskTierOptions, lock: DirectoryLock, blockBytes: number) {
    this.dir = options.dir;
    this.budgetBytes = options.budgetBytes;
    this.#queueLimit = options.queueBytes ?? 64 * 1024 * 1024;
    this.#maxRecordBytes = 3 * options.maxObjectBytes + PREAMBLE_BYTES + MAX_HEAD_BYTES;
    this.#retryAfterMs = options.retryAfterMs ?? 30_000;
    this.#log = options.log;
    this.#writeFile = options.writeFile ?? writeChunks;
    this.#clock = options.clock ?? Date.now;
    this.#lock = lock;
    this.#blockBytes = blockBytes;
  }

  /**
   * Takes the directory (refused with E_DISK_CACHE_LOCKED while another process holds it),
   * clears a crash's temporary files, and rebuilds the index from file names alone.
   */
  static async open(options: DiskTierOptions): Promise<DiskTier> {
    await mkdir(options.dir, { recursive: true });
    const lock = await lockDirectory(options.dir);
    try {
      const tier = new DiskTier(options, lock, await blockSize(options.dir));
      await rm(join(options.dir, TEMP_DIR), { recursive: true, force: true });
      await mkdir(join(options.dir, TEMP_DIR));
      await tier.#rebuild();
      return tier;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  async #rebuild(): Promise<void> {
    const started = performance.now();
    const subdirs = (await readdir(this.dir)).filter((name) => FANOUT.test(name));
    const listings = await Promise.all(subdirs.map(async (sub) => ({ sub, names: await readdir(join(this.dir, sub)).catch(() => [] as string[]) })));
    for (const { sub, names } of listings) {
      this.#madeDirs.add(sub);
      for (const name of names) {
        const record = parseRecordName(name);
        // Someone else's file, or one in the wrong sub-directory: not ours to serve or delete.
        if (record === undefined || !record.keyHash.startsWith(sub)) continue;
        if (record.bytes > this.#maxRecordBytes) {
          // Kept under a larger --max-object-size than today's (or not ours): never read, so not kept.
          void this.#remove(join(this.dir, sub, name));
          continue;
        }
        if (this.#index.has(record.keyHash)) {
          // Two lengths for one key (a crash between a rewrite's rename and the old file's unlink).
          void this.#remove(join(this.dir, sub, name));
          continue;
        }
        this.#index.set(record.keyHash, { bytes: record.bytes, key: undefined, variants: 0, verified: false }, this.#allocated(record.bytes));
      }
    }
    this.#evictToFit(0);
    this.#log.info({ event: 'disk_cache_indexed', dir: this.dir, objects: this.#index.size, bytes: this.#index.bytes, blockBytes: this.#blockBytes, ms: Math.round(performance.now() - started) });
  }

  /**
   * SHA-256 of key, hex: the last key's remembered, as one lookup asks has(), servesFromFile(),
   * read() and write() about the same key in turn (each hash a createHash object and a digest).
   */
  #hash(key: string): string {
    if (key !== this.#hashedKey) {
      this.#hashedKey = key;
      this.#keyHash = hashKey(key);
    }
    return this.#keyHash;
  }

  /** Whether the index lists key (its file may still turn out missing or corrupt). */
  has(key: string): boolean {
    return this.#index.has(this.#hash(key));
  }

  /**
   * The key's object, read whole: one open, one read of the file's length (from its name), one
   * close, through fs callbacks rather than a FileHandle (its object, promises and close
   * bookkeeping were a visible share of a small disk hit's CPU). Every section's SHA-256 is
   * checked when `verify` (a promotion to memory) and on the file's first read in this process;
   * a later read that is not promoted is served unhashed, as a large file is after its first
   * read. undefined when the index lacks it, or the file is gone, unreadable, short or corrupt
   * (then deleted): a miss.
   */
  async read(key: string, verify: boolean): Promise<Blob | undefined> {
    const keyHash = this.#hash(key);
    const entry = this.#index.get(keyHash);
    if (entry === undefined) return undefined;
    const path = this.#pathOf(keyHash, entry.bytes);
    try {
      const blob = decodeRecord(await readWhole(path, entry.bytes), key, verify || !entry.verified);
      this.stats.bytesRead += entry.bytes;
      this.stats.hits++;
      // What the read taught the index (key, variants, verified): once, not an entry per hit.
      if (!entry.verified && this.#index.peek(keyHash) === entry) this.#index.set(keyHash, { bytes: entry.bytes, key, variants: variantCount(blob), verified: true }, this.#allocated(entry.bytes));
      return blob;
    } catch (err) {
      this.#readFailed(keyHash, entry, key, path, err);
      return undefined;
    }
  }

  /** The length of key's file (its object, variants and head), if the index lists it. */
  fileBytes(key: string): number | undefined {
    return this.#index.peek(this.#hash(key))?.bytes;
  }

  /** Whether key's file is large enough to be served from the file (openFile) rather than read whole. */
  servesFromFile(key: string): boolean {
    const entry = this.#index.peek(this.#hash(key));
    return entry !== undefined && entry.bytes >= STREAM_FROM_BYTES;
  }

  /**
   * The key's object to be served from its file: its head read and checked, and on the file's
   * first read in this process every section streamed through SHA-256 (a chunk at a time)
   * before a byte is served. undefined, as for read(): a miss (a corrupt file deleted, counted).
   */
  async openFile(key: string): Promise<FileObject | undefined> {
    return this.#readChecked(key, async (file, entry, path) => {
      const { head, bytesRead } = await readRecordHead(file, key, entry.bytes);
      this.stats.bytesRead += bytesRead;
      if (!entry.verified) this.stats.bytesRead += await verifySections(file, head);
      const variants = (head.sections[1].length > 0 ? 1 : 0) + (head.sections[2].length > 0 ? 1 : 0);
      return { value: new FileObject(key, head, (parts) => this.#readParts(key, path, parts)), variants };
    });
  }

  /**
   * What openFile() does with the file: key's file opened, `check` run on it (it throws on a
   * short, corrupt or unreadable file: then deleted and counted, and undefined, a miss), the hit
   * counted, the entry marked verified with its key (for purges) and variants (for rewrites)
   * now known, and the file closed.
   */
  async #readChecked<T>(key: string, check: (file: FileHandle, entry: Entry, path: string) => Promise<{ value: T; variants: number }>): Promise<T | undefined> {
    const keyHash = this.#hash(key);
    const entry = this.#index.get(keyHash);
    if (entry === undefined) return undefined;
    const path = this.#pathOf(keyHash, entry.bytes);
    let file: FileHandle | undefined;
    try {
      file = await open(path, 'r');
      const { value, variants } = await check(file, entry, path);
      this.stats.hits++;
      if (this.#index.peek(keyHash) === entry) this.#index.set(keyHash, { bytes: entry.bytes, key, variants, verified: true }, this.#allocated(entry.bytes));
      return value;
    } catch (err) {
      this.#readFailed(keyHash, entry, key, path, err);
      return undefined;
    } finally {
      await file?.close().catch(() => {});
    }
  }

  /**
   * A body of file spans and literal bytes as one stream, pulled as the client takes it
   * (backpressure): a span is read STREAM_CHUNK_BYTES (512 KiB) at a time, literal bytes (a multipart body's part
   * heads) pass as they are. The file is opened when the first chunk is wanted and held open to
   * the end, so a file evicted or purged meanwhile still completes (POSIX: an unlinked file
   * lives while open). An I/O error or a file shorter than a span fails the stream (the writer
   * cuts the response: never wrong bytes) and is counted.
   */
  #readParts(key: string, path: string, parts: readonly FilePart[]): Readable {
    const stats = this.stats;
    const log = this.#log;
    async function* chunks(): AsyncGenerator<Buffer> {
      let file;
      // False while a chunk is handed over: an error thrown there is the consumer going away
      // (pipeline destroys this stream with it), not a read error.
      let reading = true;
      try {
        file = await open(path, 'r');
        for (const part of parts) {
          if (Buffer.isBuffer(part)) {
            reading = false;
            yield part;
            reading = true;
            continue;
          }
          const { start, end } = part;
          for (let position = start; position <= end; ) {
            const chunk = Buffer.allocUnsafe(Math.min(STREAM_CHUNK_BYTES, end - position + 1));
            const { bytesRead } = await file.read(chunk, 0, chunk.length, position);
            if (bytesRead === 0) throw Object.assign(new Error(`${path} ended at ${position}, before ${end + 1}`), { code: 'E_DISK_SHORT_READ' });
            stats.bytesRead += bytesRead;
            position += bytesRead;
            reading = false;
            yield bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
            reading = true;
          }
        }
      } catch (err) {
        if (reading) {
          stats.readErrors++;
          log.warn({ event: 'disk_stream_failed', key, path, code: (err as NodeJS.ErrnoException).code });
        }
        throw err;
      } finally {
        await file?.close().catch(() => {});
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: STREAM_CHUNK_BYTES });
  }

  /** A read that failed: the key forgotten; a corrupt file deleted and counted, an I/O error counted. */
  #readFailed(keyHash: string, entry: Entry, key: string, path: string, err: unknown): void {
    if (this.#index.peek(keyHash) === entry) this.#index.delete(keyHash);
    if (err instanceof CorruptRecordError) {
      this.stats.verifyFailures++;
      this.#log.warn({ event: 'disk_corrupt', key, path, reason: err.message });
      void this.#remove(path);
    } else {
      this.stats.readErrors++;
      this.#log.warn({ event: 'disk_read_failed', key, path, code: (err as NodeJS.ErrnoException).code });
    }
  }

  /**
   * Queues blob to be written, unless the file holds it already (with as many variants), or
   * the queue is full, or writing is paused after a failure. Never waits for the disk.
   */
  write(blob: Blob): void {
    if (this.#closed || blob.expiresAt !== 0) return;
    const keyHash = this.#hash(blob.key);
    const entry = this.#index.peek(keyHash);
    if (entry !== undefined && (entry.key === undefined || entry.variants >= variantCount(blob))) return;
    // Being written with as many variants (filled, then evicted from memory while written).
    const writing = this.#inWrite.get(blob.key);
    if (writing !== undefined && !writing.purged && writing.variants >= variantCount(blob)) return;
    const queued = this.#queue.get(blob.key);
    if (queued !== undefined) {
      this.#queuedBytes += blob.byteSize - queued.byteSize;
      this.#queue.set(blob.key, blob);
      return;
    }
    if (this.#pausedUntil > this.#clock() || this.#queuedBytes + blob.byteSize > this.#queueLimit) {
      this.stats.writesSkipped++;
      return;
    }
    this.#queue.set(blob.key, blob);
    this.#queuedBytes += blob.byteSize;
    if (this.#writers.size < WRITERS) {
      const writer: Promise<void> = this.#drain().finally(() => this.#writers.delete(writer));
      this.#writers.add(writer);
    }
  }

  /** Resolves once every queued write is done (or skipped) and every file removed is gone. Tests and close() wait on it. */
  async flushed(): Promise<void> {
    while (this.#writers.size > 0 || this.#unlinks.size > 0) await Promise.all([...this.#writers, ...this.#unlinks.values()]);
  }

  /**
   * Forgets key: its queued write and its file, at once (a read or write after this does not
   * bring it back). `held`: whether the disk held it. `gone`: undefined when there was no file
   * to remove, else settles once no file of the key is left: its unlink done, and a write of it
   * under way finished and undone (as nginx's purge and Varnish's ban are done when they answer).
   */
  purge(key: string): { held: boolean; gone: Promise<unknown> | undefined } {
    const writing = this.#inWrite.get(key);
    if (writing !== undefined) writing.purged = true;
    const queued = this.#queue.get(key);
    if (queued !== undefined) {
      this.#queue.delete(key);
      this.#queuedBytes -= queued.byteSize;
    }
    const keyHash = hashKey(key);
    const entry = this.#index.peek(keyHash);
    let unlinked: Promise<void> | undefined;
    if (entry !== undefined) {
      this.#index.delete(keyHash);
      unlinked = this.#remove(this.#pathOf(keyHash, entry.bytes));
    }
    const written = writing?.done;
    return { held: entry !== undefined, gone: written === undefined ? unlinked : unlinked === undefined ? written : Promise.all([unlinked, written]) };
  }

  /**
   * Forgets every key starting with prefix: queued, being written, or in a file. Files indexed at
   * start whose key is not known yet have their head read (rare: purges are; the directory may
   * be large). Resolves, once the files are gone, with the keys it held (queued or on disk).
   */
  async purgePrefix(prefix: string): Promise<Set<string>> {
    const removed = new Set<string>();
    for (const key of [...this.#queue.keys()]) {
      if (!key.startsWith(prefix)) continue;
      this.purge(key);
      removed.add(key);
    }
    const unlinks: Promise<unknown>[] = [];
    for (const [key, writing] of this.#inWrite) {
      if (!key.startsWith(prefix)) continue;
      writing.purged = true;
      if (writing.done !== undefined) unlinks.push(writing.done);
      removed.add(key);
    }
    for (const [keyHash, entry] of [...this.#index.entries()]) {
      let key = entry.key;
      if (key === undefined) {
        const file = await open(this.#pathOf(keyHash, entry.bytes), 'r').catch(() => undefined);
        key = file === undefined ? undefined : await readRecordKey(file).catch(() => undefined);
        await file?.close().catch(() => {});
      }
      if (key !== undefined && key.startsWith(prefix) && this.#index.peek(keyHash) !== undefined) {
        this.#index.delete(keyHash);
        unlinks.push(this.#remove(this.#pathOf(keyHash, entry.bytes)));
        removed.add(key);
      }
    }
    await Promise.all(unlinks);
    return removed;
  }

  status(): DiskStatus {
    return {
      dir: this.dir, state: this.#state, bytes: this.#index.bytes, objects: this.#index.size, budgetBytes: this.budgetBytes,
      queued: this.#queue.size, queuedBytes: this.#queuedBytes, ...this.stats,
    };
  }

  get state(): DiskState {
    return this.#state;
  }

  /** Writes what is queued, then gives the directory up (its lock file removed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flushed();
    this.#closed = true;
    await this.#lock.release();
  }

  async #drain(): Promise<void> {
    // Live iteration: blobs queued meanwhile are reached too; another writer's key waits its turn
    // (a rewrite with its variants), so no two writes of a key overlap.
    for (const [key, blob] of this.#queue) {
      if (this.#inWrite.has(key)) continue;
      this.#queue.delete(key);
      this.#queuedBytes -= blob.byteSize;
      const writing: InWrite = { variants: variantCount(blob), purged: false };
      this.#inWrite.set(key, writing);
      try {
        // #store runs to its first await here, before a purge can look: done is set in time.
        writing.done = this.#store(blob, writing);
        await writing.done;
      } finally {
        this.#inWrite.delete(key);
      }
    }
  }

  /**
   * One blob to its file: room made and reserved, a temporary file written and renamed into
   * place, then indexed. A rewrite (the blob with its variants now) reserves its whole file too,
   * not the difference: the entry it replaces may be evicted while it is written, and both files
   * are on disk until the old one's unlink anyway.
   */
  async #store(blob: Blob, writing: InWrite): Promise<void> {
    if (this.#pausedUntil > this.#clock()) {
      this.stats.writesSkipped++;
      return;
    }
    const { chunks, bytes } = encodeRecord(blob);
    const allocated = this.#allocated(bytes);
    if (allocated > this.budgetBytes) return; // larger than the whole budget: memory only
    const keyHash = hashKey(blob.key);
    const path = this.#pathOf(keyHash, bytes);
    const sub = keyHash.slice(0, 2);
    const temp = join(this.dir, TEMP_DIR, `${keyHash}.${process.pid}.${this.#tempSeq++}`);
    // A write that began before another failed proves nothing about the disk now (two writers).
    const errorsBefore = this.stats.writeErrors;
    this.#evictToFit(allocated);
    // Held for this write until it is indexed, so concurrent writers' room adds up.
    this.#reserved += allocated;
    try {
      if (!this.#madeDirs.has(sub)) {
        await mkdir(join(this.dir, sub), { recursive: true });
        this.#madeDirs.add(sub);
      }
      await this.#writeFile(temp, chunks);
      // The key's earlier file of this length, evicted or purged meanwhile, may still be being
      // unlinked: renamed before that unlink ran, the new file would be the one removed.
      for (let pending = this.#unlinks.get(path); pending !== undefined; pending = this.#unlinks.get(path)) await pending;
      await rename(temp, path);
    } catch (err) {
      this.#writeFailed(err as NodeJS.ErrnoException);
      await this.#remove(temp); // a purge waiting on this write finds no file left
      return;
    } finally {
      this.#reserved -= allocated;
    }
    // Purged while it was written: the file must not outlive the purge (which waits for this).
    if (writing.purged) {
      await this.#remove(path);
      return;
    }
    // The key's earlier file of this length evicted during the rename: its unlink may have taken
    // the new file, so it is not indexed (and removed, not left unaccounted). Memory still has it.
    if (this.#unlinks.has(path)) {
      this.stats.writesSkipped++;
      void this.#remove(path);
      return;
    }
    const replaced = this.#index.peek(keyHash);
    if (replaced !== undefined) {
      // Its room goes with it, and its file when the length (in the name) differs.
      this.#index.delete(keyHash);
      if (replaced.bytes !== bytes) void this.#remove(this.#pathOf(keyHash, replaced.bytes));
    }
    // The reservation made this room, unless the index was emptied while other writes held
    // theirs (objects near the budget): then the last of them to be indexed evicts down to it.
    this.#evictToFit(allocated);
    // Not verified: what reached the disk is checked on its first read, as after a restart.
    this.#index.set(keyHash, { bytes, key: blob.key, variants: variantCount(blob), verified: false }, allocated);
    this.stats.writes++;
    if (this.#state !== 'ok' && errorsBefore === this.stats.writeErrors) {
      this.#log.info({ event: 'disk_write_recovered', dir: this.dir, was: this.#state });
      this.#state = 'ok';
    }
  }

  #writeFailed(err: NodeJS.ErrnoException): void {
    this.stats.writeErrors++;
    const state: DiskState = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'full' : err.code === 'EROFS' || err.code === 'EACCES' || err.code === 'EPERM' ? 'read-only' : 'failing';
    this.#pausedUntil = this.#clock() + this.#retryAfterMs;
    // What waits would fail alike: dropped, counted (memory still serves it).
    this.stats.writesSkipped += this.#queue.size;
    this.#queue.clear();
    this.#queuedBytes = 0;
    if (state !== this.#state) {
      this.#log.warn({ event: 'disk_write_failed', dir: this.dir, state, code: err.code, retryInMs: this.#retryAfterMs, err: err.message });
      this.#state = state;
    }
  }

  /** Evicts until `incoming` more bytes fit the budget. */
  #evictToFit(incoming: number): void {
    while (this.#index.size > 0 && this.#index.bytes + this.#reserved + incoming > this.budgetBytes) {
      const victim = this.#index.evict()!;
      this.stats.evictions++;
      void this.#remove(this.#pathOf(victim.id, victim.value.bytes));
    }
  }

  /** Bytes a file of `bytes` takes: its length rounded up to whole blocks (as nginx's proxy_cache counts). */
  #allocated(bytes: number): number {
    return Math.ceil(bytes / this.#blockBytes) * this.#blockBytes;
  }

  /**
   * Unlinks a file in the background, tracked by path (see #unlinks); a file already gone is no
   * error. A second unlink of a path runs after the first.
   */
  #remove(path: string): Promise<void> {
    const before = this.#unlinks.get(path);
    const done: Promise<void> = (before === undefined ? unlink(path) : before.then(() => unlink(path)))
      .catch(() => {})
      .finally(() => {
        if (this.#unlinks.get(path) === done) this.#unlinks.delete(path);
      });
    this.#unlinks.set(path, done);
    return done;
  }

  #pathOf(keyHash: string, bytes: number): string {
    return join(this.dir, keyHash.slice(0, 2), recordName(keyHash, bytes));
  }
}

/**
 * The block size of dir's file system (statfs f_bsize, as nginx reads it for proxy_cache), or
 * DEFAULT_BLOCK_BYTES when it cannot be read or is not a power of two between 512 B and 64 KiB.
 */
async function blockSize(dir: string): Promise<number> {
  const bsize = await statfs(dir).then((s) => s.bsize, () => undefined);
  return bsize !== undefined && bsize >= 512 && bsize <= 65536 && (bsize & (bsize - 1)) === 0 ? bsize : DEFAULT_BLOCK_BYTES;
}

function variantCount(blob: Blob): number {
  return (blob.br !== undefined ? 1 : 0) + (blob.gzip !== undefined ? 1 : 0);
}

/**
 * The whole file at path, `bytes` long: open, one read (more only if the kernel returns less),
 * close. A file shorter than its name says is corrupt. Hand-written on fs callbacks for the
 * small disk hit's sake (bench/disk-hit-cpu.ts): open and read go to libuv's pool (either may
 * wait for the disk), but close is called here, synchronously: closing a file opened read-only
 * writes nothing back and does not wait for the device, and a trip to the pool (a futex wake-up
 * each way and an epoll wake-up) cost more than the system call itself.
 */
function readWhole(path: string, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    openFd(path, 'r', (err, fd) => {
      if (err) return reject(err);
      const whole = Buffer.allocUnsafeSlow(bytes);
      const done = (error: unknown) => {
        try {
          closeSync(fd);
        } catch {
          // EIO on close of a read-only descriptor: nothing was lost, the bytes are read.
        }
        if (error === undefined) resolve(whole);
        else reject(error);
      };
      const readFrom = (offset: number): void => {
        readFd(fd, whole, offset, bytes - offset, offset, (error, n) => {
          if (error) return done(error);
          if (offset + n === bytes) return done(undefined);
          if (n === 0) return done(new CorruptRecordError('file shorter than its record'));
          readFrom(offset + n);
        });
      };
      if (bytes === 0) done(new CorruptRecordError('not a record (empty)'));
      else readFrom(0);
    });
  });
}

async function writeChunks(path: string, chunks: readonly Buffer[]): Promise<void> {
  const file = await open(path, 'wx');
  try {
    const expected = chunks.reduce((n, c) => n + c.length, 0);
    const { bytesWritten } = await file.writev(chunks as Buffer[]);
    // A short write without an error is a full disk (write(2) returns what fit).
    if (bytesWritten !== expected) throw Object.assign(new Error(`wrote ${bytesWritten} of ${expected} bytes`), { code: 'ENOSPC' });
  } finally {
    await file.close();
  }
}
