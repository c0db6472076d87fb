/**
 * The disk tier's hand-written SIEVE (src/cache/disk/sieve.ts) against a plain model: after
 * any sequence of sets, gets, deletes and evictions, it holds exactly the model's entries and
 * bytes; an eviction takes an entry that was not visited since the hand last passed it, and
 * a visited entry survives one pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Sieve } from '../src/cache/disk/sieve.js';

type Op = { kind: 'set'; id: number; bytes: number } | { kind: 'get'; id: number } | { kind: 'delete'; id: number } | { kind: 'evict' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 20 }), bytes: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ kind: fc.constant('get' as const), id: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 20 }) }),
  fc.constant<Op>({ kind: 'evict' }),
);

test('SIEVE holds exactly what a model holds, after any operations', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const sieve = new Sieve<number>();
      const model = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          sieve.set(String(o.id), o.id, o.bytes);
          model.set(String(o.id), o.bytes);
        } else if (o.kind === 'get') {
          assert.equal(sieve.get(String(o.id)), model.has(String(o.id)) ? o.id : undefined);
        } else if (o.kind === 'delete') {
          assert.equal(sieve.delete(String(o.id)), model.delete(String(o.id)));
        } else {
          const victim = sieve.evict();
          assert.equal(victim === undefined, model.size === 0);
          if (victim !== undefined) {
            assert.equal(victim.bytes, model.get(victim.id));
            model.delete(victim.id);
          }
        }
        assert.equal(sieve.size, model.size);
        assert.equal(sieve.bytes, [...model.values()].reduce((a, b) => a + b, 0));
        assert.deepEqual(new Set(sieve.ids()), new Set(model.keys()));
      }
    }),
    { numRuns: 300 },
  );
});

test('a visited entry survives the next eviction; unvisited ones go oldest first', () => {
  const sieve = new Sieve<string>();
  for (const id of ['a', 'b', 'c', 'd']) sieve.set(id, id, 1);
  sieve.get('a'); // the oldest, but requested
  assert.equal(sieve.evict()?.id, 'b');
  assert.equal(sieve.evict()?.id, 'c');
  // 'a' lost its bit to the first pass; 'd' is requested now: the hand clears 'd', wraps, and takes 'a'.
  sieve.get('d');
  assert.equal(sieve.evict()?.id, 'a');
  assert.equal(sieve.evict()?.id, 'd');
  assert.equal(sieve.evict(), undefined);
});
