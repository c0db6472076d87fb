/**
 * The in-flight registry alone (src/cache/inflight.ts): flights shared per flight key, fills
 * streamed from until they end, loads a purge marks discarded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Fill } from '../src/cache/fill.js';
import { InFlight } from '../src/cache/inflight.js';

test('one call per flight key at a time; callers meanwhile share it; a new call after it ends', async () => {
  const inflight = new InFlight<number>();
  let calls = 0;
  let release!: (n: number) => void;
  const fn = () => {
    calls++;
    return new Promise<number>((resolve) => (release = resolve));
  };
  const first = inflight.flight('k', fn);
  const second = inflight.flight('k', fn);
  const other = inflight.flight('peer:k', () => Promise.resolve(7));
  assert.deepEqual([first.shared, second.shared, other.shared], [false, true, false]);
  release(1);
  assert.deepEqual(await Promise.all([first.promise, second.promise, other.promise]), [1, 1, 7]);
  assert.equal(calls, 1);
  assert.equal(inflight.flight('k', () => Promise.resolve(2)).shared, false);
});

test('a purge marks every load of the key discarded and hides its fill; ended loads are untracked', () => {
  const inflight = new InFlight<void>();
  const a = inflight.begin('k');
  const b = inflight.begin('k');
  const other = inflight.begin('j');
  const fill = {} as Fill;
  inflight.startFill('k', fill);
  assert.equal(inflight.filling('k'), fill);
  assert.deepEqual([...inflight.loadingKeys()], ['k', 'j']);
  inflight.discard('k');
  assert.deepEqual([a.load.discarded, b.load.discarded, other.load.discarded], [true, true, false]);
  assert.equal(inflight.filling('k'), undefined);
  a.end();
  b.end();
  other.end();
  assert.deepEqual([...inflight.loadingKeys()], []);
  const c = inflight.begin('k');
  assert.equal(c.load.discarded, false, 'a load after the purge is kept');
});

test('a fill that ends removes itself, not a newer fill of the same key', () => {
  const inflight = new InFlight<void>();
  const old = {} as Fill;
  const fresh = {} as Fill;
  inflight.startFill('k', old);
  inflight.discard('k');
  inflight.startFill('k', fresh);
  inflight.endFill('k', old);
  assert.equal(inflight.filling('k'), fresh);
  inflight.endFill('k', fresh);
  assert.equal(inflight.filling('k'), undefined);
});
