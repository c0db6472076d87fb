/**
 * Content integrity: a body that does not hash to what its origin stored with it (S3 metadata
 * from `hashedge upload`), or, with --verify-names, to the hash in its name, is refused with
 * 502 E_ORIGIN_INTEGRITY and never cached; the next request tries the origin again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { RETRY_AT_ONCE, startTestEdge } from './helpers/edge.js';
import { errorCode, request } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const sha256Hex = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

test('a body that does not match the SHA-256 stored with it is a 502 and is not cached', async () => {
  const origin = new TestOrigin();
  const key = 'assets/app-0492830483.js';
  origin.put(key, 'corrupted on the way', { sha256: sha256Hex('what was uploaded') });
  const node = await startTestEdge(RETRY_AT_ONCE, origin);
  try {
    const res = await request(`${node.url}/${key}`);
    assert.equal(res.status, 502);
    assert.equal(errorCode(res), 'E_ORIGIN_INTEGRITY');
    assert.equal(node.group.cacheItems, 0);
    // The origin is repaired: the next request loads again and succeeds.
    origin.put(key, 'what was uploaded', { sha256: sha256Hex('what was uploaded') });
    const again = await request(`${node.url}/${key}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), 'what was uploaded');
    assert.equal(origin.count(key), 2);
  } finally {
    await node.close();
  }
});

test('a large object that fails its check mid-stream cuts the connection instead of finishing it, and is not cached', async () => {
  const origin = new TestOrigin();
  const key = 'media/clip-0492830483.bin';
  const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
  origin.put(key, bytes, { sha256: sha256Hex('something else') });
  const node = await startTestEdge({}, origin);
  try {
    // The 200's headers are committed before the last byte can be checked, so the only honest
    // signal left is a cut connection: before the headers even left (socket hang up) or mid-body.
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve) => {
      get(`${node.url}/${key}`, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve({ bytes: n, complete: res.complete }));
        res.on('error', () => resolve({ bytes: n, complete: false }));
      }).on('error', () => resolve({ bytes: 0, complete: false }));
    });
    assert.equal(received.complete, false, 'the client can tell it did not get the object');
    assert.ok(received.bytes < bytes.length);
    assert.equal(node.group.cacheItems, 0);
  } finally {
    await node.close();
  }
});

test('--verify-names refuses a body whose SHA-256 does not start with the hex hash in its name', async () => {
  const origin = new TestOrigin();
  const honest = Buffer.from('honest bytes');
  const good = `assets/good-${sha256Hex(honest).slice(0, 10)}.js`;
  const bad = `assets/bad-${sha256Hex('other bytes').slice(0, 10)}.js`;
  const vite = 'assets/index-BwT4yKxK.js'; // not a hex hash: nothing to check
  origin.put(good, honest);
  origin.put(bad, honest);
  origin.put(vite, 'vite');
  const node = await startTestEdge({ 'verify-names': 'true' }, origin);
  try {
    assert.equal((await request(`${node.url}/${good}`)).status, 200);
    const refused = await request(`${node.url}/${bad}`);
    assert.equal(refused.status, 502);
    assert.equal(errorCode(refused), 'E_ORIGIN_INTEGRITY');
    assert.equal((await request(`${node.url}/${vite}`)).status, 200);
    assert.equal(node.group.cacheItems, 2);
  } finally {
    await node.close();
  }
  // Without the flag, names are not checked (bundlers hash with functions of their own).
  const lenient = await startTestEdge({}, origin);
  try {
    assert.equal((await request(`${lenient.url}/${bad}`)).status, 200);
  } finally {
    await lenient.close();
  }
});
