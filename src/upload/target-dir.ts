/**
 * A directory as the upload target (the edge's disk origin, or a staging area). A file is
 * written to a temporary dotfile next to its destination, flushed, then renamed over it, so a
 * reader (the edge) sees the old file or the whole new one, never a part. A destination that
 * already holds the same bytes (size, then SHA-256) is skipped.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EdgeError } from '../errors.js';
import { digestFile } from './digest.js';
import type { UploadItem, UploadTarget } from './target.js';

export class DirectoryTarget implements UploadTarget {
  readonly description: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
    this.description = this.#root;
  }

  #path(key: string): string {
    const path = resolve(this.#root, key);
    // malicious path: a key that would leave the directory (keys come from file names, so never)
    if (!path.startsWith(this.#root + sep)) throw new EdgeError('E_UPLOAD', 0, `${key} would be written outside ${this.#root}.`);
    return path;
  }

  /** A directory stores no Cache-Control (the edge's disk origin decides it): the bytes alone count. */
  async has(item: Pick<UploadItem, 'key' | 'size' | 'sha256' | 'cacheControl'>): Promise<boolean> {
    const path = this.#path(item.key);
    try {
      const st = await stat(path);
      if (!st.isFile() || st.size !== item.size) return false;
      return (await digestFile(path)).sha256 === item.sha256;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      throw err;
    }
  }

  async put(item: UploadItem): Promise<void> {
    const path = this.#path(item.key);
    await mkdir(dirname(path), { recursive: true });
    // A dotfile: the edge never serves it, even if a crash leaves it behind.
    const temp = join(dirname(path), `.hashedge-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await pipeline(item.open(), createWriteStream(temp, { flags: 'wx', flush: true }));
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** A directory is created as files land in it; what cannot be written fails per file. */
  async check(): Promise<void> {}

  async close(): Promise<void> {}
}
