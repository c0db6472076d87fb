/** The per-second history of a node's counters (stats/history.ts), in memory with a fake clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, sumHistories } from '../src/stats/history.js';

test('samples are cumulative counters with their time, oldest first, at most `length` kept', () => {
  let now = 1_000;
  let requests = 0;
  const history = new History({ read: () => ({ requests, bytesSent: requests * 10, hit: requests, originErrors: 0 }), length: 3, clock: () => now });
  for (let i = 0; i < 5; i++) {
    requests += 7;
    now += 1_000;
    history.sample();
  }
  assert.deepEqual(history.samples().map((s) => [s.t, s.requests, s.bytesSent]), [[4_000, 21, 210], [5_000, 28, 280], [6_000, 35, 350]]);
  assert.equal(history.intervalMs, 1_000);
});

test('workers\' histories sum at each whole second both cover, each worker at its latest sample', () => {
  const at = (t: number, requests: number) => ({ t, requests, bytesSent: requests * 10, hit: requests, originErrors: 0 });
  // Worker 0 samples at .2 s, worker 1 (started later) at .7 s.
  const w0 = [at(1_200, 1), at(2_200, 3), at(3_200, 6), at(4_200, 10)];
  const w1 = [at(2_700, 100), at(3_700, 200), at(4_700, 300)];
  assert.deepEqual(sumHistories([w0, w1]).map((s) => [s.t, s.requests, s.bytesSent]), [[3_000, 3 + 100, 1_030], [4_000, 6 + 200, 2_060]]);
  assert.deepEqual(sumHistories([w0, []]).map((s) => s.t), [2_000, 3_000, 4_000], 'a worker without samples yet adds nothing');
  assert.deepEqual(sumHistories([]), []);
});
