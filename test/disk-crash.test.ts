/**
 * What a crash can leave in a --disk-cache directory is never served wrong. A crash (kill -9, a
 * machine losing its page cache) can leave: a temporary file (never renamed), a renamed file cut
 * short, or a file whose bytes are not what was written. fast-check picks, for each stored
 * file, one of those at a random offset; a node started on the result must answer every key
 * with exactly the origin's bytes, from disk where the file survived intact, else from the origin.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { resolveConfig } from '../src/config.js';
import { startEdge } from '../src/edge.js';
import { TestOrigin } from './helpers/origins.js';
import { request } from './helpers/http.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

const KEYS = Array.from({ length: 6 }, (_, i) => `assets/part${i}-0492830483.${i % 2 ? 'js' : 'bin'}`);
let root: TempDir;
let pristine: string;
const origin = new TestOrigin();
/** The stored files, relative to the cache directory. */
let files: string[] = [];

function config(dir: string) {
  return resolveConfig({ port: '0', host: '127.0.0.1', 'disk-cache': dir, 'cache-size': '4MiB' }, {});
}

before(async () => {
  root = await tempDir('disk-crash');
  pristine = root.path('pristine');
  for (const [i, key] of KEYS.entries()) {
    // Scripts get brotli and gzip variants in their files too; binaries identity only.
    origin.put(key, i % 2 ? Buffer.from(`export const v${i} = ${JSON.stringify(randomBytes(2000).toString('hex'))};\n`) : randomBytes(5_000 + i * 7_000));
  }
  const node = await startEdge(config(pristine), { origin });
  for (const key of KEYS) assert.equal((await request(`${node.url}/${key}`, { headers: { 'accept-encoding': 'br, gzip' } })).status, 200);
  await node.close();
  for (const sub of (await readdir(pristine)).filter((n) => /^[0-9a-f]{2}$/.test(n))) {
    for (const name of await readdir(join(pristine, sub))) files.push(join(sub, name));
  }
  assert.equal(files.length, KEYS.length);
});

after(async () => {
  await root?.remove();
});

type Damage =
  | { kind: 'intact' }
  | { kind: 'truncate'; at: number }
  | { kind: 'garble'; at: number; xor: number }
  | { kind: 'zero-tail'; at: number }
  | { kind: 'temp-only' };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.constant<Damage>({ kind: 'intact' }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }),
  fc.record({ kind: fc.constant('garble' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('zero-tail' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }),
  fc.constant<Damage>({ kind: 'temp-only' }),
);

let runs = 0;

test('after any crash point, every 200 is exactly the origin\'s bytes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(damage, { minLength: KEYS.length, maxLength: KEYS.length }), async (damages) => {
      const dir = root.path(`run-${runs++}`);
      await cp(pristine, dir, { recursive: true });
      await rm(join(dir, 'lock'), { force: true });
      let damaged = 0;
      for (const [i, file] of files.entries()) {
        const path = join(dir, file);
        const bytes = await readFile(path);
        const before = Buffer.from(bytes);
        const d = damages[i]!;
        const at = d.kind === 'intact' || d.kind === 'temp-only' ? 0 : Math.floor(d.at * bytes.length);
        if (d.kind === 'truncate') await truncate(path, at);
        if (d.kind === 'garble') {
          bytes[at]! ^= d.xor;
          await writeFile(path, bytes);
        }
        if (d.kind === 'zero-tail') await writeFile(path, Buffer.concat([bytes.subarray(0, at), Buffer.alloc(bytes.length - at)]));
        if (d.kind === 'temp-only') {
          // Killed before the rename: only the temporary file exists.
          await writeFile(join(dir, 'tmp', file.split('/')[1]! + '.123.0'), bytes.subarray(0, Math.floor(bytes.length / 2)));
          await rm(path);
        }
        if (!(await readFile(path).then((after) => after.equals(before), () => false))) damaged++;
      }
      const fresh = new TestOrigin();
      for (const [key, object] of origin.objects) fresh.put(key, object.body);
      const node = await startEdge(config(dir), { origin: fresh });
      try {
        for (const key of KEYS) {
          for (const encoding of ['identity', 'br', 'gzip']) {
            const res = await request(`${node.url}/${key}`, { headers: { 'accept-encoding': encoding } });
            assert.equal(res.status, 200);
            const body = res.headers['content-encoding'] === 'br' ? (await import('node:zlib')).brotliDecompressSync(res.body) : res.headers['content-encoding'] === 'gzip' ? (await import('node:zlib')).gunzipSync(res.body) : res.body;
            assert.equal(sha(body), sha(origin.objects.get(key)!.body), `${key} (${encoding})`);
          }
        }
        // A damaged file costs one origin load (then memory has it); an intact one none.
        assert.equal(fresh.assetRequests.length, damaged);
      } finally {
        await node.close();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 25 },
  );
});

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
