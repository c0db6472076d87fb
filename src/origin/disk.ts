/**
 * A directory as the origin. Keys arrive already validated by asset/key.ts; the checks here are
 * a second, independent line: the resolved path, symlinks followed, must stay under the root.
 */
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { OriginError } from '../errors.js';
import type { Origin, OriginGetOptions, OriginObject } from './origin.js';

const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);
/** Objects up to this size are read in one read (the cache's BUFFER_WHOLE_BYTES: it keeps them whole). */
const WHOLE_READ_MAX_BYTES = 1024 * 1024;
/** Chunks of larger objects, which are streamed to clients as they are read. */
const STREAM_CHUNK_BYTES = 64 * 1024;

export class DiskOrigin implements Origin {
  readonly description: string;
  readonly #root: string;

  private constructor(root: string) {
    this.#root = root;
    this.description = `disk:${root}`;
  }

  /** Resolves the root once (symlinks included) so containment checks compare real paths. */
  static async open(root: string): Promise<DiskOrigin> {
    let real: string;
    try {
      real = await realpath(root);
    } catch (err) {
      throw new OriginError('E_ORIGIN', `Origin directory ${root} cannot be opened: ${(err as Error).message}`, err);
    }
    return new DiskOrigin(real);
  }

  async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const path = join(this.#root, key);
    let handle: FileHandle | undefined;
    try {
      // malicious path: outside the root after resolving symlinks
      const real = await realpath(path);
      if (!real.startsWith(this.#root + sep)) return null;
      handle = await open(real, 'r');
      const stat = await handle.stat();
      if (!stat.isFile()) {
        await handle.close();
        return null;
      }
      options.signal.throwIfAborted();
      if (stat.size === 0) {
        await handle.close();
        return { body: Readable.from([]), size: 0, contentType: undefined, lastModified: stat.mtime };
      }
      const { range } = options;
      const start = range?.start ?? 0;
      const end = range?.end ?? stat.size - 1;
      const length = end - start + 1;
      const body = handle.createReadStream({
        start,
        end,
        // An object the cache buffers whole is read in one exact-sized read: one allocation that
        // becomes the cached body, instead of 64 KiB chunks copied together and left as garbage.
        highWaterMark: length <= WHOLE_READ_MAX_BYTES ? length : STREAM_CHUNK_BYTES,
        autoClose: true,
        signal: options.signal,
      });
      return { body, size: stat.size, contentType: undefined, lastModified: stat.mtime };
    } catch (err) {
      await handle?.close().catch(() => {});
      if (NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return null;
      if (options.signal.aborted) throw options.signal.reason;
      throw new OriginError('E_ORIGIN', 'The origin directory could not be read.', err);
    }
  }

  async close(): Promise<void> {}
}
