/**
 * Hot-key admission alone (src/cache/admission.ts), with a fake clock: a key owned by another
 * node is admitted at once while memory has room for it (fits), else on its
 * HOT_AFTER_REQUESTS-th request within HOT_WINDOW_MS of its first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission, HOT_AFTER_REQUESTS, HOT_WINDOW_MS } from '../src/cache/admission.js';

test('a one-off is never admitted; a key requested twice within the window is, once', () => {
  let now = 1_000_000;
  const admission = new Admission({ clock: () => now });
  assert.equal(HOT_AFTER_REQUESTS, 2);
  admission.requested('once');
  assert.equal(admission.admit('once', false), false);
  admission.requested('hot');
  now += HOT_WINDOW_MS - 1;
  admission.requested('hot');
  assert.equal(admission.admit('hot', false), true);
  assert.equal(admission.admit('hot', false), false, 'admission starts its count again');
});

test('the window runs from the first request: later requests do not extend it', () => {
  let now = 1_000_000;
  const admission = new Admission({ clock: () => now });
  admission.requested('k');
  now += HOT_WINDOW_MS / 2;
  admission.requested('k');
  now += HOT_WINDOW_MS / 2 + 1;
  assert.equal(admission.admit('k', false), false, 'both requests are forgotten a window after the first');
  admission.requested('k');
  now += HOT_WINDOW_MS;
  admission.requested('k');
  assert.equal(admission.admit('k', false), true, 'the window ends inclusive');
});

test('forget (a purge) drops the count; candidates are bounded, least recently requested forgotten first', () => {
  const admission = new Admission({ candidates: 2, clock: () => 1_000_000 });
  admission.requested('a');
  admission.requested('a');
  admission.forget('a');
  assert.equal(admission.admit('a', false), false);
  admission.requested('x');
  admission.requested('y');
  admission.requested('z');
  admission.requested('x');
  assert.equal(admission.admit('x', false), false, 'x was pushed out by y and z, so this is its first request');
  admission.requested('z');
  assert.equal(admission.admit('z', false), true);
});

test('the threshold and window are options', () => {
  let now = 1_000_000;
  const admission = new Admission({ afterRequests: 3, windowMs: 10, clock: () => now });
  admission.requested('k');
  admission.requested('k');
  assert.equal(admission.admit('k', false), false);
  now += 10;
  admission.requested('k');
  assert.equal(admission.admit('k', false), true);
});

test('while memory has room a key is admitted on its first request; once full, the count decides again', () => {
  let now = 1_000_000;
  const admission = new Admission({ clock: () => now });
  admission.requested('k');
  assert.equal(admission.admit('k', true), true, 'room: kept at once');
  admission.requested('k');
  assert.equal(admission.admit('k', false), false, 'its count started again when it was admitted');
  now += 1;
  admission.requested('k');
  assert.equal(admission.admit('k', false), true, 'full: a second request within the window');
  assert.equal(admission.admit('never-requested', true), true, 'room needs no count at all');
});
