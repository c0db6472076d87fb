/**
 * `npm run bench`: hashedge against nginx, Varnish, groupcache (Go) and bare Node, same
 * workloads, same run, servers on CPU 1 and wrk on CPU 0 (shared/bench method). Prints one
 * Markdown table per workload with the ratio of hashedge to each anchor; bench/README.md
 * explains how to read it.
 *
 *   npm run bench [-- seconds=10 warmup=3 connections=64 rounds=3 only=small,zipf dir=/tmp/hashedge-bench]
 *
 * Workloads: small (hot 1990 B asset), zipf, cluster (3-node Zipf), herd (cold keys across 3
 * nodes: origin fetches), large (8 MB cold: first byte vs the origin's), memory (working set
 * 3x the cache, for the kit's corpus and one 4x larger), workers (--workers 2 vs 1, and nginx
 * static with 2 workers), disk (working set 4x --cache-size, --disk-cache 8x: vs memory only and
 * nginx proxy_cache), disk-hit (the same load answered from memory, from the disk tier and from
 * files: rps and CPU per request against memory hits), restart (origin loads in the first 10 s after a restart, disk tier vs
 * memory only vs nginx), handover (a conditional, a Range, a 404 and a CORS preflight OPTIONS on
 * the hot asset, which the fast lane holds for the asset handler, and a DELETE, which it hands to
 * node:http: with the lane vs --fast-lane=off).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  availability,
  INSTALL,
  startGroupcache,
  startNginx,
  startNginxH2,
  startNodeBaseline,
  startNodeLru,
  startVarnish,
  type Availability,
  type BenchEnv,
} from './lib/anchors.js';
import { startHashedge, type Hashedge } from './lib/hashedge.js';
import { connectionSpread, has, residentMemory } from './lib/proc.js';
import { median, roundsRow, table, throughputTable, verdict, type Row } from './lib/table.js';
import { wrk, wrkSpread, type Load, type LoadResult } from './lib/wrk.js';
import { benchCertificate, h2load, type H2LoadResult } from './lib/h2load.js';
import { freePort } from './lib/proc.js';
import { startS3Server, S3RVER_CREDENTIALS } from '../test/helpers/s3-server.js';

const KIT = fileURLToPath(new URL('./kit/', import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SECONDS = Number(args.seconds ?? 10);
const WARMUP = Number(args.warmup ?? 3);
const CONNECTIONS = Number(args.connections ?? 64);
/** Rounds of the small and Zipf workloads (every server measured once per round). */
const ROUNDS = Number(args.rounds ?? 3);
const WORKLOADS = ['small', 'zipf', 'h2', 'cluster', 'herd', 'large', 'memory', 'workers', 'disk', 'disk-hit', 'restart', 'handover'] as const;
type Workload = (typeof WORKLOADS)[number];
const ONLY = new Set((args.only ?? WORKLOADS.join(',')).split(',') as Workload[]);
const env: BenchEnv = { dir: args.dir ?? '/tmp/hashedge-bench', serverCpus: '1' };
const ORIGIN = join(env.dir, 'origin');
/** The memory workload's second corpus: 4x the kit's (~490 MB), for a ~160 MiB cache. */
const BIG_CORPUS_COUNT = 8000;
const BIG_CORPUS = join(env.dir, 'big');
/** The kit's small hot asset: a 1990-byte css file. */
const HOT_PATH = '/asset00140-68ac0ac684.css';

const out: string[] = [];
function print(text = ''): void {
  process.stdout.write(text + '\n');
  out.push(text);
}

async function main(): Promise<void> {
  for (const w of ONLY) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}; expected some of ${WORKLOADS.join(',')}`);
  if (!has('wrk')) {
    console.error(`wrk is needed for every throughput workload: ${INSTALL.wrk}`);
    process.exit(2);
  }
  ensureCorpus();
  const avail = availability();
  const skipped = (Object.keys(avail) as (keyof Availability)[]).filter((k) => !avail[k]);
  print(`# hashedge benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  print();
  print(`Machine: ${machine()}. Node ${process.version}. Servers on CPU ${env.serverCpus}, wrk -t1 on CPU 0; ${WARMUP} s warm-up then ${SECONDS} s measured per server; ${CONNECTIONS} connections.`);
  print(`Corpus: ${corpusSummary()} (${env.dir}).`);
  if (skipped.length > 0) print(`Skipped anchors (not installed): ${skipped.map((k) => `${k} (\`${INSTALL[k]}\`)`).join(', ')}.`);
  print();

  if (ONLY.has('small')) await throughput('Small hot asset', 'the 1990-byte css, requested over and over', write1(HOT_PATH), avail, false);
  if (ONLY.has('zipf')) await throughput('Zipf mixed', `Zipf s=1 over the ${countPaths()} corpus paths, caches pre-warmed with one pass`, join(env.dir, 'paths.txt'), avail, true);
  if (ONLY.has('h2')) await http2(avail);
  if (ONLY.has('cluster')) await cluster(avail);
  if (ONLY.has('herd')) await herd(avail);
  if (ONLY.has('large')) await large(avail);
  if (ONLY.has('memory')) await memory();
  if (ONLY.has('workers')) await workers(avail);
  if (ONLY.has('disk')) await diskTier(avail);
  if (ONLY.has('disk-hit')) await diskHit();
  if (ONLY.has('restart')) await restart(avail);
  if (ONLY.has('handover')) await handover();
  writeFileSync(join(env.dir, 'last-run.md'), out.join('\n') + '\n');
  process.stderr.write(`\n(the tables above are also in ${join(env.dir, 'last-run.md')})\n`);
}

/** Warm-up then measured wrk run; `serverCpu`: whether the server CPUs are only the servers'. */
async function measure(url: string | readonly string[], load: Omit<Load, 'seconds' | 'connections'>, serverCpu = true): Promise<LoadResult> {
  const full: Omit<Load, 'seconds'> = { ...load, connections: CONNECTIONS, ...(serverCpu && load.serverCpus === undefined ? { serverCpus: env.serverCpus } : {}) };
  const run = (seconds: number) => (typeof url === 'string' ? wrk(url, { ...full, seconds }) : wrkSpread(url, { ...full, seconds }));
  await run(WARMUP);
  return run(SECONDS);
}

interface Target {
  readonly name: string;
  start(): Promise<{ url: string; stop(): Promise<void>; settled?(): Promise<void> }>;
}

/** Small hot and Zipf: every server alone on the server CPU, one after the other. */
async function throughput(title: string, what: string, paths: string, avail: Availability, prewarm: boolean): Promise<void> {
  print(`## ${title}`);
  print();
  print(`${what}.`);
  print();
  const nginx = avail.nginx ? await startNginx(env, { edges: 1 }) : undefined;
  const targets: Target[] = [
    { name: 'hashedge', start: async () => { const h = await startHashedge(env, { origin: ORIGIN }); return { url: h.urls[0]!, stop: h.stop, settled: h.settled }; } },
    // node:http parses every request, as before the fast lane.
    { name: 'hashedge --fast-lane=off', start: async () => { const h = await startHashedge(env, { origin: ORIGIN, extraArgs: ['--fast-lane', 'off'] }); return { url: h.urls[0]!, stop: h.stop, settled: h.settled }; } },
    { name: 'node:http bare from a Map', start: () => startNodeBaseline(env, 'bare-memory') },
  ];
  if (nginx) {
    targets.push({ name: 'nginx static', start: async () => ({ url: nginx.staticUrl, stop: async () => {} }) });
    targets.push({ name: 'nginx proxy_cache', start: async () => ({ url: nginx.edgeUrls[0]!, stop: async () => {} }) });
    if (avail.varnish) targets.push({ name: 'Varnish (malloc)', start: () => startVarnish(env, 'single', nginx.originPort) });
  }
  if (avail.groupcache) targets.push({ name: 'groupcache (Go), 1 node', start: async () => { const g = await startGroupcache(env, { nodes: 1, origin: ORIGIN }); return { url: g.urls[0]!, stop: g.stop }; } });
  targets.push({ name: 'express.static', start: () => startNodeBaseline(env, 'express-static') });
  const started: Array<{ name: string; url: string; stop(): Promise<void> }> = [];
  const runs = new Map<string, LoadResult[]>();
  try {
    for (const target of targets) {
      const server = await target.start();
      started.push({ name: target.name, ...server });
      runs.set(target.name, []);
      if (prewarm) await warmAll(server.url, paths);
      // Measured in steady state: hashedge compresses fills in the background after a burst.
      await server.settled?.();
    }
    // Rounds, each measuring every server in turn (the order rotated): on a shared machine the
    // capacity drifts over minutes, so each hashedge run is compared with its neighbours in time.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < started.length; i++) {
        const server = started[(i + round) % started.length]!;
        runs.get(server.name)!.push(await measure(server.url, { paths }));
      }
    }
  } finally {
    for (const server of started) await server.stop();
    await nginx?.stop();
  }
  const ours = runs.get('hashedge')!;
  const rows: Row[] = targets.map(({ name }) => roundsRow(name, runs.get(name)!, ours));
  print(throughputTable(rows, 'hashedge'));
  print();
  const ratio = (name: string) => rows.find((r) => r.name.startsWith(name))?.ratio?.median;
  const line = (label: string, name: string, min: number) => {
    const r = ratio(name);
    return r === undefined ? `${label}: not measured (anchor skipped)` : `${label}: ${r.toFixed(2)}x, ${verdict(r >= min)}`;
  };
  if (title.startsWith('Small')) {
    print(`Targets (issue 18, the fast lane): ${line('>= 1.0x nginx static', 'nginx static', 1.0)}; ${line('>= 1.5x Varnish', 'Varnish', 1.5)}; ${line('>= 1.2x groupcache (Go)', 'groupcache', 1.2)}. Before it: ${line('>= 0.9x bare node:http', 'node:http', 0.9)}.`);
  } else {
    print(`Targets: ${line('>= 0.9x bare node:http', 'node:http', 0.9)}; ${line('ahead of nginx static', 'nginx static', 1.0)}; ${line('at least as fast as with --fast-lane=off', 'hashedge --fast-lane=off', 1.0)}.`);
  }
  print();
}

/** HTTP/2 connections (h2load -c) and concurrent streams on each (-m): 256 requests in flight. */
const H2_CONNECTIONS = 16;
const H2_STREAMS = 16;

/**
 * TLS + HTTP/2: hashedge (--tls-port) against nginx (`listen ssl http2`) with the same
 * certificate, one core each, h2load on CPU 0; small hot asset and Zipf, in rounds as above.
 */
async function http2(avail: Availability): Promise<void> {
  print('## HTTP/2 over TLS');
  print();
  if (!has('h2load') || !avail.nginx) {
    print(`Not measured: needs h2load (\`${INSTALL.h2load}\`) and nginx (\`${INSTALL.nginx}\`).`);
    print();
    return;
  }
  print(`h2load -t1 -c${H2_CONNECTIONS} -m${H2_STREAMS} on CPU 0 (${H2_CONNECTIONS * H2_STREAMS} requests in flight, TLS 1.3, ALPN h2) against hashedge (--tls-port, --h2-lane on; and off, node:http2) and nginx 1.22 (\`listen ssl http2\`, one worker) with the same P-256 certificate, each on CPU 1. ${ROUNDS} rounds, each server in turn (warm-up run, then measured); rows show the median round, the ratio the median of same-round ratios (min-max). Zipf: ${'200,000'} draws under Zipf s=1 from the corpus (seeded, the same sequence for both), walked in order by each connection; identity bytes (no Accept-Encoding). Latency is h2load's mean (it reports no percentiles).`);
  print();
  const tls = benchCertificate(env.dir);
  const tlsPort = await freePort();
  // The HTTP/2 lane (README: The HTTP/2 lane) is measured against nginx; node:http2 (--h2-lane off, the default) beside it.
  const hashedge = await startHashedge(env, { origin: ORIGIN, extraArgs: ['--tls-port', String(tlsPort), '--tls-cert', tls.cert, '--tls-key', tls.key, '--h2-lane', 'on'] });
  const offPort = await freePort();
  const laneOff = await startHashedge(env, { origin: ORIGIN, extraArgs: ['--tls-port', String(offPort), '--tls-cert', tls.cert, '--tls-key', tls.key, '--h2-lane', 'off'] });
  const servers: Array<{ name: string; url: string; pids: readonly number[] }> = [
    { name: 'hashedge', url: `https://127.0.0.1:${tlsPort}`, pids: hashedge.pids },
    { name: 'hashedge --h2-lane off (node:http2)', url: `https://127.0.0.1:${offPort}`, pids: laneOff.pids },
  ];
  let nginx: { url: string; pids: readonly number[]; stop(): Promise<void> } | undefined;
  const results = new Map<string, Map<string, H2LoadResult[]>>();
  try {
    nginx = await startNginxH2(env, tls);
    servers.push({ name: 'nginx (http2, 1 worker)', url: nginx.url, pids: nginx.pids });
    for (const h of [hashedge, laneOff]) {
      await warmAll(h.urls[0]!, join(env.dir, 'paths.txt'));
      await h.settled();
    }
    const loads = [
      { name: 'small hot asset (1990 B css)', paths: write1(HOT_PATH) },
      { name: 'Zipf', paths: join(env.dir, 'paths.txt') },
    ];
    for (const load of loads) {
      const byServer = new Map<string, H2LoadResult[]>(servers.map((s) => [s.name, []]));
      results.set(load.name, byServer);
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < servers.length; i++) {
          const server = servers[(i + round) % servers.length]!;
          const run = (seconds: number) => h2load(server.url, env.dir, { paths: load.paths, seconds, connections: H2_CONNECTIONS, streams: H2_STREAMS, serverCpus: env.serverCpus, serverPids: server.pids });
          await run(WARMUP);
          byServer.get(server.name)!.push(await run(SECONDS));
        }
      }
    }
  } finally {
    await nginx?.stop();
    await hashedge.stop();
    await laneOff.stop();
  }
  const verdicts: string[] = [];
  for (const [loadName, byServer] of results) {
    print(`### ${loadName}`);
    print();
    const ours = byServer.get('hashedge')!;
    const rows = servers.map(({ name }) => {
      const runs = byServer.get(name)!;
      const middle = median(runs.map((r) => r.rps));
      const r = runs.reduce((best, x) => (Math.abs(x.rps - middle) < Math.abs(best.rps - middle) ? x : best));
      const paired = runs.map((x, round) => ours[round]!.rps / x.rps);
      const ratio = name === 'hashedge' ? '-' : `${median(paired).toFixed(2)}x (${Math.min(...paired).toFixed(2)}-${Math.max(...paired).toFixed(2)})`;
      if (name.startsWith('nginx')) verdicts.push(`${loadName}: ${median(paired).toFixed(2)}x nginx, ${verdict(median(paired) >= 1)}`);
      const cpu = r.serverCpu ? `${Math.round(r.serverCpu.busy * 100)}% | ${r.serverCpu.usPerRequest.toFixed(1)}` : '- | -';
      // The process's own CPU per request, every round (min-max): what other work on the CPU does not move.
      const own = runs.map((x) => x.processUsPerRequest ?? NaN);
      const process = own.every(Number.isFinite) ? `${median(own).toFixed(1)} (${Math.min(...own).toFixed(1)}-${Math.max(...own).toFixed(1)})` : '-';
      return [name === 'hashedge' ? '**hashedge**' : name, Math.round(middle).toLocaleString('en-US'), r.mbps.toFixed(1), r.meanMs.toFixed(2), `${r.non2xx} / ${r.failed}`, ...cpu.split(' | '), process, ratio];
    });
    print(table(['server', 'rps', 'MB/s', 'mean ms', 'non-2xx / failed', 'server CPU busy', 'µs CPU / request', 'µs process CPU / request, median (min-max)', 'hashedge ÷ server'], rows));
    print();
  }
  print(`Target (ahead of nginx on both): ${verdicts.join('; ')}.`);
  print();
}

/** 3-node cluster vs one node, load spread over every node (3 wrk processes, 64 connections in all). */
async function cluster(avail: Availability): Promise<void> {
  print('## Zipf through a 3-node cluster');
  print();
  print(`Zipf s=1 over the corpus, load spread over every node by three wrk processes (21 connections each) on CPU 0; all nodes of a cluster share CPU 1. The single node gets the same three wrk processes. Caches pre-warmed with two passes through every node (hot keys are kept on a node from their second request). The one-node and three-node set-ups run side by side and are measured in ${ROUNDS} alternating rounds: rows show the median round, the ratio the median of same-round ratios [min-max]; groupcache runs once. p50 is the request-weighted mean of the three wrk processes, p99 the worst.`);
  print();
  const paths = join(env.dir, 'paths.txt');
  const rows: Row[] = [];
  const notes: string[] = [];
  type Counters = { hits: number; misses: number; peer: number; origin: number };
  const counters = async (h: Hashedge): Promise<Counters> => (await Promise.all(h.urls.map((u) => h.stats(u)))).reduce((sum, s) => ({ hits: sum.hits + s.counters.hits, misses: sum.misses + s.counters.misses + s.counters.collapsed, peer: sum.peer + s.counters.peerFetches, origin: sum.origin + s.counters.originFetches }), { hits: 0, misses: 0, peer: 0, origin: 0 });
  // Both set-ups run side by side and are measured in alternating rounds, as the small and Zipf
  // workloads are: one-shot runs of this workload moved 2x between two runs of the same commit.
  const setups: Array<{ name: string; h: Hashedge; urls: string[]; before: Counters; runs: LoadResult[] }> = [];
  try {
    for (const nodes of [1, 3]) {
      const h = await startHashedge(env, { origin: ORIGIN, nodes });
      const name = nodes === 1 ? 'hashedge, 1 node' : 'hashedge, 3 nodes';
      setups.push({ name, h, urls: nodes === 1 ? [h.urls[0]!, h.urls[0]!, h.urls[0]!] : [...h.urls], before: { hits: 0, misses: 0, peer: 0, origin: 0 }, runs: [] });
      for (let pass = 0; pass < 2; pass++) for (const url of h.urls) await warmAll(url, paths);
      await h.settled();
    }
    for (const setup of setups) setup.before = await counters(setup.h);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < setups.length; i++) {
        const setup = setups[(i + round) % setups.length]!;
        setup.runs.push(await measure(setup.urls, { paths }));
      }
    }
    for (const setup of setups) {
      const after = await counters(setup.h);
      notes.push(`${setup.name}, all rounds (warm-up and measured runs): ${after.hits - setup.before.hits} hits, ${after.misses - setup.before.misses} misses, ${after.peer - setup.before.peer} owner fetches, ${after.origin - setup.before.origin} origin fetches.`);
    }
  } finally {
    for (const setup of setups) await setup.h.stop();
  }
  for (const setup of setups) rows.push(roundsRow(setup.name, setup.runs, setups[1]!.runs));
  if (avail.groupcache) {
    for (const nodes of [1, 3]) {
      const g = await startGroupcache(env, { nodes, origin: ORIGIN });
      try {
        for (const url of g.urls) await warmAll(url, paths);
        const urls = nodes === 1 ? [g.urls[0]!, g.urls[0]!, g.urls[0]!] : g.urls;
        rows.push({ name: `groupcache (Go), ${nodes} node${nodes > 1 ? 's' : ''}`, result: await measure(urls, { paths }) });
      } finally {
        await g.stop();
      }
    }
  }
  print(throughputTable(rows, 'hashedge, 3 nodes'));
  print();
  for (const note of notes) print(`- ${note}`);
  print();
  const r = rows[0]!.ratio!;
  print(`Target: 3-node cluster >= 0.9x one node: ${r.median.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)}), ${verdict(r.median >= 0.9)}.`);
  print();
}

/** Cold keys, many concurrent clients spread over 3 nodes: how many origin fetches each key costs. */
async function herd(avail: Availability): Promise<void> {
  const KEYS = 20;
  const PER_KEY = 60;
  print('## Cold herd on 3 nodes');
  print();
  print(`${KEYS} cold keys, ${PER_KEY} concurrent requests per key spread evenly over 3 nodes, all ${KEYS * PER_KEY} requests at once (each on its own connection).`);
  print();
  const keys = readFileSync(join(env.dir, 'paths.txt'), 'utf8').split('\n').filter(Boolean).slice(200, 200 + KEYS);
  const rows: (string | number)[][] = [];
  const fire = async (urls: readonly string[]) => {
    const started = Date.now();
    const results = await Promise.all(keys.flatMap((key) => Array.from({ length: PER_KEY }, (_, i) => status(urls[i % urls.length]! + key))));
    return { ok: results.filter((s) => s === 200).length, ms: Date.now() - started };
  };
  {
    const h = await startHashedge(env, { origin: ORIGIN, nodes: 3 });
    try {
      const { ok, ms } = await fire(h.urls);
      const fetches = (await Promise.all(h.urls.map((u) => h.stats(u)))).reduce((n, s) => n + s.counters.originFetches, 0);
      rows.push(['**hashedge, 3 nodes**', `${ok}/${KEYS * PER_KEY}`, (fetches / KEYS).toFixed(2), fetches, ms]);
    } finally {
      await h.stop();
    }
  }
  if (avail.nginx) {
    const anchors: Array<{ name: string; urls: (n: Awaited<ReturnType<typeof startNginx>>) => Promise<{ urls: string[]; stop(): Promise<void> }> }> = [
      { name: 'nginx proxy_cache (lock on), 3 nodes', urls: async (n) => ({ urls: [...n.edgeUrls], stop: async () => {} }) },
    ];
    if (avail.varnish) {
      anchors.push({
        name: 'Varnish, 3 nodes',
        urls: async (n) => {
          const v = await Promise.all([0, 1, 2].map((i) => startVarnish(env, `herd${i}`, n.originPort)));
          return { urls: v.map((x) => x.url), stop: async () => void (await Promise.all(v.map((x) => x.stop()))) };
        },
      });
    }
    if (avail.groupcache) {
      anchors.push({ name: 'groupcache (Go), 3 nodes', urls: async (n) => startGroupcache(env, { nodes: 3, origin: n.originUrl }) });
    }
    for (const anchor of anchors) {
      const nginx = await startNginx(env, { edges: 3 });
      try {
        const servers = await anchor.urls(nginx);
        try {
          const { ok, ms } = await fire(servers.urls);
          const counts = nginx.originRequests();
          const fetches = keys.reduce((n, k) => n + (counts.get(k) ?? 0), 0);
          rows.push([anchor.name, `${ok}/${KEYS * PER_KEY}`, (fetches / KEYS).toFixed(2), fetches, ms]);
        } finally {
          await servers.stop();
        }
      } finally {
        await nginx.stop();
      }
    }
  }
  print(table(['server', '200 answers', 'origin fetches per key', 'origin fetches', 'ms for all'], rows));
  print();
  const he = Number(rows[0]![2]);
  print(`Target: exactly 1 origin fetch per key on 3 nodes: ${he.toFixed(2)}, ${verdict(he === 1)}.`);
  print();
}

/** A cold 8 MB object: time to the first body byte through each cache vs its origin's own. */
async function large(avail: Availability): Promise<void> {
  print('## Cold 8 MB object: time to first byte');
  print();
  print("hashedge: the corpus' three 8 MB videos under three names each (nine cold keys), each requested once through a cold cache (its S3 client warmed by three small objects first), first body byte timed, median; beside it the same measurement against that cache's origin directly. hashedge reads an S3-compatible origin (s3rver, a separate process), timed directly with the same SDK. nginx, Varnish and groupcache: the three videos, each once, from nginx serving the files at 4 MB/s (`limit_rate 4m`).");
  print();
  const videos = readFileSync(join(env.dir, 'paths.txt'), 'utf8').split('\n').filter((p) => p.endsWith('.mp4'));
  const rows: (string | number)[][] = [];
  let hashedgeRatio = NaN;
  {
    const s3 = await startS3Server({ bucket: 'bench' });
    try {
      // Nine cold keys: each video under three content-hashed names.
      const keys = videos.flatMap((v) => [1, 2, 3].map((copy) => v.replace('/video', `/copy${copy}-video`)));
      for (const [i, key] of keys.entries()) {
        await s3.client.send(new PutObjectCommand({ Bucket: 'bench', Key: key.slice(1), Body: readFileSync(join(ORIGIN, videos[Math.floor(i / 3)]!)), ContentType: 'video/mp4' }));
      }
      const warm = readFileSync(join(env.dir, 'paths.txt'), 'utf8').split('\n').filter((p) => p.endsWith('.css')).slice(0, 3);
      for (const key of warm) await s3.client.send(new PutObjectCommand({ Bucket: 'bench', Key: key.slice(1), Body: readFileSync(join(ORIGIN, key)), ContentType: 'text/css' }));
      const h = await startHashedge(env, {
        origin: 's3://bench',
        extraArgs: ['--s3-endpoint', s3.endpoint, '--s3-force-path-style'],
        env: { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' },
      });
      try {
        // Both S3 clients warm (a fresh process' first SDK calls load and compile code).
        for (const key of warm) await status(h.urls[0]! + key);
        const direct: number[] = [];
        const through: number[] = [];
        for (const key of keys) {
          const t0 = performance.now();
          const object = await s3.client.send(new GetObjectCommand({ Bucket: 'bench', Key: key.slice(1) }));
          const body = object.Body as NodeJS.ReadableStream;
          await new Promise((resolve) => body.once('data', resolve));
          direct.push(performance.now() - t0);
          (body as unknown as { destroy(): void }).destroy();
          through.push(await firstByteMs(h.urls[0]! + key));
          // Let the fill finish (the client left after its first byte) before the next key.
          await status(h.urls[0]! + key);
        }
        if (process.env.BENCH_DEBUG) console.error({ direct, through });
        hashedgeRatio = median(through) / median(direct);
        rows.push(['**hashedge** (S3 origin: s3rver)', median(through).toFixed(1), median(direct).toFixed(1), `${hashedgeRatio.toFixed(2)}x`]);
      } finally {
        await h.stop();
      }
    } finally {
      await s3.stop();
    }
  }
  if (avail.nginx) {
    const nginx = await startNginx(env, { edges: 1, edgeUpstream: 'slow-origin' });
    try {
      const origin: number[] = [];
      for (const v of videos) origin.push(await firstByteMs(nginx.slowOriginUrl + v));
      const originMs = median(origin);
      const anchor = async (name: string, url: string) => {
        const times: number[] = [];
        for (const v of videos) times.push(await firstByteMs(url + v));
        rows.push([name, median(times).toFixed(1), originMs.toFixed(1), `${(median(times) / originMs).toFixed(2)}x`]);
      };
      await anchor('nginx proxy_cache (origin: nginx at 4 MB/s)', nginx.edgeUrls[0]!);
      if (avail.varnish) {
        const v = await startVarnish(env, 'large', nginx.slowOriginPort);
        try {
          await anchor('Varnish (origin: nginx at 4 MB/s)', v.url);
        } finally {
          await v.stop();
        }
      }
      if (avail.groupcache) {
        const g = await startGroupcache(env, { nodes: 1, origin: nginx.slowOriginUrl });
        try {
          await anchor('groupcache (Go) (origin: nginx at 4 MB/s)', g.urls[0]!);
        } finally {
          await g.stop();
        }
      }
    } finally {
      await nginx.stop();
    }
  }
  print(table(['server', 'first byte ms', "origin's own first byte ms", 'ratio'], rows));
  print();
  print(`Target: first byte within 1.5x of the origin's own: ${hashedgeRatio.toFixed(2)}x, ${verdict(hashedgeRatio <= 1.5)}.`);
  print();
}

/**
 * The memory workload runs each corpus as `npm start` runs (glibc's malloc as it comes) and as
 * the Docker image does (Dockerfile: two malloc arenas, bodies over 128 KiB mmapped).
 */
const MEMORY_SETUPS: ReadonlyArray<{ label: string; env: NodeJS.ProcessEnv }> = [
  { label: '', env: {} },
  { label: ' (Docker image malloc env)', env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } },
];

/** Working set 3x the cache: hit ratio, evictions, resident memory. */
async function memory(): Promise<void> {
  print('## Working set larger than the cache');
  print();
  print(`For each corpus: --cache-size a third of it; one pass over every path, then Zipf s=1 and a second run with s=0.6 (flatter, more misses). Resident memory read from /proc (VmRSS at the end, VmHWM the peak). The kit's corpus gives a 45 MiB cache, where the idle process's ~70 MiB weighs most; a corpus of ${BIG_CORPUS_COUNT} assets (same generator, in ${BIG_CORPUS}) shows a budget nearer what an edge is given. Each corpus runs as npm start runs and again with the Docker image's malloc settings (MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072).`);
  print();
  ensureCorpus(BIG_CORPUS, BIG_CORPUS_COUNT);
  const rows: (string | number)[][] = [];
  const verdicts: string[] = [];
  for (const dir of [env.dir, BIG_CORPUS]) {
    const origin = join(dir, 'origin');
    const paths = join(dir, 'paths.txt');
    const corpusBytes = readdirSync(origin).reduce((n, f) => n + statSync(join(origin, f)).size, 0);
    const budget = Math.floor(corpusBytes / 3);
    const bound = 1.2 * budget + 80 * 2 ** 20;
    const peaks: string[] = [];
    for (const setup of MEMORY_SETUPS) {
      const h = await startHashedge(env, { origin, cacheSize: String(budget), env: setup.env });
      let peak = 0;
      try {
        await warmAll(h.urls[0]!, paths);
        for (const s of [1, 0.6]) {
          const before = (await h.stats(h.urls[0]!)).counters;
          const r = await measure(h.urls[0]!, { paths, zipfS: s });
          const after = await h.stats(h.urls[0]!);
          const hits = after.counters.hits - before.hits;
          const misses = after.counters.misses - before.misses + (after.counters.collapsed - before.collapsed);
          const mem = residentMemory(h.pids[0]!);
          peak = Math.max(peak, mem.peak);
          rows.push([`hashedge, ${mib(corpusBytes)} MiB corpus, Zipf s=${s}${setup.label}`, ...loadCells(r), `${((100 * hits) / (hits + misses)).toFixed(1)}%`, after.counters.evictions, `${mib(after.cache.bytes)} / ${mib(after.cache.budgetBytes)}`, mib(mem.rss), mib(mem.peak)]);
        }
      } finally {
        await h.stop();
      }
      const floor = await nodeLruPeak(origin, paths, budget, setup.env, (s, r, hitRatio, mem) =>
        rows.push([`node:http + lru-cache, Zipf s=${s}${setup.label}`, ...loadCells(r), `${(100 * hitRatio).toFixed(1)}%`, '', '', mib(mem.rss), mib(mem.peak)]),
      );
      peaks.push(`${mib(peak)} MiB${setup.label} (node:http + lru-cache ${mib(floor)}), ${verdict(peak <= bound)}`);
    }
    verdicts.push(`--cache-size ${mib(budget)} MiB: peak RSS <= 1.2x cache + 80 MiB = ${mib(bound)} MiB: ${peaks.join('; ')}`);
  }
  print(table(['server, load', 'rps', 'p99 ms', 'MB/s', 'hit ratio (measured run + warm-up)', 'evictions (total)', 'cache MiB / budget', 'RSS MiB', 'peak RSS MiB'], rows));
  print();
  print(`Target: ${verdicts.join('; ')}.`);
  print();
}

/** A server measured by the origin loads it makes: its URL, how many loads so far, and how to stop it. */
interface Counted {
  readonly url: string;
  originLoads(): Promise<number>;
  /** Resolves once background work after a warm-up (hashedge's variants) is done. */
  settled?(): Promise<void>;
  stop(): Promise<void>;
}

/** A Zipf s=1 run of `seconds` against a counted server: rps, and the share of requests that did not go to the origin. */
async function countedRun(server: Counted, seconds: number): Promise<{ r: LoadResult; hitRatio: number; loads: number }> {
  const before = await server.originLoads();
  const r = await wrk(server.url, { paths: join(env.dir, 'paths.txt'), seconds, connections: CONNECTIONS, serverCpus: env.serverCpus });
  const loads = (await server.originLoads()) - before;
  return { r, loads, hitRatio: 1 - loads / Math.max(1, r.rps * seconds) };
}

/** hashedge with the bench's disk-tier sizes, counted by its origin fetches. */
async function countedHashedge(cacheBytes: number, extraArgs: readonly string[]): Promise<Counted> {
  const h = await startHashedge(env, { origin: ORIGIN, cacheSize: String(cacheBytes), extraArgs: ['--shutdown-delay', '0', ...extraArgs] });
  return { url: h.urls[0]!, originLoads: async () => (await h.stats(h.urls[0]!)).counters.originFetches, settled: () => h.settled(), stop: () => h.stop() };
}

/** One nginx proxy_cache edge, counted by its origin's access log. */
async function countedNginx(maxSize: string, keepCache: boolean): Promise<Counted> {
  const n = await startNginx(env, { edges: 1, keepCache, edgeMaxSize: maxSize });
  const loads = () => [...n.originRequests().values()].reduce((a, b) => a + b, 0);
  return { url: n.edgeUrls[0]!, originLoads: async () => loads(), stop: () => n.stop() };
}

function corpusBytes(): number {
  return readdirSync(ORIGIN).reduce((n, f) => n + statSync(join(ORIGIN, f)).size, 0);
}

/** Working set 4x --cache-size, disk 8x: memory only, memory + disk, nginx proxy_cache (its disk, the page cache for memory). */
async function diskTier(avail: Availability): Promise<void> {
  const corpus = corpusBytes();
  const cache = Math.floor(corpus / 4);
  const disk = 8 * cache;
  print('## Bigger than memory: the disk tier');
  print();
  print(`Corpus ${mib(corpus)} MiB, --cache-size ${mib(cache)} MiB (the working set is 4x memory), --disk-cache-size ${mib(disk)} MiB (8x; the whole corpus fits). One pass over every path, then Zipf s=1: ${WARMUP} s warm-up, ${SECONDS} s measured. Hit ratio = 1 - origin loads / requests in the measured run. nginx proxy_cache with max_size ${mib(disk)}m serves from files through the page cache (the machine's free memory is its memory tier).`);
  print();
  const dir = join(env.dir, 'disk-tier');
  const setups: { name: string; start(): Promise<Counted> }[] = [
    // The reference for disk hits: every answer a memory hit.
    { name: 'hashedge, memory holds the corpus', start: () => countedHashedge(2 * corpus, []) },
    { name: 'hashedge, memory only', start: () => countedHashedge(cache, []) },
    { name: 'hashedge + --disk-cache', start: () => (rmSync(dir, { recursive: true, force: true }), countedHashedge(cache, ['--disk-cache', dir, '--disk-cache-size', String(disk)])) },
    ...(avail.nginx ? [{ name: 'nginx proxy_cache', start: () => countedNginx(`${mib(disk)}m`, false) }] : []),
  ];
  const rows: (string | number)[][] = [];
  for (const setup of setups) {
    const server = await setup.start();
    try {
      await warmAll(server.url, join(env.dir, 'paths.txt'));
      await server.settled?.();
      await countedRun(server, WARMUP);
      const { r, hitRatio, loads } = await countedRun(server, SECONDS);
      rows.push([setup.name, ...loadCells(r), `${(100 * hitRatio).toFixed(1)}%`, loads]);
    } finally {
      await server.stop();
    }
  }
  print(table(['server', 'rps', 'p99 ms', 'MB/s', 'hit ratio', 'origin loads'], rows));
  print();
}

/**
 * A disk hit against a memory hit, the same load (uniform draws, so memory holds no hot set):
 * small objects (every corpus asset under 1 MiB) answered from memory, then from the disk tier
 * with memory too small to hold them (a disk hit reads the file; promoted, every section's
 * SHA-256 checked, only when read again soon after: promotion.ts); large objects (the corpus's 8 MB videos) from
 * memory, then from their files (never promoted). The disk node is filled with memory large
 * enough to write everything, then restarted with little memory on the same directory, so every
 * file is verified on its first read as after any restart. CPU per request is the server
 * process's own (/proc/<pid>/stat), which colleagues' load does not inflate as CPU 1's does.
 */
async function diskHit(): Promise<void> {
  const corpus = corpusBytes();
  const files = readFileSync(join(env.dir, 'paths.txt'), 'utf8').split('\n').filter(Boolean).map((path) => ({ path, bytes: statSync(join(ORIGIN, path)).size }));
  // Large objects with fewer connections: 64 clients each waiting for 8 MB would wait past wrk's
  // 2 s timeout on this machine (counted as errors, and their CPU charged to fewer requests).
  const sets = [
    { name: 'small (< 1 MiB)', paths: files.filter((f) => f.bytes < 2 ** 20), connections: CONNECTIONS },
    { name: 'large (>= 1 MiB)', paths: files.filter((f) => f.bytes >= 2 ** 20), connections: Math.min(CONNECTIONS, LARGE_CONNECTIONS) },
  ].map((set) => {
    const file = join(env.dir, `disk-hit-${set.paths.length}.txt`);
    writeFileSync(file, set.paths.map((f) => f.path).join('\n') + '\n');
    return { ...set, file, bytes: set.paths.reduce((n, f) => n + f.bytes, 0) };
  });
  // The least memory that still lets the restarted node keep the videos' files (a file is kept
  // under --max-object-size, which may not exceed --cache-size).
  const small = 8 * 2 ** 20;
  print('## Disk hits vs memory hits');
  print();
  print(`The same load on each: uniform draws over a set of paths, ${WARMUP} s warm-up, ${SECONDS} s measured, ${CONNECTIONS} connections (${Math.min(CONNECTIONS, LARGE_CONNECTIONS)} for the large objects), identity bytes. Memory: --cache-size ${mib(2 * corpus)} MiB holds everything (the node also writes it all to --disk-cache, one request at a time). Disk: that node stopped and started again on the same directory with --cache-size ${mib(small)} MiB (--max-object-size the same): small objects are read from their files (one read each) and answered, promoted to memory (SHA-256 checked, evicting another) only when read again soon after (src/cache/promotion.ts: among the last reads from disk, as many as memory holds objects), large ones streamed from their files. "disk bytes read / sent" is the disk tier's bytes read over wrk's bytes received (about 1 when every answer comes from a file; more for small objects, whose files hold their variants too, every one read and checked). µs CPU / request is the server process's own.`);
  print();
  const dir = join(env.dir, 'disk-hit-tier');
  rmSync(dir, { recursive: true, force: true });
  type Run = { r: LoadResult; cpuUs: number; diskBytesRead: number; loads: number };
  const measured = new Map<string, Run>();
  const runAll = async (h: Hashedge, tier: string) => {
    for (const set of sets) {
      const load = { paths: set.file, zipfS: 0, connections: set.connections };
      await wrk(h.urls[0]!, { ...load, seconds: WARMUP });
      const before = await h.stats(h.urls[0]!);
      const cpu0 = processCpuSeconds(h.pids[0]!);
      const r = await wrk(h.urls[0]!, { ...load, seconds: SECONDS });
      const cpu = processCpuSeconds(h.pids[0]!) - cpu0;
      const after = await h.stats(h.urls[0]!);
      const requests = Math.max(1, r.rps * SECONDS);
      measured.set(`${tier} ${set.name}`, {
        r,
        cpuUs: (cpu * 1e6) / requests,
        diskBytesRead: ((after as unknown as DiskStats).disk?.bytesRead ?? 0) - ((before as unknown as DiskStats).disk?.bytesRead ?? 0),
        loads: after.counters.originFetches - before.counters.originFetches,
      });
    }
  };
  const memory = await startHashedge(env, { origin: ORIGIN, cacheSize: String(2 * corpus), extraArgs: ['--shutdown-delay', '0', '--disk-cache', dir, '--disk-cache-size', String(2 * corpus)] });
  try {
    // One request at a time, so the two disk writers keep up (a fill beyond a full write queue
    // is not written; those keys would be origin loads below, and the table counts them).
    for (const set of sets) for (const f of set.paths) await status(memory.urls[0]! + f.path);
    await memory.settled();
    for (;;) {
      const queued = ((await memory.stats(memory.urls[0]!)) as unknown as DiskStats).disk?.queued ?? 0;
      if (queued === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await runAll(memory, 'memory');
  } finally {
    // SIGTERM: the node writes what it still has queued before it exits.
    await memory.stop();
  }
  const disk = await startHashedge(env, { origin: ORIGIN, cacheSize: String(small), extraArgs: ['--shutdown-delay', '0', '--max-object-size', String(small), '--disk-cache', dir, '--disk-cache-size', String(2 * corpus)] });
  try {
    await runAll(disk, 'disk');
  } finally {
    await disk.stop();
  }
  const rows: (string | number)[][] = [];
  for (const set of sets) {
    const reference = measured.get(`memory ${set.name}`)!;
    for (const [tier, label] of [['memory', 'memory'], ['disk', set.name.startsWith('small') ? 'disk tier (read; promoted on reuse)' : 'disk tier (streamed from the file)']] as const) {
      const run = measured.get(`${tier} ${set.name}`)!;
      rows.push([
        `${set.name}, ${label}`,
        `${set.paths.length} (${mib(set.bytes)} MiB)`,
        ...loadCells(run.r),
        run.cpuUs.toFixed(1),
        tier === 'memory' ? '**1.00x**' : `${(run.r.rps / reference.r.rps).toFixed(2)}x`,
        tier === 'memory' ? '**1.00x**' : `${(run.cpuUs / reference.cpuUs).toFixed(2)}x`,
        (run.diskBytesRead / Math.max(1, run.r.mbps * 1e6 * SECONDS)).toFixed(2),
        `${run.r.non2xx} / ${run.r.errors}`,
        run.loads,
      ]);
    }
  }
  print(table(['served from', 'objects', 'rps', 'p99 ms', 'MB/s', 'µs CPU / request', 'rps ÷ memory hits', 'CPU ÷ memory hits', 'disk bytes read / sent', 'non-2xx / errors', 'origin loads'], rows));
  print();
}

/** Connections of the disk-hit workload's large objects (8 MB each). */
const LARGE_CONNECTIONS = 8;

/** The disk tier's part of /_hashedge/stats (null without --disk-cache). */
type DiskStats = { disk: { bytesRead: number; queued: number } | null };

/**
 * Warm a node under Zipf, restart it, and count origin loads in the first 10 s and the next 10 s:
 * the disk tier keeps its objects (index rebuilt from file names), memory alone starts cold,
 * nginx's cache loader indexes its proxy_cache directory again.
 */
async function restart(avail: Availability): Promise<void> {
  const corpus = corpusBytes();
  // Memory holds the whole corpus before the restart: what a restart loses is all there is.
  const cache = 2 * corpus;
  const disk = 2 * corpus;
  print('## Restart under Zipf');
  print();
  print(`Corpus ${mib(corpus)} MiB, --cache-size ${mib(cache)} MiB (memory holds it all), --disk-cache-size ${mib(disk)} MiB (nginx: proxy_cache max_size the same). One pass over every path and ${WARMUP + SECONDS} s of Zipf s=1 (the last ${SECONDS} s measured: "before"), then the server is stopped (SIGTERM, SIGQUIT for nginx) and started on the same directory; Zipf s=1 again from the moment it answers, measured over 0-10 s and 10-20 s. Hit ratio = 1 - origin loads / requests. Target: the first 10 s at >= 0.95x the hit ratio before.`);
  print();
  const dir = join(env.dir, 'restart-tier');
  const setups: { name: string; start(first: boolean): Promise<Counted> }[] = [
    { name: 'hashedge + --disk-cache', start: (first) => (first && rmSync(dir, { recursive: true, force: true }), countedHashedge(cache, ['--disk-cache', dir, '--disk-cache-size', String(disk)])) },
    { name: 'hashedge, memory only', start: () => countedHashedge(cache, []) },
    ...(avail.nginx ? [{ name: 'nginx proxy_cache', start: (first: boolean) => countedNginx(`${mib(disk)}m`, !first) }] : []),
  ];
  const rows: (string | number)[][] = [];
  for (const setup of setups) {
    let server = await setup.start(true);
    let before: Awaited<ReturnType<typeof countedRun>>;
    try {
      await warmAll(server.url, join(env.dir, 'paths.txt'));
      await server.settled?.();
      await countedRun(server, WARMUP);
      before = await countedRun(server, SECONDS);
    } finally {
      await server.stop();
    }
    const restarted = performance.now();
    server = await setup.start(false);
    const upMs = performance.now() - restarted;
    try {
      const first = await countedRun(server, 10);
      const next = await countedRun(server, 10);
      const ratio = first.hitRatio / before.hitRatio;
      rows.push([setup.name, `${(100 * before.hitRatio).toFixed(1)}%`, Math.round(upMs), `${(100 * first.hitRatio).toFixed(1)}% (${first.loads} loads, ${Math.round(first.r.rps).toLocaleString('en-US')} rps)`, `${(100 * next.hitRatio).toFixed(1)}% (${next.loads} loads)`, `${ratio.toFixed(2)}x ${verdict(ratio >= 0.95)}`]);
    } finally {
      await server.stop();
    }
  }
  print(table(['server', 'hit ratio before', 'restart to answering, ms', 'first 10 s', '10-20 s', 'first 10 s / before'], rows));
  print();
}

/** The memory table's rps, p99 and MB/s cells of one run. */
function loadCells(r: LoadResult): string[] {
  return [Math.round(r.rps).toLocaleString('en-US'), r.p99Ms.toFixed(2), r.mbps.toFixed(1)];
}

/**
 * The memory workload's floor (bench/lib/node-lru.mjs) under the same load as hashedge: its peak
 * resident set in bytes; `row` gets each Zipf run, with its hit ratio counted as hashedge's is.
 */
async function nodeLruPeak(origin: string, paths: string, budgetBytes: number, processEnv: NodeJS.ProcessEnv, row: (zipfS: number, r: LoadResult, hitRatio: number, mem: { rss: number; peak: number }) => void): Promise<number> {
  const floor = await startNodeLru(env, { origin, budgetBytes, env: processEnv });
  const counters = async () => (await (await fetch(`${floor.url}/_stats`)).json()) as { hits: number; misses: number };
  try {
    await warmAll(floor.url, paths);
    let peak = 0;
    for (const s of [1, 0.6]) {
      const before = await counters();
      const r = await measure(floor.url, { paths, zipfS: s });
      const after = await counters();
      const mem = residentMemory(floor.pid);
      peak = Math.max(peak, mem.peak);
      const hits = after.hits - before.hits;
      row(s, r, hits / (hits + after.misses - before.misses), mem);
    }
    return peak;
  } finally {
    await floor.stop();
  }
}

/**
 * --workers 2 vs 1 on this machine (both cores for the servers; wrk shares CPU 0), with node:cluster's
 * round-robin and with the kernel's spread, and nginx static with 2 workers.
 */
async function workers(avail: Availability): Promise<void> {
  print('## --workers 2 vs 1');
  print();
  const help = execFileSync(process.execPath, [fileURLToPath(new URL('../dist/cli.js', import.meta.url)), 'serve', '--help'], { encoding: 'utf8' });
  if (!help.includes('--workers')) {
    print('Skipped: this build has no --workers.');
    print();
    return;
  }
  print('This machine has 2 cores: the servers may use both, and wrk (on CPU 0) competes with one of them, so 2 workers cannot reach 2x here; the ratio shows what a second core buys when the load generator shares it.');
  print();
  print(`Each server is started once and measured ${ROUNDS} times in a row; a row is its median run (one run alone was once 0.44x of its neighbours), every run's rps below the table.`);
  print();
  const rows: Row[] = [];
  const ranges: string[] = [];
  const laneShares: string[] = [];
  const spreads: string[] = [];
  /**
   * Measures ROUNDS times, the first while sampling how the connections are spread over the
   * server's processes; the row is the median run (its rps range kept beside it).
   */
  const measureSpread = async (name: string, url: string, paths: string): Promise<void> => {
    const [first, spread] = await Promise.all([measure(url, { paths }, false), connectionSpread(Number(new URL(url).port), (WARMUP + SECONDS / 2) * 1000)]);
    const runs = [first];
    for (let round = 1; round < ROUNDS; round++) runs.push(await measure(url, { paths }, false));
    rows.push({ name, result: roundsRow(name, runs, runs).result });
    const rps = runs.map((r) => Math.round(r.rps).toLocaleString('en-US'));
    ranges.push(`${name}: ${rps.join(', ')}`);
    if (spread !== undefined) spreads.push(`${name}: ${spread}`);
  };
  // NODE_CLUSTER_SCHED_POLICY=none: the workers accept from the shared socket themselves and
  // the kernel picks who wakes (as with nginx), instead of node:cluster's round-robin.
  const setups = [
    { n: 1, label: '', env: {} },
    { n: 2, label: '', env: {} },
    { n: 2, label: ', kernel spread', env: { NODE_CLUSTER_SCHED_POLICY: 'none' } },
  ];
  for (const [label, paths] of [['small hot', write1(HOT_PATH)], ['Zipf', join(env.dir, 'paths.txt')]] as const) {
    for (const setup of setups) {
      const h = await startHashedge({ ...env, serverCpus: '0,1' }, { origin: ORIGIN, extraArgs: ['--workers', String(setup.n)], env: setup.env });
      try {
        for (let pass = 0; pass < 2; pass++) await warmAll(h.urls[0]!, paths);
        await h.settled();
        // No server CPU column: the workers share CPU 0 with wrk.
        const name = `${label}, ${setup.n} worker${setup.n > 1 ? 's' : ''}${setup.label}`;
        const before = await laneCounts(h.urls[0]!);
        await measureSpread(name, h.urls[0]!, paths);
        const after = await laneCounts(h.urls[0]!);
        // Every worker runs its own fast lane: the node's counters (summed over the workers) say how much it answered.
        laneShares.push(`${name}: the fast lane answered ${(((after.hits - before.hits) / Math.max(1, after.requests - before.requests)) * 100).toFixed(1)}% of the requests (${after.workersWithHits} of ${setup.n} worker${setup.n > 1 ? 's' : ''} answered hits with it).`);
      } finally {
        await h.stop();
      }
    }
  }
  const hashedgeRows = rows.length;
  if (avail.nginx) {
    // The same two cores for nginx: worker_processes 2, started the way the kit starts it.
    const nginx = await startNginx({ ...env, serverCpus: '0,1' }, { edges: 1, workers: 2 });
    try {
      await measureSpread('nginx static, 2 workers, small hot', nginx.staticUrl, write1(HOT_PATH));
    } finally {
      await nginx.stop();
    }
    // nginx's one shared socket wakes one worker at a time (EPOLLEXCLUSIVE), which often leaves
    // all connections on one worker; with reuseport each worker has its own socket and the kernel
    // spreads connections evenly, as node:cluster's round-robin does (bench/workers-cpu.ts shows both).
    const even = await startNginx({ ...env, serverCpus: '0,1' }, { edges: 1, workers: 2, reusePort: true });
    try {
      await measureSpread('nginx static, 2 workers, reuseport, small hot', even.staticUrl, write1(HOT_PATH));
    } finally {
      await even.stop();
    }
  }
  print(throughputTable(rows, 'none'));
  print();
  print(`rps of each run, in order: ${ranges.join('; ')}.`);
  print();
  for (const line of laneShares) print(line);
  if (spreads.length > 0) print(`Established connections per server process in the middle of each run (ss -tnp; wrk's ${CONNECTIONS} and any the warm-up left open): ${spreads.join('; ')}.`);
  print();
  const perLoad = setups.length;
  for (let i = 0; i < hashedgeRows; i += perLoad) {
    const [one, two, kernel] = [rows[i]!, rows[i + 1]!, rows[i + 2]!];
    print(`${one.name.split(',')[0]}: 2 workers / 1 worker = ${(two.result.rps / one.result.rps).toFixed(2)}x; with the kernel's spread ${(kernel.result.rps / one.result.rps).toFixed(2)}x.`);
  }
  if (rows.length > hashedgeRows) {
    const nginxRps = rows[hashedgeRows]!.result.rps;
    const best = Math.max(rows[1]!.result.rps, rows[2]!.result.rps);
    print(`small hot, 2 workers: hashedge / nginx static with 2 workers = ${(rows[1]!.result.rps / nginxRps).toFixed(2)}x round-robin, ${(rows[2]!.result.rps / nginxRps).toFixed(2)}x kernel spread (target: ahead, ${verdict(best >= nginxRps)}).`);
    const evenRps = rows[hashedgeRows + 1]!.result.rps;
    print(`small hot, 2 workers: hashedge round-robin / nginx with 2 workers on reuseport (both spread evenly) = ${(rows[1]!.result.rps / evenRps).toFixed(2)}x.`);
  }
  print();
}

/**
 * What the fast lane costs the requests it does not answer itself, with the lane and with
 * --fast-lane=off, side by side in alternating rounds as the small workload runs. A conditional
 * (304), a Range (206), an unknown key (404, remembered) and a CORS preflight (OPTIONS, answered
 * 204 by the asset code) on the hot asset are held by the lane (its parse, then node:http's asset
 * handler, its plan written by the lane); a DELETE (405) is handed to node:http: kept alive, at
 * the connection's first request, so only once per connection; with `Connection: close`, every
 * request pays the lane's whole cost (a strict parse that gives up, the hand-over, node:http's
 * own parse). Each shape runs kept alive and with `Connection: close`. Besides rps, the server
 * process's own CPU time per request (/proc/<pid>/stat), which other processes on a shared
 * machine do not inflate.
 */
async function handover(): Promise<void> {
  print('## Requests the lane holds or hands over');
  print();
  print(`Each request shape on its own, ${CONNECTIONS} connections, the node with the lane and the same node with --fast-lane=off measured in turn, ${ROUNDS} rounds; ratios are lane / off (median of same-round ratios [min-max]), for rps and for the server process's CPU per request (lower is better, so lane / off above 1 means the lane costs more). "held": the lane parses the request and has the asset handler answer it on its own connection; "handed over": the lane gives the connection to node:http.`);
  print();
  // The hot asset's ETag, for a conditional that matches (a 304).
  const probe = await startHashedge(env, { origin: ORIGIN });
  let etag: string;
  try {
    etag = (await fetch(`${probe.urls[0]!}${HOT_PATH}`)).headers.get('etag') ?? '';
  } finally {
    await probe.stop();
  }
  const shapes: Array<{ name: string; paths: string; header: string; method?: string }> = [];
  for (const close of [false, true]) {
    const suffix = close ? ', Connection: close' : ', kept alive';
    const closing = close ? '\nConnection: close' : '';
    shapes.push(
      { name: `If-None-Match (304), held${suffix}`, paths: write1(HOT_PATH), header: `If-None-Match: ${etag}${closing}` },
      { name: `Range: bytes=0-99 (206), held${suffix}`, paths: write1(HOT_PATH), header: `Range: bytes=0-99${closing}` },
      { name: `unknown key (404, remembered), held${suffix}`, paths: write1('/asset99999-0492830483.css'), header: closing.trim() },
      { name: `CORS preflight OPTIONS (204), held${suffix}`, paths: write1(HOT_PATH), method: 'OPTIONS', header: `Origin: https://app.example\nAccess-Control-Request-Method: GET\nAccess-Control-Request-Headers: range${closing}` },
      { name: `DELETE (405), handed over${suffix}`, paths: write1(HOT_PATH), method: 'DELETE', header: closing.trim() },
    );
  }
  const setups: Array<{ name: string; h: Hashedge }> = [];
  const lines: string[] = ['| request shape | rps, lane | rps, off | rps lane / off | µs CPU / request, lane | off | CPU lane / off |', '|---|---:|---:|---:|---:|---:|---:|'];
  const range = (xs: number[]) => `${median(xs).toFixed(2)}x [${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}]`;
  try {
    for (const [name, extraArgs] of [['lane', []], ['off', ['--fast-lane', 'off']]] as const) {
      const h = await startHashedge(env, { origin: ORIGIN, extraArgs: [...extraArgs] });
      await warmAll(h.urls[0]!, write1(HOT_PATH));
      setups.push({ name, h });
    }
    for (const shape of shapes) {
      const runs = new Map<string, Array<{ rps: number; cpuUs: number }>>(setups.map((s) => [s.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < setups.length; i++) {
          const setup = setups[(i + round) % setups.length]!;
          const load = { paths: shape.paths, ...(shape.header ? { header: shape.header } : {}), ...(shape.method ? { method: shape.method } : {}) };
          await wrk(setup.h.urls[0]!, { ...load, connections: CONNECTIONS, seconds: WARMUP });
          const cpu0 = processCpuSeconds(setup.h.pids[0]!);
          const result = await wrk(setup.h.urls[0]!, { ...load, connections: CONNECTIONS, seconds: SECONDS });
          const cpu = processCpuSeconds(setup.h.pids[0]!) - cpu0;
          runs.get(setup.name)!.push({ rps: result.rps, cpuUs: (cpu * 1e6) / Math.max(1, result.rps * SECONDS) });
        }
      }
      const lane = runs.get('lane')!;
      const off = runs.get('off')!;
      const rpsRatios = lane.map((r, i) => r.rps / off[i]!.rps);
      const cpuRatios = lane.map((r, i) => r.cpuUs / off[i]!.cpuUs);
      const med = (rs: Array<{ rps: number; cpuUs: number }>, f: (r: { rps: number; cpuUs: number }) => number) => median(rs.map(f));
      lines.push(`| ${shape.name} | ${Math.round(med(lane, (r) => r.rps)).toLocaleString('en-US')} | ${Math.round(med(off, (r) => r.rps)).toLocaleString('en-US')} | ${range(rpsRatios)} | ${med(lane, (r) => r.cpuUs).toFixed(1)} | ${med(off, (r) => r.cpuUs).toFixed(1)} | ${range(cpuRatios)} |`);
    }
  } finally {
    for (const setup of setups) await setup.h.stop();
  }
  for (const line of lines) print(line);
  print();
  print('Target: at most a few percent more per request the lane holds or hands over (CPU lane / off <= ~1.05, rps lane / off >= ~0.95).');
  print();
}

/** The node's fast-lane hits and asset requests so far, and how many of its workers have answered hits in the lane. */
async function laneCounts(url: string): Promise<{ hits: number; requests: number; workersWithHits: number }> {
  const stats = (await (await fetch(`${url}/_hashedge/stats`)).json()) as {
    traffic: { requests: number; fastLane: { hits: number } };
    workers?: Array<{ traffic?: { fastLane: { hits: number } } }>;
  };
  const workers = stats.workers ?? [stats];
  return { hits: stats.traffic.fastLane.hits, requests: stats.traffic.requests, workersWithHits: workers.filter((w) => (w.traffic?.fastLane.hits ?? 0) > 0).length };
}

/** utime + stime of a process, in seconds (/proc/<pid>/stat, USER_HZ = 100). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// --- helpers ---------------------------------------------------------------------------------

/** The kit's corpus (2000 assets) in `dir`, generated if missing. */
function ensureCorpus(dir = env.dir, count = 2000): void {
  const origin = join(dir, 'origin');
  if (existsSync(join(dir, 'paths.txt')) && existsSync(origin) && readdirSync(origin).length >= count) return;
  process.stderr.write(`generating a corpus of ${count} assets in ${origin} (python3, ~${Math.ceil(count / 200)} s)\n`);
  execFileSync('python3', [join(KIT, 'make_corpus.py'), origin, String(count)], { stdio: 'inherit' });
}

/** A paths file with one path. */
function write1(path: string): string {
  const file = join(env.dir, `one-${path.replace(/\W/g, '_')}.txt`);
  writeFileSync(file, path + '\n');
  return file;
}

function countPaths(): number {
  return readFileSync(join(env.dir, 'paths.txt'), 'utf8').split('\n').filter(Boolean).length;
}

function corpusSummary(): string {
  const files = readdirSync(ORIGIN);
  const bytes = files.reduce((n, f) => n + statSync(join(ORIGIN, f)).size, 0);
  return `${files.length} files, ${mib(bytes)} MiB`;
}

/** Requests every path once (16 at a time) so caches hold the corpus before measuring. */
async function warmAll(base: string, pathsFile: string): Promise<void> {
  const paths = readFileSync(pathsFile, 'utf8').split('\n').filter(Boolean);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < paths.length) await status(base + paths[next++]!);
    }),
  );
}

/** GET, body drained; the status (0 on a network error). */
async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** ms from sending a GET to its first body byte (then the connection is dropped). */
function firstByteMs(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
      res.once('data', () => {
        resolve(performance.now() - t0);
        req.destroy();
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  return `${cores} cores (${cpu})`;
}

await main();
