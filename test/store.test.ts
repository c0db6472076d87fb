/**
 * The store alone (src/cache/store.ts), in memory with a fake clock: the two LRUs within one
 * byte budget (hot borrowing what main leaves free, and giving it back first), evictions counted
 * and reported to the reclaimer, expiry of blobs that are not immutable, the negative caches,
 * purge and purgePrefix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store, type StoreCounters, type StoreOptions } from '../src/cache/store.js';
import { EdgeError } from '../src/errors.js';
import { blob, BLOB_OVERHEAD_BYTES } from './helpers/blobs.js';

/** The size of blob(key, 'x'.repeat(100)). */
const UNIT = BLOB_OVERHEAD_BYTES + 100;
const unit = (key: string) => blob(key, 'x'.repeat(100));

function store(options: Partial<StoreOptions> = {}): { store: Store; counters: StoreCounters; dropped: number[]; disposed: string[]; clock: { now: number } } {
  const counters = { evictions: 0, hotHits: 0 };
  const dropped: number[] = [];
  const disposed: string[] = [];
  const clock = { now: 1_000_000 };
  const s = new Store({
    budgetBytes: 12 * UNIT, hotShareBytes: 2 * UNIT, negativeTtl: 1_000, errorTtl: 500,
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

test('the main tier keeps within the budget less the hot share: least recently used evicted, counted, its bytes reported, its key disposed', () => {
  const { store: s, counters, dropped, disposed } = store();
  const blobs = Array.from({ length: 11 }, (_, i) => unit(`k${i}`));
  for (const b of blobs) s.set('main', b.key, b);
  assert.deepEqual(s.usage('main'), { bytes: 10 * UNIT, items: 10, budgetBytes: 10 * UNIT });
  assert.equal(s.peek('k0'), undefined, 'the oldest went');
  assert.equal(counters.evictions, 1);
  assert.deepEqual(dropped, [UNIT]);
  assert.deepEqual(disposed, ['k0']);
});

test('hot borrows the room main leaves free; a main fill takes it back from the least recently used hot entries, never evicting main', () => {
  const { store: s, counters, disposed } = store();
  const within = () => assert.ok(s.usage('main').bytes + s.usage('hot').bytes <= 12 * UNIT, 'main + hot never exceed the budget');
  for (let i = 0; i < 6; i++) {
    assert.equal(s.set('hot', `h${i}`, unit(`h${i}`)), true);
    within();
  }
  assert.deepEqual(s.usage('hot'), { bytes: 6 * UNIT, items: 6, budgetBytes: 2 * UNIT }, 'three times its share, borrowed; its budget is the guaranteed share');
  assert.equal(counters.evictions, 0);
  assert.ok(s.get('h0'), 'h0 used again: now the most recent');
  for (let i = 0; i < 9; i++) {
    s.set('main', `m${i}`, unit(`m${i}`));
    within();
  }
  assert.deepEqual(disposed, ['h1', 'h2', 'h3'], 'hot gave back its least recently used entries');
  assert.equal(s.usage('hot').bytes, 3 * UNIT);
  s.set('main', 'm9', unit('m9'));
  within();
  assert.deepEqual(s.usage('hot'), { bytes: 2 * UNIT, items: 2, budgetBytes: 2 * UNIT }, 'down to its share');
  assert.deepEqual(disposed, ['h1', 'h2', 'h3', 'h4']);
  s.set('main', 'm10', unit('m10'));
  within();
  assert.deepEqual(disposed.slice(4), ['m0'], 'main full: it evicts its own, and hot keeps its share');
  assert.ok(s.peek('h0') && s.peek('h5'));
  for (let i = 1; i <= 10; i++) assert.ok(s.peek(`m${i}`), `m${i} kept: no main entry went because hot borrowed`);
  assert.equal(counters.evictions, 5);
});

test('with main full, hot keeps within its share; fits() says whether bytes fit without evicting anything', () => {
  const { store: s, disposed } = store();
  assert.equal(s.fits(12 * UNIT), true);
  assert.equal(s.fits(12 * UNIT + 1), false);
  for (let i = 0; i < 10; i++) s.set('main', `m${i}`, unit(`m${i}`));
  assert.equal(s.fits(2 * UNIT), true);
  for (let i = 0; i < 3; i++) s.set('hot', `h${i}`, unit(`h${i}`));
  assert.deepEqual(disposed, ['h0']);
  assert.equal(s.usage('hot').bytes, 2 * UNIT);
  assert.equal(s.fits(1), false);
  const big = blob('big', 'x'.repeat(3 * UNIT));
  assert.equal(s.set('hot', 'big', big), false, 'larger than what hot may use: not kept, and set says so');
  assert.equal(s.peek('big'), undefined);
  assert.equal(s.usage('main').items, 10);
});

test('variants that grow a hot entry are given back from hot: its least recently used entry goes, main stays', () => {
  const { store: s } = store();
  for (let i = 0; i < 10; i++) s.set('main', `m${i}`, unit(`m${i}`));
  s.set('hot', 'h', unit('h'));
  s.set('hot', 'g', unit('g'));
  assert.equal(s.fits(1), false);
  const g = s.peek('g')!;
  const richer = g.withVariants({ gzip: Buffer.alloc(100) });
  assert.equal(s.replace('g', g, richer), true);
  assert.ok(s.usage('main').bytes + s.usage('hot').bytes <= 12 * UNIT);
  assert.equal(s.peek('h'), undefined, 'the least recently used hot entry went');
  assert.equal(s.peek('g'), richer);
  assert.equal(s.usage('main').items, 10);
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
  const { store: s } = store({ hotShareBytes: 0 });
  assert.equal(s.hasHot, false);
  assert.deepEqual(s.usage('hot'), { bytes: 0, items: 0, budgetBytes: 0 });
});
