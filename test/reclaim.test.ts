/**
 * Evicted bodies' memory goes back to the system soon after eviction, not whenever V8 next
 * decides to collect (src/cache/reclaim.ts): what keeps an edge's resident set near its budget
 * under a working set larger than the cache.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reclaimer, RECLAIM_MIN_BYTES } from '../src/cache/reclaim.js';

const MiB = 1024 * 1024;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the threshold is 8 MiB or 5% of the budget, whichever is larger', () => {
  assert.equal(Reclaimer.thresholdFor(45 * MiB), RECLAIM_MIN_BYTES);
  assert.equal(Reclaimer.thresholdFor(1024 * MiB), Math.floor(1024 * MiB * 0.05));
});

test('a full GC is asked for once per threshold dropped, on a later turn, never twice at once', async () => {
  let collections = 0;
  const reclaimer = new Reclaimer({ thresholdBytes: 10 * MiB, collect: () => collections++, minIntervalMs: 0 });
  reclaimer.dropped(6 * MiB);
  await nextTurn();
  assert.equal(collections, 0, 'below the threshold nothing happens');
  reclaimer.dropped(6 * MiB);
  reclaimer.dropped(20 * MiB);
  // Not while the evicting caller still runs: its stack may hold the dropped blob.
  assert.equal(collections, 0);
  await nextTurn();
  assert.equal(collections, 1, 'drops before the GC ran share it');
  assert.equal(reclaimer.collections, 1);
  reclaimer.dropped(9 * MiB);
  await nextTurn();
  assert.equal(collections, 1, 'the count starts again after a GC');
});

test('under heavy churn GCs are spaced by the minimum interval, the drops in between wait for the next', async () => {
  const collectedAt: number[] = [];
  let collected: () => void = () => {};
  const reclaimer = new Reclaimer({
    thresholdBytes: MiB,
    minIntervalMs: 200,
    collect: () => {
      collectedAt.push(performance.now());
      collected();
    },
  });
  reclaimer.dropped(2 * MiB);
  await nextTurn();
  assert.equal(collectedAt.length, 1, 'the first GC is not held back');
  const second = new Promise<void>((resolve) => (collected = resolve));
  for (let i = 0; i < 50; i++) reclaimer.dropped(2 * MiB);
  await nextTurn();
  assert.equal(collectedAt.length, 1, 'a second threshold right after waits for the interval');
  // The reclaimer's timer is unref'd (it must not keep a stopping edge alive); this one keeps
  // the test's event loop running meanwhile and fails it if the GC never comes.
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([second, new Promise((_, reject) => (guard = setTimeout(() => reject(new Error('no second GC within 5 s')), 5000)))]);
  clearTimeout(guard);
  assert.equal(collectedAt.length, 2, '50 thresholds dropped within the interval share one GC');
  assert.ok(collectedAt[1]! - collectedAt[0]! >= 199, `GCs ${collectedAt[1]! - collectedAt[0]!} ms apart`);
  assert.equal(reclaimer.collections, 2);
});

test('without a GC function it does nothing (memory goes back when V8 decides)', async () => {
  const reclaimer = new Reclaimer({ thresholdBytes: 1, collect: undefined });
  assert.equal(reclaimer.enabled, false);
  reclaimer.dropped(100 * MiB);
  await nextTurn();
  assert.equal(reclaimer.collections, 0);
});

test("on this Node, the GC it asks for frees evicted bodies' memory, which V8 alone leaves held", async () => {
  const reclaimer = new Reclaimer({ thresholdBytes: 1, minIntervalMs: 0 });
  assert.equal(reclaimer.enabled, true, 'V8 gave hashedge its gc function');
  const external = () => process.memoryUsage().external;
  let bodies: Buffer[] | undefined = Array.from({ length: 64 }, (_, i) => Buffer.allocUnsafeSlow(MiB).fill(i));
  // Cached bodies are old: two full GCs while they are held move them to the old generation.
  for (let i = 0; i < 2; i++) {
    reclaimer.dropped(1);
    await nextTurn();
  }
  const held = external();
  assert.equal(bodies.length, 64);
  bodies = undefined; // evicted
  // Left to itself V8 keeps them: young-generation collections, which the allocations of a
  // few hundred event-loop turns bring, do not look at old objects.
  for (let i = 0; i < 300; i++) {
    await nextTurn();
    Array.from({ length: 100 }, (_, j) => ({ j }));
  }
  assert.ok(external() >= held - MiB, 'without a full GC the memory stays held');
  reclaimer.dropped(64 * MiB);
  // V8 frees backing stores on a helper thread right after the collection: wait for it.
  const deadline = Date.now() + 10_000;
  while (external() > held - 48 * MiB) {
    assert.ok(Date.now() < deadline, `external memory ${external()} 10 s after the GC, ${held} before`);
    await nextTurn();
  }
  assert.equal(reclaimer.collections, 3);
});
