/**
 * Temporary directories of files for tests: a disk origin an edge serves (--origin), a build
 * `hashedge upload` reads, or a scratch root for disk caches and config files. Each lives under
 * the OS temp directory with a name that says which test made it, and is gone after remove().
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A file's bytes: text is written as UTF-8. */
export type FileBody = string | Buffer;

/**
 * Files by path relative to the directory (`assets/app-0492830483.js`); a URL path
 * (`/assets/app-0492830483.js`) names the same file. Written in the order given.
 */
export type Files = Readonly<Record<string, FileBody>> | Iterable<readonly [string, FileBody]>;

export interface TempDir {
  /** The directory's absolute path. */
  readonly dir: string;
  /** The absolute path of `name` (relative, or a URL path) inside the directory. */
  path(name: string): string;
  /** Writes `name`, making the directories above it: a file added or changed under a running test. */
  write(name: string, body: FileBody): Promise<void>;
  /** Removes the directory and everything in it; safe to call when it is already gone. */
  remove(): Promise<void>;
}

/** Writes `files` under `dir`, making the directories they need. */
export async function writeFiles(dir: string, files: Files): Promise<void> {
  const entries = Symbol.iterator in files ? (files as Iterable<readonly [string, FileBody]>) : Object.entries(files);
  for (const [file, body] of entries) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), body);
  }
}

/** A new directory named `hashedge-<name>-XXXXXX`, holding `files`. */
export async function tempDir(name: string, files: Files = {}): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), `hashedge-${name}-`));
  await writeFiles(dir, files);
  return {
    dir,
    path: (file) => join(dir, file),
    write: (file, body) => writeFiles(dir, [[file, body]]),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A disk origin holding `files`, for an edge's --origin (its `dir`). */
export function diskOrigin(files: Files, name = 'origin'): Promise<TempDir> {
  return tempDir(name, files);
}
