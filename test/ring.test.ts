import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ring } from '../src/cluster/ring.js';

const keys = Array.from({ length: 20_000 }, (_, i) => `assets/chunk${i}-${(i * 2654435761 >>> 0).toString(16)}.js`);
const nodes = (n: number) => Array.from({ length: n }, (_, i) => `http://10.0.0.${i + 1}:8080`);

test('every node computes the same owner for a key, whatever order it lists its peers in', () => {
  const a = new Ring(nodes(5));
  const b = new Ring([...nodes(5)].reverse());
  for (const key of keys.slice(0, 2000)) assert.equal(a.owner(key), b.owner(key));
});

test('keys are spread evenly: each of 5 nodes owns close to a fifth', () => {
  const ring = new Ring(nodes(5));
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(ring.owner(key)!, (counts.get(ring.owner(key)!) ?? 0) + 1);
  for (const [node, count] of counts) {
    const share = count / keys.length;
    assert.ok(share > 0.2 * 0.75 && share < 0.2 * 1.25, `${node} owns ${share}`);
  }
  const total = [...ring.shares().values()].reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-9);
});

test('adding one node to four moves about a fifth of the keys, all of them to the new node', () => {
  const before = new Ring(nodes(4));
  const after = new Ring(nodes(5));
  let moved = 0;
  for (const key of keys) {
    const was = before.owner(key);
    const now = after.owner(key);
    if (was !== now) {
      moved++;
      assert.equal(now, nodes(5)[4], 'a key only moves to the added node');
    }
  }
  const fraction = moved / keys.length;
  assert.ok(fraction > 0.2 * 0.7 && fraction < 0.2 * 1.3, `moved ${fraction}`);
});

test('removing one of five nodes moves only the keys it owned', () => {
  const before = new Ring(nodes(5));
  const after = new Ring(nodes(5).slice(0, 4));
  const removed = nodes(5)[4];
  for (const key of keys) {
    if (before.owner(key) !== removed) assert.equal(after.owner(key), before.owner(key));
  }
});

test('the hash is injectable, and an empty ring owns nothing', () => {
  const ring = new Ring(['a', 'b'], { pointsPerNode: 4, hash: (s) => (s.startsWith('a') ? [10, 20, 30, 40] : s.startsWith('b') ? [50, 60, 70, 80] : [s === 'k1' ? 15 : 75, 0, 0, 0]) });
  assert.equal(ring.owner('k1'), 'a');
  assert.equal(ring.owner('k2'), 'b');
  assert.equal(new Ring([]).owner('x'), undefined);
});
