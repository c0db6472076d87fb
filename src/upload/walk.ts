/**
 * The files of a build output directory, in a deterministic order (by path, code unit order),
 * whatever order the file system lists them in: the plan, the progress lines and the manifest
 * come out the same on every run.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';

export interface SourceFile {
  /** Path relative to the walked directory, posix separators: `assets/app.js`. */
  readonly path: string;
  /** Absolute path to read it from. */
  readonly file: string;
}

export interface IgnoredEntry {
  readonly path: string;
  readonly reason: 'symlink-outside' | 'symlink-directory' | 'broken-symlink' | 'not-a-file';
}

export interface WalkResult {
  readonly files: readonly SourceFile[];
  /** Entries left out for a reason the user may want to hear about (dotfiles are not listed). */
  readonly ignored: readonly IgnoredEntry[];
}

export interface WalkOptions {
  /** Absolute paths to leave out (the manifest hashedge writes, when it is inside the directory). */
  readonly exclude?: ReadonlySet<string>;
  /**
   * Paths (relative, posix) walked although a part of them starts with a dot, such as
   * `.vite/manifest.json`: the dot folders on the way are entered for them alone. @default []
   */
  readonly dotPaths?: readonly string[];
}

export async function walk(dir: string, options: WalkOptions = {}): Promise<WalkResult> {
  const root = resolve(dir);
  const realRoot = await realpath(root);
  const exclude = options.exclude ?? new Set<string>();
  const dotPaths = new Set(options.dotPaths ?? []);
  const onDotPath = (rel: string, isDirectory: boolean) => dotPaths.has(rel) || (isDirectory && [...dotPaths].some((p) => p.startsWith(rel + '/')));
  const files: SourceFile[] = [];
  const ignored: IgnoredEntry[] = [];

  const visit = async (relDir: string): Promise<void> => {
    const entries = await readdir(join(root, relDir), { withFileTypes: true });
    for (const entry of entries) {
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      // dotfile: never uploaded (.DS_Store, .git, .well-known, editor swap files; the edge refuses
      // them too), but for dotPaths (.vite/manifest.json, which the edge reads at the origin's root)
      if (rel.split('/').some((part) => part.startsWith('.')) && !onDotPath(rel, entry.isDirectory())) continue;
      const file = join(root, rel);
      if (exclude.has(file)) continue;
      if (entry.isDirectory()) {
        await visit(rel);
      } else if (entry.isFile()) {
        files.push({ path: rel, file });
      } else if (entry.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(file);
        } catch {
          ignored.push({ path: rel, reason: 'broken-symlink' });
          continue;
        }
        // symlink escaping the directory: it would publish a file from outside the build
        if (!real.startsWith(realRoot + sep)) {
          ignored.push({ path: rel, reason: 'symlink-outside' });
          continue;
        }
        const target = await stat(real);
        if (target.isFile()) files.push({ path: rel, file });
        // symlinked directory: not followed (no cycles, no second copy of a subtree)
        else ignored.push({ path: rel, reason: target.isDirectory() ? 'symlink-directory' : 'not-a-file' });
      } else {
        ignored.push({ path: rel, reason: 'not-a-file' });
      }
    }
  };
  await visit('');
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return { files: files.sort(byPath), ignored: ignored.sort(byPath) };
}
