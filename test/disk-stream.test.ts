/**
 * Large disk-held objects are served from their files (--disk-cache), with real files and real
 * sockets: the first read after a restart verifies the file by streaming it through SHA-256
 * before a byte is served; later hits and Ranges read only what they send (the disk tier's
 * bytesRead counter shows it); HTTP/2 answers alike; a corrupt file is never served; a file
 * purged mid-response still completes, and one cut short mid-response cuts the response.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as connectH2, constants as h2constants } from 'node:http2';
import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveConfig, type RawOptions } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { hashKey } from '../src/cache/disk/record.js';
import { STREAM_FROM_BYTES } from '../src/cache/disk/tier.js';
import { Ring } from '../src/cluster/ring.js';
import { freePort } from './helpers/cluster.js';
import { startTestEdge } from './helpers/edge.js';
import { TestOrigin } from './helpers/origins.js';
import { request, requestH2, type TestResponse } from './helpers/http.js';
import { parseMultipart } from './helpers/multipart.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';
import { edgeTls, type EdgeTls } from './helpers/tls.js';

let root: TempDir;
let tls: EdgeTls;
before(async () => {
  root = await tempDir('disk-stream');
  tls = edgeTls();
});
after(async () => {
  await root?.remove();
  tls?.remove();
});

let dirs = 0;
const freshDir = () => root.path(`cache-${dirs++}`);
const KEY = 'assets/video-0492830483.mp4';
const SIZE = 3 * STREAM_FROM_BYTES;

function start(dir: string, origin: TestOrigin, flags: RawOptions = {}): Promise<Edge> {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', 'disk-cache': dir, 'cache-size': '64MiB', ...flags }, {});
  return startEdge(config, { origin });
}

/** A node that filled `key` from the origin and wrote it to dir, then closed: the disk holds it. */
async function filled(dir: string, body: Buffer, key = KEY): Promise<void> {
  const origin = new TestOrigin();
  origin.put(key, body);
  const first = await start(dir, origin);
  try {
    const res = await request(`${first.url}/${key}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(body));
  } finally {
    await first.close();
  }
}

/** A second node on dir, with an origin that holds the same bytes (and counts being asked). */
async function restarted(dir: string, body: Buffer, flags: RawOptions = {}, key = KEY): Promise<{ edge: Edge; origin: TestOrigin }> {
  const origin = new TestOrigin();
  origin.put(key, body);
  return { edge: await start(dir, origin, flags), origin };
}

async function fileOf(dir: string, key: string): Promise<string> {
  const keyHash = hashKey(key);
  const name = (await readdir(join(dir, keyHash.slice(0, 2)))).find((n) => n.startsWith(`${keyHash}.`));
  assert.ok(name, `a file for ${key}`);
  return join(dir, keyHash.slice(0, 2), name);
}

test('after a restart a large object is served from its file: verified once, then each hit reads what it sends', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const fileBytes = (await stat(await fileOf(dir, KEY))).size;
  const { edge, origin } = await restarted(dir, body);
  try {
    const disk = edge.group.disk!;
    const res = await request(`${edge.url}/${KEY}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-status'], 'hashedge; hit; detail=disk', 'a hit, from disk');
    assert.equal(res.headers['content-length'], String(SIZE));
    assert.ok(res.body.equals(body), 'exactly the origin bytes');
    assert.deepEqual(origin.assetRequests, [], 'the origin was not asked');
    // Verified (the whole file, streamed) and sent (the identity section): about twice the file.
    const firstRead = disk.stats.bytesRead;
    assert.ok(firstRead >= fileBytes + SIZE && firstRead <= 2 * fileBytes + 8192, `first read ${firstRead}`);
    assert.equal(edge.group.cacheItems, 0, 'not promoted to memory');

    const again = await request(`${edge.url}/${KEY}`);
    assert.ok(again.body.equals(body));
    const secondRead = disk.stats.bytesRead - firstRead;
    assert.ok(secondRead >= SIZE && secondRead <= SIZE + 8192, `a later hit reads the body and the head only: ${secondRead}`);

    const etag = String(res.headers.etag);
    const notModified = await request(`${edge.url}/${KEY}`, { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    assert.equal(disk.stats.verifyFailures, 0);
  } finally {
    await edge.close();
  }
});

test('a Range on a large disk-held object reads only the range from the file', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const { edge, origin } = await restarted(dir, body);
  try {
    const disk = edge.group.disk!;
    assert.equal((await request(`${edge.url}/${KEY}`, { method: 'HEAD' })).status, 200); // the first read verifies
    const before = disk.stats.bytesRead;
    const res = await request(`${edge.url}/${KEY}`, { headers: { range: 'bytes=1500000-1500999' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 1500000-1500999/${SIZE}`);
    assert.ok(res.body.equals(body.subarray(1500000, 1501000)));
    const read = disk.stats.bytesRead - before;
    assert.ok(read >= 1000 && read <= 1000 + 8192, `the range and the head, not the object: ${read} bytes read`);
    const suffix = await request(`${edge.url}/${KEY}`, { headers: { range: 'bytes=-10' } });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(body.subarray(SIZE - 10)));
    const unsatisfiable = await request(`${edge.url}/${KEY}`, { headers: { range: `bytes=${SIZE}-` } });
    assert.equal(unsatisfiable.status, 416);
    assert.deepEqual(origin.assetRequests, []);
  } finally {
    await edge.close();
  }
});

test('HTTP/2 serves a large disk-held object from its file: the same bytes, whole and ranged', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const { edge, origin } = await restarted(dir, body, { 'tls-port': '0', ...tls.flags });
  try {
    const whole = await requestH2(`${edge.tlsUrl}/${KEY}`, { ca: tls.ca.caPem });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['cache-status'], 'hashedge; hit; detail=disk');
    assert.ok(whole.body.equals(body));
    const ranged = await requestH2(`${edge.tlsUrl}/${KEY}`, { ca: tls.ca.caPem, headers: { range: 'bytes=2000000-2099999' } });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(body.subarray(2000000, 2100000)));
    assert.deepEqual(origin.assetRequests, []);
    assert.equal(edge.group.disk!.stats.hits, 2);
  } finally {
    await edge.close();
  }
});

/** The headers two answers must share: all but those that tick (Date, Age) and say where a hit came from. */
function comparable(res: TestResponse): Record<string, unknown> {
  const { date: _date, age: _age, 'cache-status': _status, ...rest } = res.headers;
  return rest;
}

test('a multi-range request is answered from the file exactly as from memory (HTTP/1 and HTTP/2), reading only the ranges', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  const ranges = 'bytes=0-9,100-199,2000000-2000099,-5';
  const expected = [body.subarray(0, 10), body.subarray(100, 200), body.subarray(2000000, 2000100), body.subarray(SIZE - 5)];
  const overTls = { 'tls-port': '0', ...tls.flags };
  // From memory: the node that filled the object answers from its blob (and writes it to disk).
  const origin = new TestOrigin();
  origin.put(KEY, body);
  const first = await start(dir, origin, overTls);
  let memoryH1: TestResponse;
  let memoryH2: TestResponse;
  try {
    assert.ok((await request(`${first.url}/${KEY}`)).body.equals(body));
    memoryH1 = await request(`${first.url}/${KEY}`, { headers: { range: ranges } });
    memoryH2 = await requestH2(`${first.tlsUrl}/${KEY}`, { ca: tls.ca.caPem, headers: { range: ranges } });
  } finally {
    await first.close();
  }
  assert.equal(memoryH1.headers['cache-status'], 'hashedge; hit', 'the first answers came from memory');
  const { edge, origin: second } = await restarted(dir, body, overTls);
  try {
    const disk = edge.group.disk!;
    assert.equal((await request(`${edge.url}/${KEY}`, { method: 'HEAD' })).status, 200); // the first read verifies
    const before = disk.stats.bytesRead;
    const fileH1 = await request(`${edge.url}/${KEY}`, { headers: { range: ranges } });
    const read = disk.stats.bytesRead - before;
    const fileH2 = await requestH2(`${edge.tlsUrl}/${KEY}`, { ca: tls.ca.caPem, headers: { range: ranges } });
    assert.equal(edge.group.cacheItems, 0, 'served from the file, not promoted');
    assert.deepEqual(second.assetRequests, [], 'the origin was not asked');
    for (const [label, memory, file] of [['HTTP/1', memoryH1, fileH1], ['HTTP/2', memoryH2, fileH2]] as const) {
      assert.equal(file.status, 206, label);
      assert.equal(memory.status, 206, label);
      assert.deepEqual(comparable(file), comparable(memory), `${label}: the same headers`);
      assert.equal(file.headers['cache-status'], 'hashedge; hit; detail=disk', label);
      assert.ok(file.body.equals(memory.body), `${label}: the same bytes, part heads and boundaries included`);
      const boundary = /^multipart\/byteranges; boundary=(\w+)$/.exec(String(file.headers['content-type']))?.[1];
      assert.ok(boundary, `${label}: ${file.headers['content-type']}`);
      assert.equal(file.headers['content-length'], String(file.body.length), label);
      const parts = parseMultipart(file.body, boundary);
      assert.deepEqual(parts.map((p) => p.headers['content-range']), ['bytes 0-9', 'bytes 100-199', 'bytes 2000000-2000099', `bytes ${SIZE - 5}-${SIZE - 1}`].map((r) => `${r}/${SIZE}`), label);
      assert.deepEqual(parts.map((p) => p.body.toString('hex')), expected.map((b) => b.toString('hex')), `${label}: the ranges' bytes`);
    }
    const wanted = expected.reduce((n, b) => n + b.length, 0);
    assert.ok(read >= wanted && read <= wanted + 8192, `the ranges and the head, not the object: ${read} bytes read`);
  } finally {
    await edge.close();
  }
});

test('a corrupted byte in a large file is caught on the first read after restart: never served, fetched again', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const path = await fileOf(dir, KEY);
  const file = await open(path, 'r+');
  const at = (await file.stat()).size - 1000; // in the identity bytes (no variants for video)
  const byte = Buffer.alloc(1);
  await file.read(byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0xff;
  await file.write(byte, 0, 1, at);
  await file.close();
  const { edge, origin } = await restarted(dir, body);
  try {
    const res = await request(`${edge.url}/${KEY}`, { headers: { range: 'bytes=0-99' } });
    assert.equal(res.status, 206);
    assert.ok(res.body.equals(body.subarray(0, 100)));
    const whole = await request(`${edge.url}/${KEY}`);
    assert.ok(whole.body.equals(body));
    assert.equal(edge.group.disk!.stats.verifyFailures, 1);
    assert.deepEqual(origin.assetRequests, [KEY], 'loaded again from the origin');
  } finally {
    await edge.close();
  }
});

/** A GET whose body is paused after its first chunk until `then` has run; resolves with what arrived and whether it ended. */
function pausedGet(url: string, then: () => Promise<void>, headers: Record<string, string> = {}): Promise<{ body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.once('data', (first: Buffer) => {
        chunks.push(first);
        res.pause();
        then().then(() => {
          res.on('data', (c: Buffer) => chunks.push(c));
          res.resume();
        }, reject);
      });
      res.on('end', () => (complete = res.complete));
      res.on('error', () => {});
      res.on('close', () => resolve({ body: Buffer.concat(chunks), complete: complete && res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a file purged while it is being streamed: the response completes from the open file', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const { edge } = await restarted(dir, body);
  try {
    const path = await fileOf(dir, KEY);
    const res = await pausedGet(`${edge.url}/${KEY}`, async () => {
      assert.equal(await edge.group.purge([KEY]), 1);
      await edge.group.disk!.flushed();
    });
    assert.ok(res.complete);
    assert.ok(res.body.equals(body));
    await assert.rejects(stat(path), { code: 'ENOENT' }, 'the file was unlinked while it was read');
    assert.equal(edge.group.disk!.stats.readErrors, 0);
  } finally {
    await edge.close();
  }
});

test('a file cut short while it is being streamed cuts the response (never wrong bytes) and counts a read error', async () => {
  const dir = freshDir();
  const size = 12 * STREAM_FROM_BYTES; // far more than socket buffers hold while the client waits
  const body = randomBytes(size);
  await filled(dir, body);
  const { edge } = await restarted(dir, body);
  try {
    const disk = edge.group.disk!;
    assert.equal((await request(`${edge.url}/${KEY}`, { method: 'HEAD' })).status, 200); // verified
    const path = await fileOf(dir, KEY);
    const fileBytes = (await stat(path)).size;
    const before = disk.stats.bytesRead;
    const res = await pausedGet(`${edge.url}/${KEY}`, async () => {
      assert.ok(disk.stats.bytesRead - before < size / 2, 'the server waits for the client');
      await truncate(path, fileBytes - size / 2);
    });
    assert.equal(res.complete, false, 'the response was cut');
    assert.ok(res.body.length < size);
    assert.ok(res.body.equals(body.subarray(0, res.body.length)), 'what arrived is the right bytes');
    assert.equal(disk.stats.readErrors, 1);
  } finally {
    await edge.close();
  }
});

test('clients that go away mid-file (HTTP/1 close, HTTP/2 reset) are not read errors, and the node serves on', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  await filled(dir, body);
  const { edge } = await restarted(dir, body, { 'tls-port': '0', ...tls.flags });
  try {
    const disk = edge.group.disk!;
    assert.equal((await request(`${edge.url}/${KEY}`, { method: 'HEAD' })).status, 200); // verified
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${edge.url}/${KEY}`, { agent: false }, (res) => {
        res.once('data', () => req.destroy());
        res.on('error', () => {});
        res.on('close', resolve);
      });
      req.on('error', () => {});
      req.on('close', resolve);
      req.on('timeout', reject);
      req.end();
    });
    const session = connectH2(edge.tlsUrl!, { ca: tls.ca.caPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':path': `/${KEY}` });
      stream.once('data', () => stream.close(h2constants.NGHTTP2_CANCEL));
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    session.close();
    const whole = await request(`${edge.url}/${KEY}`);
    assert.ok(whole.body.equals(body));
    const h2 = await requestH2(`${edge.tlsUrl}/${KEY}`, { ca: tls.ca.caPem });
    assert.ok(h2.body.equals(body));
    assert.equal(disk.stats.readErrors, 0);
  } finally {
    await edge.close();
  }
});

/**
 * Two real nodes: `owner` on dir (a disk tier), `asker` with memory only, and a key the ring
 * gives to the owner, its object written to dir beforehand (so the owner holds it on disk only).
 */
async function ownerOnDisk(dir: string, body: Buffer, corrupt = false): Promise<{ owner: Edge; asker: Edge; key: string; origin: TestOrigin; close(): Promise<void> }> {
  const urls = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const ring = new Ring(urls);
  const key = Array.from({ length: 1000 }, (_, i) => `assets/movie${i}-0492830483.mp4`).find((k) => ring.owner(k) === urls[0])!;
  await filled(dir, body, key);
  if (corrupt) {
    const file = await open(await fileOf(dir, key), 'r+');
    await file.write(Buffer.from('garbage'), 0, 7, (await file.stat()).size - 1000);
    await file.close();
  }
  const origin = new TestOrigin();
  origin.put(key, body);
  const cluster = { peers: urls.join(','), 'cache-size': '64MiB' };
  const owner = await start(dir, origin, { ...cluster, port: new URL(urls[0]!).port, self: urls[0] });
  const asker = await startTestEdge({ ...cluster, port: new URL(urls[1]!).port, self: urls[1] }, origin);
  return { owner, asker, key, origin, close: async () => void (await Promise.all([owner.close(), asker.close()])) };
}

test('a peer asking for a large key held on disk gets it streamed from the file: verified first, never read into memory', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  const { owner, asker, key, origin, close } = await ownerOnDisk(dir, body);
  try {
    const fileBytes = (await stat(await fileOf(dir, key))).size;
    const res = await request(`${asker.url}/${key}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; detail=owner', 'from the owner');
    assert.ok(res.body.equals(body), 'exactly the origin bytes');
    assert.deepEqual(origin.assetRequests, [], 'neither node asked the origin');
    const disk = owner.group.disk!;
    assert.equal(disk.stats.hits, 1, 'the owner answered from its disk');
    assert.equal(owner.group.cacheItems, 0, 'the owner did not read the object into memory');
    // Verified (the whole file streamed through SHA-256), then the identity section streamed.
    assert.ok(disk.stats.bytesRead >= fileBytes + SIZE && disk.stats.bytesRead <= 2 * fileBytes + 8192, `read ${disk.stats.bytesRead}`);
    // A second peer request reads the body (and head) only: the file is verified once.
    const before = disk.stats.bytesRead;
    const again = await request(`${owner.url}/_hashedge/peer/${encodeURIComponent(key)}`, { headers: { 'x-hashedge-hop': '1' } });
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(body));
    assert.equal(again.headers['x-hashedge-sha256'], createHash('sha256').update(body).digest('hex'), 'the SHA-256 the asking node checks');
    const read = disk.stats.bytesRead - before;
    assert.ok(read >= SIZE && read <= SIZE + 8192, `a later read streams the body only: ${read}`);
    assert.equal(owner.group.cacheItems, 0);
  } finally {
    await close();
  }
});

test('a corrupt large file is never sent to a peer: the owner finds it on its first read and loads the key again', async () => {
  const dir = freshDir();
  const body = randomBytes(SIZE);
  const { owner, asker, key, origin, close } = await ownerOnDisk(dir, body, true);
  try {
    const res = await request(`${asker.url}/${key}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(body), 'the right bytes, from the origin');
    assert.equal(owner.group.disk!.stats.verifyFailures, 1);
    assert.equal(owner.group.disk!.stats.hits, 0);
    assert.deepEqual(origin.assetRequests, [key], 'loaded once, by the owner');
  } finally {
    await close();
  }
});

test('a peer reading slowly gets the file as it reads (backpressure): the owner reads ahead only what the socket holds', async () => {
  const dir = freshDir();
  const size = 12 * STREAM_FROM_BYTES; // far more than socket buffers hold while the reader waits
  const body = randomBytes(size);
  const { owner, key, close } = await ownerOnDisk(dir, body);
  try {
    const disk = owner.group.disk!;
    const url = `${owner.url}/_hashedge/peer/${encodeURIComponent(key)}`;
    const hop = { 'x-hashedge-hop': '1' };
    assert.ok((await request(url, { headers: hop })).body.equals(body)); // the first read verifies
    const before = disk.stats.bytesRead;
    const res = await pausedGet(url, async () => {
      const read = disk.stats.bytesRead - before;
      assert.ok(read < size / 2, `the owner waits for its reader: ${read} of ${size} bytes read while it is paused`);
    }, hop);
    assert.ok(res.complete);
    assert.ok(res.body.equals(body));
    assert.equal(owner.group.cacheItems, 0, 'never read into memory');
  } finally {
    await close();
  }
});
