/** The per-second history of a node's counters (stats/history.ts), in memory with a fake clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History } from '../src/stats/history.js';

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
