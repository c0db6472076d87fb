/**
 * Which eviction policy for the disk tier: SIEVE (src/cache/disk/sieve.ts, what the tier uses)
 * against LRU (lru-cache, what the memory tier uses), simulated over the bench corpus's paths
 * and sizes under the bench's Zipf workload, at byte budgets of 5-50% of the corpus. The same
 * seeded request sequence feeds both. A second run interleaves a scan (every path once, as a
 * crawler or a cache-warming script does) with the Zipf stream, where LRU is known to suffer.
 *
 *   npx tsx bench/disk-policy.ts [requests=2000000] [dir=/tmp/hashedge-bench]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LRUCache } from 'lru-cache';
import { Sieve } from '../src/cache/disk/sieve.js';
import { zipfSampler } from './lib/zipf.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const REQUESTS = Number(args.requests ?? 2_000_000);
const DIR = args.dir ?? '/tmp/hashedge-bench';
const KIT = fileURLToPath(new URL('./kit/', import.meta.url));

interface Policy {
  /** Whether path was cached (a hit); on a miss the caller inserts it. */
  lookup(path: string): boolean;
  insert(path: string, bytes: number): void;
}

function sievePolicy(budget: number): Policy {
  const sieve = new Sieve<true>();
  return {
    lookup: (path) => sieve.get(path) !== undefined,
    insert(path, bytes) {
      if (bytes > budget) return;
      while (sieve.bytes + bytes > budget) sieve.evict();
      sieve.set(path, true, bytes);
    },
  };
}

function lruPolicy(budget: number): Policy {
  const lru = new LRUCache<string, true>({ maxSize: budget, sizeCalculation: (_v, k) => sizes.get(k)! });
  return {
    lookup: (path) => lru.get(path) !== undefined,
    insert: (path) => void lru.set(path, true),
  };
}

function run(policy: Policy, sequence: readonly string[]): { objects: number; bytes: number } {
  let hits = 0;
  let hitBytes = 0;
  let totalBytes = 0;
  for (const path of sequence) {
    const bytes = sizes.get(path)!;
    totalBytes += bytes;
    if (policy.lookup(path)) {
      hits++;
      hitBytes += bytes;
    } else policy.insert(path, bytes);
  }
  return { objects: hits / sequence.length, bytes: hitBytes / totalBytes };
}

if (!existsSync(join(DIR, 'paths.txt'))) execFileSync('python3', [join(KIT, 'make_corpus.py'), join(DIR, 'origin'), '2000'], { stdio: 'inherit' });
const paths = readFileSync(join(DIR, 'paths.txt'), 'utf8').split('\n').filter((p) => p && !p.endsWith('.mp4'));
const sizes = new Map(paths.map((p) => [p, statSync(join(DIR, 'origin', p)).size]));
const corpusBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
void readdirSync;

const rows: string[] = [];
for (const [label, s, scan] of [['Zipf s=1', 1, false], ['Zipf s=0.8', 0.8, false], ['Zipf s=1 + a scan every 100,000 requests', 1, true]] as const) {
  const draw = zipfSampler(paths.length, s, 0x5eed);
  const sequence: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    sequence.push(paths[draw()]!);
    // A scan: every path once, in reverse popularity (least popular first), as a crawler would.
    if (scan && i % 100_000 === 99_999) for (let j = paths.length - 1; j >= 0; j--) sequence.push(paths[j]!);
  }
  // The first pass fills the cache: measured after the first 10% of requests.
  for (const share of [0.05, 0.1, 0.25, 0.5]) {
    const budget = Math.floor(corpusBytes * share);
    const warm = Math.floor(sequence.length / 10);
    const measure = (policy: Policy) => {
      run(policy, sequence.slice(0, warm));
      return run(policy, sequence.slice(warm));
    };
    const lru = measure(lruPolicy(budget));
    const sieve = measure(sievePolicy(budget));
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    rows.push(`| ${label} | ${Math.round(share * 100)}% (${(budget / 2 ** 20).toFixed(0)} MiB) | ${pct(lru.objects)} | ${pct(sieve.objects)} | ${pct(lru.bytes)} | ${pct(sieve.bytes)} |`);
  }
}
console.log(`Disk tier eviction policy: ${paths.length} corpus paths, ${(corpusBytes / 2 ** 20).toFixed(0)} MiB; ${REQUESTS.toLocaleString('en')} requests (first 10% warm the cache, not counted).`);
console.log();
console.log('| workload | budget (of corpus) | LRU hits | SIEVE hits | LRU byte hits | SIEVE byte hits |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const row of rows) console.log(row);
