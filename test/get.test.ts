/** `hashedge get` against real nodes: the report an operator reads, and --verify's verdict. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Ring } from '../src/cluster/ring.js';
import type { Edge } from '../src/edge.js';
import { startCluster } from './helpers/cluster.js';
import { TestOrigin } from './helpers/origins.js';
import { runCli } from './helpers/cli.js';

const hashedgeGet = (args: string[]) => runCli(['get', ...args]);

const field = (stdout: string, label: string) => new RegExp(`^${label}\\s+(.*)$`, 'm').exec(stdout)?.[1];
const sha256Hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test('get prints status, cache status, the owner node, timings and headers; --verify passes for honest bytes', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(2, origin);
  try {
    const bytes = Buffer.from('export const honest = true;\n');
    // Named as hashedge upload names files: the bytes' SHA-256 prefix.
    const key = `assets/honest-${sha256Hex(bytes).slice(0, 10)}.js`;
    origin.put(key, bytes);
    const owner = new Ring(nodes.map((n) => n.cluster!.self)).owner(key);
    const asked = nodes.find((n) => n.cluster!.self !== owner) as Edge;
    const { code, stdout } = await hashedgeGet([`${asked.url}/${key}`, '--verify']);
    assert.equal(code, 0, stdout);
    assert.equal(field(stdout, 'status'), '200 OK');
    assert.match(field(stdout, 'cache')!, /^hashedge; fwd=miss/);
    assert.equal(field(stdout, 'owner'), owner);
    assert.match(field(stdout, 'ttfb')!, /^\d+\.\d ms$/);
    assert.equal(field(stdout, 'bytes'), String(bytes.length));
    assert.equal(field(stdout, 'verify'), `ok: length ${bytes.length}; SHA-256 as stored; ETag; the name's hash`);
    assert.equal(field(stdout, 'immutable'), `yes; name: hex hash ${key.slice(14, 24)}`);
    assert.match(stdout, /^cache-control: public, max-age=31536000, immutable$/im);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('get says why an asset is immutable, and --verify checks what it can of a name without a hash (as information)', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(1, origin, { immutable: 'fonts/**' });
  try {
    origin.put('fonts/inter-regular.woff2', 'not really a font');
    const { code, stdout } = await hashedgeGet([`${nodes[0]!.url}/fonts/inter-regular.woff2`, '--verify']);
    assert.equal(code, 0, stdout);
    assert.equal(field(stdout, 'immutable'), 'yes; rule --immutable fonts/**');
    assert.equal(field(stdout, 'verify'), 'ok: length 17; SHA-256 as stored; ETag; no hash in the name to check');
    // Refused: the edge's verdict says why, and the exit code is 1.
    origin.put('fonts/readme.txt', 'x');
    const refused = await hashedgeGet([`${nodes[0]!.url}/fonts-extra/readme.txt`]);
    assert.equal(refused.code, 1);
    assert.match(field(refused.stdout, 'immutable')!, /^no; no evidence/);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('get --verify exits 1 when the bytes do not hash to the name; a 404 exits 1 too', async () => {
  const origin = new TestOrigin();
  const nodes = await startCluster(1, origin);
  try {
    const key = `assets/tampered-${sha256Hex(Buffer.from('original')).slice(0, 10)}.js`;
    origin.put(key, 'tampered');
    const tampered = await hashedgeGet([`${nodes[0]!.url}/${key}`, '--verify']);
    assert.equal(tampered.code, 1);
    assert.match(field(tampered.stdout, 'verify')!, /^FAILED: the body's SHA-256 \w+… does not start with the name's hash/);
    const missing = await hashedgeGet([`${nodes[0]!.url}/assets/missing-0492830483.js`]);
    assert.equal(missing.code, 1);
    assert.equal(field(missing.stdout, 'status'), '404 Not Found');
    const bad = await hashedgeGet(['ftp://example.com/x.js']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected an http\(s\) URL/);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
