/**
 * The disk tier as users run it: real `hashedge serve` processes. kill -9 in the middle of
 * writes leaves nothing that is served wrong, and its stale lock is taken over; a second process
 * on a directory in use is refused; with --workers each worker has its own sub-directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCli, spawnCli, startServe } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

/** The origin and the disk caches side by side. */
let root: TempDir;
let origin: string;
const bodies = new Map<string, Buffer>();

before(async () => {
  root = await tempDir('disk-process');
  origin = root.path('origin');
  for (let i = 0; i < 40; i++) {
    const path = `/assets/blob${i}-0492830483.bin`;
    const body = randomBytes(40_000 + i * 1000);
    bodies.set(path, body);
    await root.write(join('origin', path), body);
  }
});

after(async () => {
  await root?.remove();
});

interface DiskFigures { dir: string; objects: number; budgetBytes: number; queued: number }
interface NodeDiskStats { disk: DiskFigures; workers: Array<{ disk?: DiskFigures }> }

/** `hashedge serve` (one process) on port 0; resolves with its URL once it listens. */
async function serve(args: readonly string[]) {
  const child = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--origin', origin, ...args]);
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /listening on (\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { child, url };
}

test('kill -9 during writes: the next process takes the stale lock, and every 200 is exactly the origin\'s bytes', async () => {
  const dir = root.path('killed');
  const first = await serve(['--disk-cache', dir]);
  // Every key at once, then SIGKILL as soon as the answers are in: writes behind are under way.
  await Promise.all([...bodies.keys()].map((path) => request(`${first.url}${path}`)));
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');

  const second = await serve(['--disk-cache', dir]);
  try {
    for (const [path, body] of bodies) {
      const res = await request(`${second.url}${path}`);
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(body), `${path}: the origin's bytes`);
    }
  } finally {
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');
  }
});

test('a second process on a directory in use is refused at start, naming the holder', async () => {
  const dir = root.path('shared');
  const first = await serve(['--disk-cache', dir]);
  try {
    const refused = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--origin', origin, '--disk-cache', dir]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`E_DISK_CACHE_LOCKED|in use by process ${first.child.pid}`));
  } finally {
    first.child.kill('SIGTERM');
    await once(first.child, 'exit');
  }
});

test('with --workers 2 each worker keeps its own sub-directory, within its share of the budget', async () => {
  const dir = root.path('workers');
  const node = await startServe(['--workers', '2', '--origin', origin, '--disk-cache', dir, '--disk-cache-size', '4MiB']);
  try {
    for (const path of bodies.keys()) assert.equal((await request(`${node.url}${path}`)).status, 200);
    // The node's /_hashedge/stats shows one disk tier: both workers' figures added up.
    let stats: NodeDiskStats;
    do stats = JSON.parse((await request(`${node.url}/_hashedge/stats`)).body.toString()) as NodeDiskStats;
    while (stats.workers.some((w) => w.disk === undefined || w.disk.queued > 0));
    assert.equal(stats.disk.dir, dir);
    assert.equal(stats.disk.budgetBytes, 4 * 1024 * 1024);
    assert.equal(stats.disk.objects, stats.workers.reduce((n, w) => n + w.disk!.objects, 0));
    assert.ok(stats.workers.every((w) => w.disk!.objects > 0), 'each worker wrote some of the keys');
  } finally {
    node.child.kill('SIGTERM');
    await node.exited;
  }
  const subdirs = (await readdir(dir)).sort();
  assert.deepEqual(subdirs, ['worker-0', 'worker-1']);
  for (const sub of subdirs) {
    let bytes = 0;
    for (const fan of (await readdir(join(dir, sub))).filter((n) => /^[0-9a-f]{2}$/.test(n))) {
      for (const name of await readdir(join(dir, sub, fan))) bytes += Number(name.split('.')[1]);
    }
    assert.ok(bytes > 0, `${sub} holds files`);
    assert.ok(bytes <= 2 * 1024 * 1024, `${sub}: ${bytes} bytes within 2 MiB`);
  }
});
