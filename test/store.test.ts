/**
 * The store alone (src/cache/store.ts), in memory with a fake clock: the two LRUs within their
 * byte budgets, evictions counted and reported to the reclaimer, expiry of blobs that are not
 * immutable, the negative caches, purge and purgePrefix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store, type StoreCounters, type StoreOptions } from '../src/cache/store.js';
import { EdgeError } from '../src/errors.js';
import { blob, BLOB_OVERHEAD_BYTES } from './helpers/blobs.js';

function store(options: Partial<StoreOptions> = {}): { store: Store; counters: StoreCounters; dropped: number[]; disposed: string[]; clock: { now: number } } {
  const counters = { evictions: 0, hotHits: 0 };
  const dropped: number[] = [];
  const disposed: string[] = [];
  const clock = { now: 1_000_000 };
  const s = new Store({
    mainBytes: 10 * (BLOB_OVERHEAD_BYTES + 100), hotBytes: 2 * (BLOB_OVERHEAD_BYTES + 100), negativeTtl: 1_000, errorTtl: 500,
    clock: () => clock.now, counters, reclaimer: { dropped: (bytes) => dropped.push(bytes) }, onDispose: (key) => disposed.push(key),
    ...options,
  });
  return { store: s, counters, dropped, disposed, clock };
}

test('main tier first, then hot (a hot hit counted); peek neither counts nor refreshes', () => {
  const { store: s, counters } = store();
  const a = blob('a', 'main'), b = blob('a', 'hot');
  s.set('hot', 'a', b);
  assert.equal(s.get('a'), b);
  assert.equal(counters.hotHits, 1);
  s.set('main', 'a', a);
  assert.equal(s.get('a'), a);
  assert.equal(s.peek('a'), a);
  assert.equal(counters.hotHits, 1);
  assert.equal(s.get('missing'), undefined);
  assert.deepEqual(s.usage('main'), { bytes: a.byteSize, items: 1, budgetBytes: 10 * (BLOB_OVERHEAD_BYTES + 100) });
  assert.equal(s.usage('hot').items, 1);
});

test('each tier keeps within its byte budget: least recently used evicted, counted, its bytes reported, its key disposed', () => {
  const { store: s, counters, dropped, disposed } = store();
  const blobs = Array.from({ length: 3 }, (_, i) => blob(`k${i}`, 'x'.repeat(100)));
  for (const b of blobs) s.set('hot', b.key, b);
  assert.equal(s.usage('hot').items, 2);
  assert.equal(s.peek('k0'), undefined, 'the oldest went');
  assert.equal(counters.evictions, 1);
  assert.deepEqual(dropped, [blobs[0]!.byteSize]);
  assert.deepEqual(disposed, ['k0']);
  assert.ok(s.usage('hot').bytes <= s.usage('hot').budgetBytes);
});

test('a replaced blob is disposed but its bytes are not dropped (they live on in the new one)', () => {
  const { store: s, dropped, disposed, counters } = store();
  const a = blob('a', 'x'.repeat(100));
  s.set('main', 'a', a);
  const richer = a.withVariants({ gzip: Buffer.from('gz') });
  assert.equal(s.replace('a', a, richer), true);
  assert.equal(s.peek('a'), richer);
  assert.equal(s.replace('a', a, richer), false, 'only while the current blob is still the one kept');
  assert.deepEqual({ dropped, disposed, evictions: counters.evictions }, { dropped: [], disposed: ['a'], evictions: 0 });
});

test('a blob that is not immutable expires at its expiresAt: dropped from both tiers; immutable ones (0) never', () => {
  const { store: s, clock, dropped } = store();
  const mutable = blob('m', 'v1', { expiresAt: clock.now + 100 });
  s.set('main', 'm', mutable);
  s.set('main', 'i', blob('i', 'forever'));
  clock.now += 99;
  assert.equal(s.get('m'), mutable);
  clock.now += 1;
  assert.equal(s.get('m'), undefined);
  assert.equal(s.peek('m'), undefined);
  assert.deepEqual(dropped, [mutable.byteSize]);
  clock.now += 10 ** 9;
  assert.ok(s.get('i'));
});

test('404s and refusals are remembered for negativeTtl; nothing when it is 0', () => {
  const { store: s, clock } = store({ negativeTtl: 20 });
  const verdict = { immutable: false, reason: 'no hash', open: false } as const;
  s.rememberNotFound('gone');
  s.rememberRefusal('mutable', verdict);
  assert.equal(s.notFound('gone'), true);
  assert.equal(s.notFound('other'), false);
  assert.deepEqual(s.refusal('mutable'), verdict);
  clock.now += 19;
  assert.equal(s.notFound('gone'), true, 'still within negativeTtl');
  clock.now += 2;
  assert.equal(s.notFound('gone'), false);
  assert.equal(s.refusal('mutable'), undefined);
  const off = store({ negativeTtl: 0 }).store;
  off.rememberNotFound('gone');
  off.rememberRefusal('mutable', verdict);
  assert.equal(off.notFound('gone'), false);
  assert.equal(off.refusal('mutable'), undefined);
});

test("a failed load is answered for errorTtl by the store's clock, then forgotten; nothing when it is 0", () => {
  const { store: s, clock } = store({ errorTtl: 500 });
  const error = new EdgeError('E_ORIGIN', 502, 'The origin request failed.');
  s.rememberFailure('k', error);
  clock.now += 499;
  assert.equal(s.failure('k'), error);
  clock.now += 1;
  assert.equal(s.failure('k'), undefined);
  s.rememberFailure('k', error);
  assert.equal(s.failure('k'), error, 'remembered again from now');
  const off = store({ errorTtl: 0 }).store;
  off.rememberFailure('k', error);
  assert.equal(off.failure('k'), undefined);
});

test('purge forgets a key in every tier and negative cache, and says whether a blob was cached', () => {
  const { store: s, dropped } = store();
  const a = blob('a', 'x');
  s.set('main', 'a', a);
  s.rememberFailure('a', new EdgeError('E_ORIGIN', 502, 'x'));
  s.rememberNotFound('b');
  assert.equal(s.purge('a'), true);
  assert.equal(s.purge('a'), false);
  assert.equal(s.purge('b'), false);
  assert.equal(s.peek('a'), undefined);
  assert.equal(s.failure('a'), undefined);
  assert.equal(s.notFound('b'), false);
  assert.deepEqual(dropped, [a.byteSize], 'purged bytes go to the reclaimer');
});

test('purgePrefix forgets every key under the prefix, blobs and negatives, and returns the cached keys', () => {
  const { store: s } = store();
  s.set('main', 'static/a', blob('static/a', 'a'));
  s.set('hot', 'static/b', blob('static/b', 'b'));
  s.set('main', 'other/c', blob('other/c', 'c'));
  s.rememberNotFound('static/gone');
  s.rememberRefusal('static/mutable', { immutable: false, reason: 'no hash', open: false });
  s.rememberFailure('static/failing', new EdgeError('E_ORIGIN', 502, 'x'));
  assert.deepEqual([...s.purgePrefix('static/')].sort(), ['static/a', 'static/b']);
  assert.equal(s.peek('static/a'), undefined);
  assert.equal(s.peek('static/b'), undefined);
  assert.ok(s.peek('other/c'));
  assert.equal(s.notFound('static/gone'), false);
  assert.equal(s.refusal('static/mutable'), undefined);
  assert.equal(s.failure('static/failing'), undefined);
});

test('without a hot budget there is no hot tier', () => {
  const { store: s } = store({ hotBytes: 0 });
  assert.equal(s.hasHot, false);
  assert.deepEqual(s.usage('hot'), { bytes: 0, items: 0, budgetBytes: 0 });
});
