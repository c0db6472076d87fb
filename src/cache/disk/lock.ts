/**
 * One process per disk cache directory: two writers evicting each other's files under their own
 * budgets would each count bytes the other frees or fills. A `lock` file made with O_EXCL holds
 * the owner's pid; a lock whose pid is no longer running (kill -9, a crash) is taken over, as
 * nginx's pid file is. Hand-written: proper-lockfile's mtime-refresh scheme needs a timer per
 * process and cannot tell a live owner from a slow one; a pid check is exact on one machine,
 * and a disk cache directory is local by nature.
 */
import { open, readFile, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskCacheLockedError } from '../../errors.js';

export const LOCK_FILE = 'lock';

export interface DirectoryLock {
  release(): Promise<void>;
}

/** Directories this process holds: its own pid in a lock file does not tell two of its edges apart. */
const held = new Set<string>();

export async function lockDirectory(dir: string, pid = process.pid): Promise<DirectoryLock> {
  const path = join(await realpath(dir), LOCK_FILE);
  if (held.has(path)) throw new DiskCacheLockedError(`--disk-cache ${dir} is in use by another edge of this process (${path}); give each its own directory.`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = await open(path, 'wx');
      await file.writeFile(`${pid}\n`);
      await file.close();
      held.add(path);
      return {
        release: async () => {
          held.delete(path);
          await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== pid && isRunning(owner)) {
      throw new DiskCacheLockedError(`--disk-cache ${dir} is in use by process ${owner} (${path}); give each process its own directory.`);
    }
    // Stale (its process is gone) or unreadable: remove it and try again.
    await unlink(path).catch(() => {});
  }
  throw new DiskCacheLockedError(`--disk-cache ${dir}: could not take ${path}; another process keeps taking it.`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
