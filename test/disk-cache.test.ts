/**
 * The disk tier (--disk-cache) with real files in a temporary directory, through real sockets:
 * a restart keeps objects (the origin is not asked again), a disk hit answers as a memory hit
 * does, corrupt or short files are never served, the budget holds under churn, a directory is
 * one process's, and a disk that refuses writes leaves the node serving from memory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { resolveConfig, type RawOptions } from '../src/config.js';
import { startEdge, type Edge, type EdgeDependencies } from '../src/edge.js';
import { hashKey } from '../src/cache/disk/record.js';
import { TestOrigin } from './helpers/origins.js';
import { request } from './helpers/http.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

const execFileAsync = promisify(execFile);
let root: TempDir;
before(async () => {
  root = await tempDir('disk-cache');
});
after(async () => {
  await root?.remove();
});

let dirs = 0;
const freshDir = () => root.path(`cache-${dirs++}`);

function start(dir: string, origin: TestOrigin, flags: RawOptions = {}, deps: EdgeDependencies = {}): Promise<Edge> {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', 'disk-cache': dir, 'cache-size': '4MiB', ...flags }, {});
  return startEdge(config, { origin, ...deps });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const script = (n: number) => Buffer.from(`export const value${n} = ${JSON.stringify('x'.repeat(50))};\n`.repeat(200));

/** The object files in dir's sub-directories: how many, and the bytes du counts for them (st_blocks, 512-byte units). */
async function objectFiles(dir: string): Promise<{ files: number; allocated: number }> {
  let allocated = 0;
  let files = 0;
  for (const sub of await readdir(dir)) {
    if (!/^[0-9a-f]{2}$/.test(sub)) continue;
    for (const name of await readdir(join(dir, sub))) {
      allocated += (await stat(join(dir, sub, name))).blocks * 512;
      files++;
    }
  }
  return { files, allocated };
}

/** The file holding key in dir (its name is the SHA-256 of the key and its length). */
async function fileOf(dir: string, key: string): Promise<string> {
  const keyHash = hashKey(key);
  const names = await readdir(join(dir, keyHash.slice(0, 2)));
  const name = names.find((n) => n.startsWith(`${keyHash}.`));
  assert.ok(name, `a file for ${key}`);
  return join(dir, keyHash.slice(0, 2), name);
}

test('a restart keeps objects: the second node answers from disk without asking the origin, with the same headers', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const body = origin.put('assets/app-0492830483.js', script(1), { lastModified: new Date('2024-01-02T03:04:05Z') });
  const first = await start(dir, origin);
  const fromOrigin = await request(`${first.url}/assets/app-0492830483.js`, { headers: { 'accept-encoding': 'br' } });
  assert.equal(fromOrigin.status, 200);
  await first.close();

  const again = new TestOrigin();
  again.put('assets/app-0492830483.js', body);
  const second = await start(dir, again);
  try {
    const res = await request(`${second.url}/assets/app-0492830483.js`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-status'], 'hashedge; hit; detail=disk', 'Cache-Status says the hit came from disk');
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(res.headers.etag, fromOrigin.headers.etag);
    assert.equal(res.headers['last-modified'], 'Tue, 02 Jan 2024 03:04:05 GMT');
    assert.deepEqual(res.body, fromOrigin.body);
    const identity = await request(`${second.url}/assets/app-0492830483.js`);
    assert.deepEqual(identity.body, body);
    assert.equal(identity.headers['cache-status'], 'hashedge; hit', 'promoted: the next hit is from memory');
    assert.deepEqual(again.assetRequests, [], 'the origin was not asked again');
    assert.equal(second.group.disk?.status().hits, 1);
  } finally {
    await second.close();
  }
});

test('a disk hit answers conditionals and ranges as a memory hit does', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const body = origin.put('assets/data-0492830483.bin', randomBytes(300_000));
  const first = await start(dir, origin);
  const full = await request(`${first.url}/assets/data-0492830483.bin`);
  await first.close();
  const etag = full.headers.etag!;

  for (const [headers, status] of [[{ 'if-none-match': etag }, 304], [{ range: 'bytes=1000-1999' }, 206]] as const) {
    const again = new TestOrigin();
    const node = await start(dir, again);
    try {
      const res = await request(`${node.url}/assets/data-0492830483.bin`, { headers });
      assert.equal(res.status, status);
      assert.equal(res.headers.etag, etag);
      assert.equal(res.headers['cache-status'], 'hashedge; hit; detail=disk');
      if (status === 206) {
        assert.equal(res.headers['content-range'], `bytes 1000-1999/${body.length}`);
        assert.deepEqual(res.body, body.subarray(1000, 2000));
      }
      assert.deepEqual(again.assetRequests, []);
    } finally {
      await node.close();
    }
  }
});

test('objects memory evicts are served from disk: a working set larger than memory', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  // 20 objects of 200 KB (under --max-object-size, a quarter of memory): 4 MB against 1 MiB of memory.
  const keys = Array.from({ length: 20 }, (_, i) => `assets/big${i}-0492830483.bin`);
  const bodies = keys.map((key) => origin.put(key, randomBytes(200_000)));
  const node = await start(dir, origin, { 'cache-size': '1MiB' });
  try {
    for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    await node.group.disk!.flushed();
    const inMemory = node.group.cacheItems;
    assert.ok(inMemory < keys.length / 2, `memory kept ${inMemory}`);
    for (const [i, key] of keys.entries()) {
      const res = await request(`${node.url}/${key}`);
      assert.equal(res.status, 200);
      assert.equal(sha256(res.body), sha256(bodies[i]!));
    }
    assert.equal(origin.assetRequests.length, keys.length, 'each key loaded from the origin once');
    // One pass with memory full: a key read once from disk is not promoted (promotion.ts), so it
    // evicts none of the keys memory kept, which are memory hits.
    assert.equal(node.group.disk!.status().hits, keys.length - inMemory, 'every key memory did not keep came from disk');
    assert.equal(node.group.cacheItems, inMemory);
  } finally {
    await node.close();
  }
});

test('with memory full, a key read from disk once is answered and dropped; read again soon, it is promoted (verified) and then a memory hit', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  // 20 objects of 200 KB against 1 MiB of memory: it holds about four, the last ones filled.
  const keys = Array.from({ length: 20 }, (_, i) => `assets/twice${i}-0492830483.bin`);
  const bodies = keys.map((key) => origin.put(key, randomBytes(200_000)));
  const node = await start(dir, origin, { 'cache-size': '1MiB' });
  try {
    for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    await node.group.disk!.flushed();
    const evictionsBefore = node.group.stats.evictions;
    for (let round = 0; round < 2; round++) {
      const res = await request(`${node.url}/${keys[0]}`);
      assert.equal(res.headers['cache-status'], 'hashedge; hit; detail=disk', `read ${round + 1}: from disk`);
      assert.equal(sha256(res.body), sha256(bodies[0]!));
      // Read once it was not kept (memory evicted nothing for it); read twice, it was.
      assert.equal(node.group.stats.evictions > evictionsBefore, round === 1, `read ${round + 1}: evictions ${node.group.stats.evictions - evictionsBefore}`);
    }
    const third = await request(`${node.url}/${keys[0]}`);
    assert.equal(third.headers['cache-status'], 'hashedge; hit', 'then a memory hit');
    assert.equal(sha256(third.body), sha256(bodies[0]!));
    assert.equal(origin.assetRequests.length, keys.length, 'the origin was asked for nothing more');
  } finally {
    await node.close();
  }
});

test('a promotion checks the SHA-256 again: a file garbled after its first read is caught when its key would go back to memory', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const keys = Array.from({ length: 20 }, (_, i) => `assets/rot${i}-0492830483.bin`);
  const bodies = keys.map((key) => origin.put(key, randomBytes(200_000)));
  const node = await start(dir, origin, { 'cache-size': '1MiB' });
  try {
    for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    await node.group.disk!.flushed();
    const key = keys[0]!;
    assert.equal((await request(`${node.url}/${key}`)).headers['cache-status'], 'hashedge; hit; detail=disk', 'first read: verified, not kept');
    const path = await fileOf(dir, key);
    const bytes = await readFile(path);
    bytes[bytes.length - 1000]! ^= 0xff; // the same length: only its SHA-256 can tell
    await writeFile(path, bytes);
    const res = await request(`${node.url}/${key}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; stored', 'the promotion found it corrupt: a miss');
    assert.equal(sha256(res.body), sha256(bodies[0]!), 'the origin\'s bytes, never the garbled ones');
    assert.equal(node.group.disk!.stats.verifyFailures, 1);
    assert.equal(origin.count(key), 2);
  } finally {
    await node.close();
  }
});

test('a corrupted byte is detected on read: the file is deleted, counted, and the key fetched again', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const key = 'assets/app-BwT4yKxK.js';
  const body = origin.put(key, script(2));
  const first = await start(dir, origin);
  await request(`${first.url}/${key}`);
  await first.close();
  const path = await fileOf(dir, key);
  const bytes = await readFile(path);
  bytes[bytes.length - 10]! ^= 0x01;
  await writeFile(path, bytes);

  const again = new TestOrigin();
  again.put(key, body);
  const second = await start(dir, again);
  try {
    const res = await request(`${second.url}/${key}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, body);
    assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; stored');
    assert.equal(again.count(key), 1);
    assert.equal(second.group.disk!.status().verifyFailures, 1);
    const stats = await request(`${second.url}/_hashedge/stats`);
    assert.equal(JSON.parse(stats.body.toString()).disk.verifyFailures, 1);
  } finally {
    await second.close();
  }
});

test('a file gone from under the node (deleted by hand, an I/O error) is a miss: counted, loaded again', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const key = 'assets/lost-0492830483.js';
  const body = origin.put(key, script(4));
  const first = await start(dir, origin);
  await request(`${first.url}/${key}`);
  await first.close();
  const again = new TestOrigin();
  again.put(key, body);
  const second = await start(dir, again);
  // Indexed at start, gone before its first read.
  await rm(await fileOf(dir, key));
  try {
    const res = await request(`${second.url}/${key}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, body);
    assert.equal(again.count(key), 1);
    assert.equal(second.group.disk!.status().readErrors, 1);
  } finally {
    await second.close();
  }
});

test('the disk budget holds under churn, and what stays is served right', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const keys = Array.from({ length: 60 }, (_, i) => `assets/c${i}-0492830483.bin`);
  for (const key of keys) origin.put(key, randomBytes(60_000));
  const node = await start(dir, origin, { 'cache-size': '1MiB', 'disk-cache-size': '1MiB' });
  try {
    for (let round = 0; round < 2; round++) {
      for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    }
    await node.group.disk!.flushed();
    const status = node.group.disk!.status();
    assert.ok(status.bytes <= 1024 * 1024, `${status.bytes} bytes indexed`);
    assert.ok(status.evictions > 0);
    let onDisk = 0;
    for (const sub of await readdir(dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of await readdir(join(dir, sub))) onDisk += Number(name.split('.')[1]);
    }
    // Evictions unlink in the background: what the directory holds may lag a little, never by more than the last victims.
    assert.ok(onDisk <= 1024 * 1024 + 2 * 70_000, `${onDisk} bytes in files`);
  } finally {
    await node.close();
  }
  // A smaller budget at the next start evicts down to it.
  const smaller = await start(dir, new TestOrigin(), { 'disk-cache-size': '1MiB', 'cache-size': '1MiB' });
  try {
    assert.ok(smaller.group.disk!.status().bytes <= 1024 * 1024);
  } finally {
    await smaller.close();
  }
});

test('a rewrite with variants holds the budget even when the file it replaces is evicted while it is written', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  // A compressible script over 1 MiB is written twice: identity only at its fill (a fill that
  // large is answered before its variants are made), again once they are.
  const script7 = 'assets/app-0492830483.js';
  const bodies = new Map([[script7, origin.put(script7, Buffer.from(script(7).toString().repeat(80)))]]);
  const others = Array.from({ length: 40 }, (_, i) => `assets/r${i}-0492830483.bin`);
  for (const key of others) bodies.set(key, origin.put(key, randomBytes(60_000)));
  const scriptHash = hashKey(script7);
  let scriptWrites = 0;
  let otherWrites = 0;
  let rewriteHeld!: () => void;
  const rewriteReached = new Promise<void>((resolve) => { rewriteHeld = resolve; });
  let releaseRewrite!: () => void;
  const rewriteReleased = new Promise<void>((resolve) => { releaseRewrite = resolve; });
  let othersStarted!: () => void;
  const allOthersStarted = new Promise<void>((resolve) => { othersStarted = resolve; });
  // The real write (as the tier's own: exclusive create, all bytes), held for the script's rewrite.
  const gatedWrite = async (path: string, chunks: readonly Buffer[]) => {
    if (path.includes(scriptHash)) {
      if (++scriptWrites === 2) {
        rewriteHeld();
        await rewriteReleased;
      }
    } else if (++otherWrites === others.length) {
      othersStarted();
    }
    await writeFile(path, Buffer.concat(chunks), { flag: 'wx' });
  };
  const budget = 2 * 1024 * 1024;
  const node = await start(dir, origin, { 'disk-cache-size': String(budget), 'cache-size': '16MiB' }, { diskWriteFile: gatedWrite });
  try {
    assert.equal((await request(`${node.url}/${script7}`)).status, 200);
    await rewriteReached;
    // The other writer fills the disk past its budget: the script's first file is evicted meanwhile.
    for (const key of others) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    await allOthersStarted;
    releaseRewrite();
    await node.group.disk!.flushed();
    const status = node.group.disk!.status();
    assert.ok(status.evictions > 0);
    const { allocated, files } = await objectFiles(dir);
    assert.ok(status.bytes <= budget, `${status.bytes} bytes indexed against a ${budget}-byte budget`);
    assert.ok(allocated <= budget, `${files} files take ${allocated} bytes`);
    assert.equal(status.objects, files, 'the index lists exactly the files there are');
  } finally {
    await node.close();
  }
  // Every file left is whole: a restart serves each from disk, byte for byte, without the origin.
  const empty = new TestOrigin();
  const again = await start(dir, empty, { 'disk-cache-size': String(budget), 'cache-size': '16MiB' });
  try {
    let served = 0;
    for (const key of [script7, ...others]) {
      const res = await request(`${again.url}/${key}`);
      if (res.status === 404) continue;
      assert.equal(res.status, 200, key);
      assert.equal(sha256(res.body), sha256(bodies.get(key)!), key);
      served++;
    }
    assert.equal(served, again.group.disk!.status().objects);
  } finally {
    await again.close();
  }
});

test('the disk budget holds in du terms under churn of small objects: each file counted in whole blocks', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  // ~1.3 KB files: by length 800 of them fit 1 MiB, but each takes a whole block (4 KiB on ext4, XFS, tmpfs).
  const keys = Array.from({ length: 600 }, (_, i) => `assets/s${i}-0492830483.bin`);
  const bodies = new Map(keys.map((key) => [key, origin.put(key, randomBytes(1000))]));
  const budget = 1024 * 1024;
  const node = await start(dir, origin, { 'cache-size': '1MiB', 'disk-cache-size': String(budget) });
  try {
    for (let round = 0; round < 2; round++) {
      for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    }
    await node.group.disk!.flushed();
    const { allocated, files } = await objectFiles(dir);
    const status = node.group.disk!.status();
    assert.ok(allocated <= budget, `${files} files take ${allocated} bytes on the file system, over the ${budget}-byte budget`);
    assert.ok(status.bytes <= budget, `${status.bytes} bytes counted`);
    assert.equal(status.objects, files, 'the index lists exactly the files there are');
    assert.ok(status.evictions > 0);
    assert.ok(files >= 100, `the budget is used, not left empty: ${files} files`);
    // Served right after the churn: the newest keys from disk or memory, with their bytes.
    const last = keys.at(-1)!;
    assert.ok((await request(`${node.url}/${last}`)).body.equals(bodies.get(last)!));
  } finally {
    await node.close();
  }
});

test('a directory is one process\'s: a second node on it is refused with E_DISK_CACHE_LOCKED', async () => {
  const dir = freshDir();
  const first = await start(dir, new TestOrigin());
  try {
    await assert.rejects(start(dir, new TestOrigin()), { code: 'E_DISK_CACHE_LOCKED' });
  } finally {
    await first.close();
  }
  // Released at close: the next start takes it.
  const next = await start(dir, new TestOrigin());
  await next.close();
});

test('a purge removes the key from disk too: a restart does not bring it back', async () => {
  const dir = freshDir();
  const origin = new TestOrigin();
  const key = 'assets/gone-0492830483.js';
  origin.put(key, script(3));
  const node = await start(dir, origin, { 'admin-token': 'secret-token-1234' });
  await request(`${node.url}/${key}`);
  await node.group.disk!.flushed();
  assert.equal(await node.group.purge([key]), 1);
  await node.close();
  const again = new TestOrigin();
  again.put(key, script(3));
  const next = await start(dir, again);
  try {
    await request(`${next.url}/${key}`);
    assert.equal(again.count(key), 1);
  } finally {
    await next.close();
  }
});

/** Every file under dir (the fan-out sub-directories and tmp/), by name. */
async function filesUnder(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const sub of await readdir(dir)) {
    if (/^[0-9a-f]{2}$/.test(sub) || sub === 'tmp') names.push(...(await readdir(join(dir, sub))));
  }
  return names;
}

test('a purge by keys answers once their files are unlinked: the directory listed right after holds none of them', async () => {
  const dir = freshDir();
  const token = 'secret-token-1234';
  const purged = Array.from({ length: 40 }, (_, i) => `assets/purged${i}-0492830483.js`);
  const kept = 'assets/kept-0492830483.js';
  const fill = new TestOrigin();
  for (const [i, key] of [...purged, kept].entries()) fill.put(key, script(100 + i));
  const first = await start(dir, fill);
  for (const key of [...purged, kept]) assert.equal((await request(`${first.url}/${key}`)).status, 200);
  await first.close();
  // Restarted: the keys are on disk only, but for the first, read back into memory too.
  const node = await start(dir, new TestOrigin(), { 'admin-token': token });
  try {
    assert.equal((await request(`${node.url}/${purged[0]}`)).headers['cache-status'], 'hashedge; hit; detail=disk');
    const res = await fetch(`${node.url}/_hashedge/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ keys: purged }),
    });
    assert.equal(res.status, 200);
    // Listed at once, nothing else awaited: the answer came after the unlinks.
    const left = await filesUnder(dir);
    const gone = new Set(purged.map(hashKey));
    assert.deepEqual(left.filter((name) => gone.has(name.split('.')[0]!)), [], 'no purged key has a file left');
    assert.equal(left.filter((name) => name.startsWith(hashKey(kept))).length, 1, 'the other key keeps its file');
    assert.equal(((await res.json()) as { removed: number }).removed, purged.length, 'each key counted once, in memory and on disk or on disk only');
  } finally {
    await node.close();
  }
});

test('a purge of a key whose file is being written resolves once that write is undone: no file is left, in tmp/ or in place', async () => {
  const dir = freshDir();
  const key = 'assets/writing-0492830483.js';
  const origin = new TestOrigin();
  origin.put(key, script(7));
  let reached!: () => void;
  const writeReached = new Promise<void>((resolve) => (reached = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  // The tier's own write (exclusive create, all bytes), held after the temporary file is whole.
  const heldWrite = async (path: string, chunks: readonly Buffer[]) => {
    await writeFile(path, Buffer.concat(chunks), { flag: 'wx' });
    reached();
    await released;
  };
  const node = await start(dir, origin, {}, { diskWriteFile: heldWrite });
  try {
    assert.equal((await request(`${node.url}/${key}`)).status, 200);
    await writeReached;
    assert.equal((await filesUnder(dir)).length, 1, 'the temporary file is there, the write not done');
    const purge = node.group.purge([key]);
    release();
    assert.equal(await purge, 1, 'the key was in memory');
    assert.deepEqual(await filesUnder(dir), [], 'neither the temporary file nor the renamed one is left');
    await node.group.disk!.flushed();
    assert.equal(node.group.disk!.status().objects, 0);
  } finally {
    await node.close();
  }
});

test('a prefix purge drops and counts the objects on disk too: after a restart its keys are misses, the others still hits', async () => {
  const dir = freshDir();
  const token = 'secret-token-1234';
  const keys = { inMemory: 'assets/old/a-0492830483.js', onDiskOnly: 'assets/old/b-0492830483.js', kept: 'assets/new/c-0492830483.js' };
  const fill = new TestOrigin();
  for (const [i, key] of Object.values(keys).entries()) fill.put(key, script(20 + i));
  const first = await start(dir, fill);
  for (const key of Object.values(keys)) assert.equal((await request(`${first.url}/${key}`)).status, 200);
  await first.close();
  // A restart: the index knows the files by name only, so the purge reads their heads for keys.
  const second = await start(dir, new TestOrigin(), { 'admin-token': token });
  try {
    const promoted = await request(`${second.url}/${keys.inMemory}`);
    assert.equal(promoted.headers['cache-status'], 'hashedge; hit; detail=disk');
    assert.equal(second.group.cacheItems, 1, 'one purged key is in memory (and on disk), the other on disk only');
    const res = await fetch(`${second.url}/_hashedge/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prefix: '/assets/old/' }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { removed: number }).removed, 2, 'both keys counted, the one in memory and on disk once');
    assert.equal(second.group.disk!.status().objects, 1);
  } finally {
    await second.close();
  }
  const origin = new TestOrigin();
  for (const [i, key] of Object.values(keys).entries()) origin.put(key, script(20 + i));
  const third = await start(dir, origin);
  try {
    for (const key of [keys.inMemory, keys.onDiskOnly]) {
      const res = await request(`${third.url}/${key}`);
      assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; stored', `${key}: purged, so a miss`);
    }
    const kept = await request(`${third.url}/${keys.kept}`);
    assert.equal(kept.headers['cache-status'], 'hashedge; hit; detail=disk', 'the key outside the prefix is still on disk');
    assert.deepEqual(origin.assetRequests.sort(), [keys.inMemory, keys.onDiskOnly].sort());
  } finally {
    await third.close();
  }
});

for (const [code, state] of [['ENOSPC', 'full'], ['EROFS', 'read-only']] as const) {
  test(`a disk that refuses writes (${code}) leaves the node serving from memory, logged, counted and shown`, async () => {
    const dir = freshDir();
    const origin = new TestOrigin();
    const keys = ['assets/a-0492830483.js', 'assets/b-0492830483.js'];
    for (const [i, key] of keys.entries()) origin.put(key, script(10 + i));
    const lines: string[] = [];
    const { createLogger } = await import('../src/log.js');
    const log = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => {
      lines.push(chunk.toString());
      done();
    } }));
    const refuse = async () => {
      throw Object.assign(new Error(`${code}: simulated`), { code });
    };
    const node = await start(dir, origin, {}, { log, diskWriteFile: refuse });
    try {
      for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
      await node.group.disk!.flushed();
      for (const key of keys) {
        const hit = await request(`${node.url}/${key}`);
        assert.equal(hit.status, 200);
        assert.equal(hit.headers['cache-status'], 'hashedge; hit');
      }
      const stats = JSON.parse((await request(`${node.url}/_hashedge/stats`)).body.toString());
      assert.equal(stats.disk.state, state);
      assert.ok(stats.disk.writeErrors >= 1);
      const metrics = (await request(`${node.url}/metrics`)).body.toString();
      assert.match(metrics, new RegExp(`hashedge_disk_state\\{state="${state}"\\} 1`));
      assert.ok(lines.some((l) => l.includes('"disk_write_failed"') && l.includes(code)), 'a log line says so');
    } finally {
      await node.close();
    }
  });
}

test('a real full disk: a 1 MiB tmpfs fills, the node goes on serving from memory and says so', async (t) => {
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  // Needs root and a kernel that lets this process mount (the project's machine does; CI may
  // not): without it, the injected ENOSPC above is what covers this.
  const mounted = await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]).then(() => true, () => false);
  if (!mounted) {
    t.skip('cannot mount a tmpfs here');
    return;
  }
  try {
    const origin = new TestOrigin();
    const keys = Array.from({ length: 8 }, (_, i) => `assets/fill${i}-0492830483.bin`);
    for (const key of keys) origin.put(key, randomBytes(300_000));
    // A budget far above what the file system holds: the disk, not eviction, runs out.
    const node = await start(dir, origin, { 'cache-size': '8MiB', 'disk-cache-size': '64MiB' });
    try {
      for (const key of keys) assert.equal((await request(`${node.url}/${key}`)).status, 200);
      await node.group.disk!.flushed();
      const status = node.group.disk!.status();
      assert.equal(status.state, 'full');
      assert.ok(status.writeErrors >= 1);
      assert.ok(status.writes >= 1 && status.writes < keys.length, `${status.writes} written before the disk filled`);
      for (const key of keys) {
        const hit = await request(`${node.url}/${key}`);
        assert.equal(hit.status, 200);
        assert.deepEqual(hit.body, origin.objects.get(key)!.body);
      }
      assert.equal(origin.assetRequests.length, keys.length, 'memory served the rest');
    } finally {
      await node.close();
    }
  } finally {
    await execFileAsync('umount', [dir]);
  }
});

test('a bad --disk-cache-size is refused at start with the option named', () => {
  assert.throws(() => resolveConfig({ 'disk-cache': '/tmp/x', 'disk-cache-size': '1KB' }, {}), (err: Error & { code?: string }) => err.code === 'E_CONFIG' && /--disk-cache-size/.test(err.message));
});
