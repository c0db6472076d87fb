/**
 * The variant queue alone (src/cache/variants.ts), with a fake encoder the test completes by
 * hand and a Map for the store: a blob kept while the encoder is busy waits, oldest first, a
 * hit goes ahead, a purged or replaced blob is not given variants.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Blob } from '../src/cache/blob.js';
import type { Variants } from '../src/cache/encode.js';
import { VariantQueue, type VariantEncoder, type VariantShelf } from '../src/cache/variants.js';
import { silentLogger } from '../src/log.js';
import { blob } from './helpers/blobs.js';

/** One job at a time, no backlog: busy encoders refuse, as encoder.ts does once its backlog is full. */
class FakeEncoder implements VariantEncoder {
  readonly started: string[] = [];
  #running: { body: string; resolve: (v: Variants) => void; reject: (err: Error) => void } | undefined;
  get idle(): boolean {
    return this.#running === undefined;
  }
  get jobs(): number {
    return this.#running ? 1 : 0;
  }
  encode(body: Buffer): Promise<Variants> | undefined {
    if (!this.idle) return undefined;
    this.started.push(body.toString());
    return new Promise((resolve, reject) => (this.#running = { body: body.toString(), resolve, reject }));
  }
  /** Finishes the running job and lets the queue react. */
  async finish(error?: Error): Promise<void> {
    const job = this.#running!;
    this.#running = undefined;
    if (error) job.reject(error);
    else job.resolve({ gzip: Buffer.from(`gz(${job.body})`) });
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

class MapShelf implements VariantShelf {
  readonly blobs = new Map<string, Blob>();
  peek(key: string): Blob | undefined {
    return this.blobs.get(key);
  }
  replace(key: string, current: Blob, next: Blob): boolean {
    if (this.blobs.get(key) !== current) return false;
    this.blobs.set(key, next);
    return true;
  }
  keep(b: Blob): Blob {
    this.blobs.set(b.key, b);
    return b;
  }
}

function setup(maxPending?: number) {
  const encoder = new FakeEncoder();
  const shelf = new MapShelf();
  const queue = new VariantQueue({ encoder, shelf, log: silentLogger, ...(maxPending === undefined ? {} : { maxPending }) });
  return { encoder, shelf, queue };
}

test('encoded while the encoder is free, and kept in place of the identity-only blob', async () => {
  const { encoder, shelf, queue } = setup();
  const a = shelf.keep(blob('a', 'A'));
  const done = queue.add(a);
  assert.equal(queue.size, 1, 'one job running');
  await encoder.finish();
  await done;
  assert.equal(shelf.peek('a')?.gzip?.body.toString(), 'gz(A)');
  assert.equal(queue.size, 0);
});

test('with the encoder busy keys wait and go oldest first, each as the previous job ends', async () => {
  const { encoder, shelf, queue } = setup();
  for (const key of ['a', 'b', 'c']) void queue.add(shelf.keep(blob(key, key.toUpperCase())));
  assert.equal(queue.size, 3, 'one running, two waiting');
  await encoder.finish();
  await encoder.finish();
  await encoder.finish();
  assert.deepEqual(encoder.started, ['A', 'B', 'C']);
  assert.deepEqual([...shelf.blobs.values()].map((b) => b.gzip?.body.toString()), ['gz(A)', 'gz(B)', 'gz(C)']);
  assert.equal(queue.size, 0);
});

test('a hit sends a waiting key ahead of older ones, once the encoder is free', async () => {
  const { encoder, shelf, queue } = setup();
  for (const key of ['a', 'b', 'c']) void queue.add(shelf.keep(blob(key, key.toUpperCase())));
  queue.hit('c', shelf.peek('c')!);
  assert.deepEqual(encoder.started, ['A'], 'not while the encoder is busy');
  encoder.finish().catch(() => {});
  // The job ended; before the queue starts the next, a hit takes the free encoder.
  queue.hit('c', shelf.peek('c')!);
  await Promise.resolve();
  assert.deepEqual(encoder.started.slice(0, 2), ['A', 'C']);
  await encoder.finish();
  await encoder.finish();
  assert.deepEqual(encoder.started, ['A', 'C', 'B']);
});

test('a key dropped by the store (forget) or replaced meanwhile is not encoded or not overwritten', async () => {
  const { encoder, shelf, queue } = setup();
  const a = shelf.keep(blob('a', 'A'));
  void queue.add(a);
  void queue.add(shelf.keep(blob('b', 'B')));
  void queue.add(shelf.keep(blob('c', 'C')));
  queue.forget('b');
  shelf.blobs.delete('c');
  const refill = shelf.keep(blob('a', 'A2'));
  await encoder.finish();
  assert.equal(shelf.peek('a'), refill, 'the refilled blob was not replaced by the old one with variants');
  assert.deepEqual(encoder.started, ['A'], 'b forgotten, c no longer cached');
  assert.equal(queue.size, 0);
});

test('a failed encoding leaves the blob identity-only and the queue goes on', async () => {
  const { encoder, shelf, queue } = setup();
  void queue.add(shelf.keep(blob('a', 'A')));
  void queue.add(shelf.keep(blob('b', 'B')));
  await encoder.finish(new Error('zlib'));
  assert.equal(shelf.peek('a')?.gzip, undefined);
  await encoder.finish();
  assert.equal(shelf.peek('b')?.gzip?.body.toString(), 'gz(B)');
});

test('at most maxPending keys wait; beyond, blobs stay identity-only', async () => {
  const { encoder, shelf, queue } = setup(1);
  for (const key of ['a', 'b', 'c']) void queue.add(shelf.keep(blob(key, key.toUpperCase())));
  assert.equal(queue.size, 2, 'one running, one waiting, c dropped');
  await encoder.finish();
  await encoder.finish();
  assert.deepEqual(encoder.started, ['A', 'B']);
  assert.equal(shelf.peek('c')?.gzip, undefined);
});
