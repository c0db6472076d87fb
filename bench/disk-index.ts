/**
 * Warm start of the disk tier: how long DiskTier.open takes to index a directory of `objects`
 * records (lock, tmp/ cleared, 256 listings parsed; no file read). The records are real ones
 * (record.ts), 1-3 KB each, written once into `dir` and reused by later runs. Run it with a cold
 * page cache too (`sync; echo 3 > /proc/sys/vm/drop_caches` as root) to see the disk's share.
 *
 *   npx tsx bench/disk-index.ts [objects=100000] [dir=/tmp/hashedge-bench/disk-index] [runs=3]
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Blob } from '../src/cache/blob.js';
import { encodeRecord, hashKey, recordName } from '../src/cache/disk/record.js';
import { DiskTier } from '../src/cache/disk/tier.js';
import { silentLogger } from '../src/log.js';
import { createHash } from 'node:crypto';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const OBJECTS = Number(args.objects ?? 100_000);
const DIR = args.dir ?? `/tmp/hashedge-bench/disk-index-${OBJECTS}`;
const RUNS = Number(args.runs ?? 3);

if (!existsSync(join(DIR, 'ready'))) {
  process.stderr.write(`writing ${OBJECTS} records into ${DIR}\n`);
  await mkdir(DIR, { recursive: true });
  for (let i = 0; i < 256; i++) await mkdir(join(DIR, i.toString(16).padStart(2, '0')), { recursive: true });
  for (let i = 0; i < OBJECTS; i += 256) {
    await Promise.all(
      Array.from({ length: Math.min(256, OBJECTS - i) }, async (_, j) => {
        const key = `assets/object${i + j}-0492830483.js`;
        const body = Buffer.from(`export const v = ${i + j};\n`.repeat(50 + ((i + j) % 100)));
        const blob = new Blob({ key, body, sha256: createHash('sha256').update(body).digest('hex'), contentType: 'text/javascript; charset=utf-8', lastModified: undefined, storedAt: Date.now(), expiresAt: 0, compressible: true, immutability: 'bench' });
        const { chunks, bytes } = encodeRecord(blob);
        const keyHash = hashKey(key);
        await writeFile(join(DIR, keyHash.slice(0, 2), recordName(keyHash, bytes)), Buffer.concat(chunks));
      }),
    );
  }
  await writeFile(join(DIR, 'ready'), '');
}

const times: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const started = performance.now();
  const tier = await DiskTier.open({ dir: DIR, budgetBytes: 100 * 2 ** 30, maxObjectBytes: 32 * 2 ** 20, log: silentLogger });
  times.push(performance.now() - started);
  const { objects, bytes } = tier.status();
  if (objects !== OBJECTS) throw new Error(`indexed ${objects} objects, expected ${OBJECTS}`);
  await tier.close();
  process.stderr.write(`run ${run + 1}: ${objects} objects, ${(bytes / 2 ** 20).toFixed(0)} MiB indexed in ${times.at(-1)!.toFixed(0)} ms\n`);
}
console.log(`| disk tier warm start: ${OBJECTS.toLocaleString('en')} objects indexed | ${times.map((t) => `${(t / 1000).toFixed(2)} s`).join(', ')} | target < 5 s |`);
