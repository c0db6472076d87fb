/**
 * The group alone, in memory, as groupcache tests its Group with fakePeers: a counting origin,
 * a fake peer picker and a fake clock, no sockets. What a load decides and where its result
 * goes: the route chosen once, an owner's failure replaced by an origin load in the same
 * flight, an owner's origin error passed on, a failed load remembered for errorTtl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Verdict } from '../src/asset/immutability.js';
import { BLOB_OVERHEAD_BYTES } from '../src/cache/blob.js';
import { Group, type GroupOptions, type PeerPicker } from '../src/cache/group.js';
import { EdgeError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import type { OriginObject } from '../src/origin/origin.js';
import { TestOrigin } from './helpers/origins.js';

const IMMUTABLE: Verdict = { immutable: true, reason: 'name: hex hash 0492830483', open: false };
const KEY = 'assets/app-0492830483.js';

/** A picker that names one peer for every key and answers as the test says. */
class FakePicker implements PeerPicker {
  answer: () => Promise<OriginObject | null> = async () => null;
  readonly fetched: string[] = [];
  readonly failedPeers: string[] = [];
  up = true;
  pickPeer(): string | undefined {
    return this.up ? 'http://owner:8080' : undefined;
  }
  fetch(_peer: string, key: string): Promise<OriginObject | null> {
    this.fetched.push(key);
    return this.answer();
  }
  failed(peer: string): void {
    this.failedPeers.push(peer);
    this.up = false;
  }
  previousOwner(): string | undefined {
    return undefined;
  }
  fetchCached(): Promise<OriginObject | null> {
    return Promise.resolve(null);
  }
}

function group(origin: TestOrigin, options: Partial<GroupOptions> = {}): Group {
  return new Group({
    origin, cacheSize: 16 * 1024 * 1024, hotCacheSize: 1024 * 1024, maxObjectSize: 4 * 1024 * 1024, originTimeout: 5_000,
    negativeTtl: 10_000, unhashedTtl: 60_000, brotliQuality: 4, log: silentLogger, ...options,
  });
}

test('owner failed: one origin load in the same flight for every waiting request, kept in the main cache, reported as fallback', async () => {
  const origin = new TestOrigin();
  origin.put(KEY, 'export default 1;');
  const picker = new FakePicker();
  picker.answer = async () => {
    throw new EdgeError('E_PEER', 502, 'connection refused');
  };
  const g = group(origin, { peers: picker });
  const lookups = await Promise.all(Array.from({ length: 10 }, () => g.lookup(KEY, IMMUTABLE)));
  assert.deepEqual(new Set(lookups.map((l) => `${l.kind} ${l.status}`)), new Set(['blob fallback']));
  assert.equal(picker.fetched.length, 1, 'the owner was asked once');
  assert.equal(origin.count(KEY), 1, 'and the origin once');
  assert.deepEqual(picker.failedPeers, [], 'a failure before an answer is the picker\'s own to note (PeerClient tells health)');
  assert.equal(g.peek(KEY)?.identity.body.toString(), 'export default 1;');
  assert.deepEqual({ originFetches: g.stats.originFetches, peerFetches: g.stats.peerFetches, peerFailures: g.stats.peerFailures, originErrors: g.stats.originErrors }, { originFetches: 1, peerFetches: 1, peerFailures: 1, originErrors: 0 });
});

test("an owner's own origin error is the answer: no origin load here, the owner not blamed", async () => {
  const origin = new TestOrigin();
  origin.put(KEY, 'x');
  const picker = new FakePicker();
  picker.answer = async () => {
    throw new EdgeError('E_ORIGIN_TIMEOUT', 504, 'The origin did not answer in time.');
  };
  const g = group(origin, { peers: picker });
  await assert.rejects(g.lookup(KEY, IMMUTABLE), (err: EdgeError) => err.code === 'E_ORIGIN_TIMEOUT' && err.status === 504);
  assert.equal(origin.count(KEY), 0);
  assert.equal(g.stats.peerFailures, 0);
  assert.equal(g.stats.originErrors, 1);
});

test("a key from its owner is kept at once while memory has room; once memory is full, only when hot; a peer's own request never goes to a peer", async () => {
  const origin = new TestOrigin();
  const picker = new FakePicker();
  const owners = randomBytes(1000); // incompressible: no variants, so each blob is exactly this plus the overhead
  picker.answer = async () => ({ body: Readable.from([owners]), size: owners.length, contentType: undefined, lastModified: undefined });
  // Room for four of the owner's answers (1000 bytes each plus the blob's overhead), main and hot together.
  const g = group(origin, { peers: picker, cacheSize: 4 * (owners.length + BLOB_OVERHEAD_BYTES) + 100, hotCacheSize: 1024 });
  const keys = Array.from({ length: 5 }, (_, i) => `assets/peer${i}-0492830483.js`);
  for (const key of keys.slice(0, 4)) {
    const first = await g.lookup(key, IMMUTABLE);
    assert.deepEqual([first.status, first.kind === 'blob' && first.stored], ['peer', true], 'room: kept on its first request');
  }
  assert.equal(g.hotCache.items, 4, 'hot holds four times its share: the room main does not use');
  const oneOff = await g.lookup(keys[4]!, IMMUTABLE);
  assert.deepEqual([oneOff.status, oneOff.kind === 'blob' && oneOff.stored], ['peer', false], 'memory full: a one-off is not kept');
  assert.equal(g.peek(keys[4]!), undefined);
  // Second request within the window: admitted to the hot cache; still from the owner (peer), now stored.
  const second = await g.lookup(keys[4]!, IMMUTABLE);
  assert.deepEqual([second.status, second.kind === 'blob' && second.stored], ['peer', true]);
  assert.equal(g.hotCache.items, 4, 'in place of the least recently used');
  assert.equal(g.peek(keys[0]!), undefined);
  assert.equal(g.stats.hotAdmissions, 5);
  origin.put('assets/local-0492830483.js', 'local');
  assert.equal((await g.lookup('assets/local-0492830483.js', IMMUTABLE, { local: true })).status, 'miss');
  assert.equal(picker.fetched.filter((k) => k === 'assets/local-0492830483.js').length, 0);
  assert.equal(g.cacheItems, 1, 'a local load is kept in the main cache, taking room from hot');
  assert.equal(g.hotCache.items, 3);
});

test('a failed load is remembered for errorTtl: requests meanwhile get the same error without asking, then the origin is asked again', async () => {
  const origin = new TestOrigin();
  origin.put(KEY, 'x');
  origin.behaviour = { kind: 'error' };
  let now = 1_000_000;
  const g = group(origin, { errorTtl: 1_000, clock: () => now });
  for (let i = 0; i < 5; i++) await assert.rejects(g.lookup(KEY, IMMUTABLE), (err: EdgeError) => err.code === 'E_ORIGIN' && err.status === 502);
  assert.equal(origin.count(KEY), 1);
  assert.equal(g.stats.errorHits, 4);
  now += 999;
  await assert.rejects(g.lookup(KEY, IMMUTABLE));
  assert.equal(origin.count(KEY), 1);
  now += 1;
  origin.behaviour = { kind: 'ok' };
  assert.equal((await g.lookup(KEY, IMMUTABLE)).kind, 'blob');
  assert.equal(origin.count(KEY), 2);
  // A purge forgets a remembered error too.
  origin.behaviour = { kind: 'error' };
  await g.purge([KEY]);
  await assert.rejects(g.lookup(KEY, IMMUTABLE));
  await g.purge([KEY]);
  await assert.rejects(g.lookup(KEY, IMMUTABLE));
  assert.equal(origin.count(KEY), 4);
});
