/**
 * CPU time per small disk hit, measured the deterministic ways this 2-core machine allows (rps
 * swings with colleagues' load; a process's own CPU time and its system calls per request do
 * not): the disk-hit workload of bench/run.ts for small objects only, on one build.
 *
 *   npx tsx bench/disk-hit-cpu.ts [cli=dist/cli.js] [dir=/tmp/hashedge-bench] [seconds=10] [warmup=3]
 *                                 [connections=64] [strace=<requests>] [prof=<dir>] [callgrind=<requests>]
 *
 * A node with memory for everything fills --disk-cache with every corpus object under 1 MiB
 * (one request at a time, so no write is skipped), measured as the memory-hit reference, then
 * stops; a node with --cache-size 8 MiB starts on the same directory and wrk draws uniformly over
 * the same paths, so nearly every request is a disk hit (read, verified, promoted, or whatever
 * the build does). Printed per phase: rps, µs CPU per request of the server process
 * (/proc/<pid>/stat utime+stime, all its threads, libuv's pool included), the disk tier's
 * counters per request. strace=<n> attaches `strace -c -f` to the disk node once every path was
 * asked twice (first reads verified) and prints the system calls of n requests (made as for
 * callgrind below) per request; prof=<dir> gives it --cpu-prof.
 * callgrind=<n> runs the disk node under valgrind's callgrind, instrumenting nothing until every path
 * was asked once (first reads verified), then counts the instructions of n requests made one
 * at a time (uniform draws, a fixed seed): instructions per request, deterministic where CPU
 * time on this shared machine is not (all threads, the kernel's work excluded).
 * `cli=` names another build (a copy of an older commit) so before and after run the same way.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { straced } from './lib/strace.js';
import { freePort, startProcess, type Proc } from './lib/proc.js';
import { wrk } from './lib/wrk.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const CLI = resolve(args.cli ?? fileURLToPath(new URL('../dist/cli.js', import.meta.url)));
const DIR = args.dir ?? '/tmp/hashedge-bench';
const SECONDS = Number(args.seconds ?? 10);
const WARMUP = Number(args.warmup ?? 3);
const CONNECTIONS = Number(args.connections ?? 64);
const STRACE = args.strace === undefined ? 0 : Number(args.strace);
const PROF = args.prof;
const CALLGRIND = args.callgrind === undefined ? 0 : Number(args.callgrind);
const ORIGIN = join(DIR, 'origin');
const SMALL_CACHE = 8 * 2 ** 20;

interface Node {
  readonly url: string;
  readonly proc: Proc;
  readonly pid: number;
}

async function startNode(cacheBytes: number, tier: string, wrap: string[] = [], node: string[] = []): Promise<Node> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess('1', [
    ...wrap, process.execPath, ...node, CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--origin', ORIGIN,
    '--cache-size', String(cacheBytes), '--max-object-size', String(SMALL_CACHE), '--log-level', 'warn', '--shutdown-delay', '0',
    '--disk-cache', tier, '--disk-cache-size', String(4 * 2 ** 30),
  ]);
  const deadline = Date.now() + 600_000; // valgrind starts node slowly
  for (;;) {
    const ready = await stats(url).then((s) => s.ready === true, () => false);
    if (ready) break;
    if (proc.child.exitCode !== null || Date.now() > deadline) throw new Error(`node not ready: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // taskset and valgrind exec: the child's pid is the node's.
  const pid = proc.child.pid!;
  return { url, proc, pid };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function stats(url: string): Promise<any> {
  return (await fetch(`${url}/_hashedge/stats`)).json();
}

/** [user, system] CPU seconds of pid, all its threads. */
function cpuSeconds(pid: number): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return [Number(fields[11]) / 100, Number(fields[12]) / 100];
}

function get(url: string): Promise<number> {
  return new Promise((res, rej) => request(url, (r) => r.resume().on('end', () => res(r.statusCode!))).on('error', rej).end());
}

async function measure(node: Node, paths: string, label: string): Promise<void> {
  await wrk(node.url, { paths, zipfS: 0, connections: CONNECTIONS, seconds: WARMUP });
  const before = await stats(node.url);
  const cpu0 = cpuSeconds(node.pid);
  const r = await wrk(node.url, { paths, zipfS: 0, connections: CONNECTIONS, seconds: SECONDS });
  const cpu1 = cpuSeconds(node.pid);
  const [user, sys] = [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]];
  const cpu = user + sys;
  const after = await stats(node.url);
  const requests = Math.max(1, r.rps * SECONDS);
  const disk = (f: string) => ((after.disk?.[f] ?? 0) - (before.disk?.[f] ?? 0)) / requests;
  process.stdout.write(
    `${label}: ${r.rps.toFixed(0)} rps, p99 ${r.p99Ms} ms, ${((cpu * 1e6) / requests).toFixed(1)} µs CPU/request (user ${((user * 1e6) / requests).toFixed(1)}, system ${((sys * 1e6) / requests).toFixed(1)}), ` +
      `non-2xx ${r.non2xx}, errors ${r.errors}, origin loads ${after.counters.originFetches - before.counters.originFetches}; per request: ` +
      `disk hits ${disk('hits').toFixed(3)}, disk bytes read ${disk('bytesRead').toFixed(0)}, disk writes ${disk('writes').toFixed(3)}, ` +
      `memory items ${after.cache.items}\n`,
  );
}

async function main(): Promise<void> {
  const files = readFileSync(join(DIR, 'paths.txt'), 'utf8').split('\n').filter(Boolean).filter((p) => statSync(join(ORIGIN, p)).size < 2 ** 20);
  const paths = join(DIR, `disk-hit-cpu-${files.length}.txt`);
  writeFileSync(paths, files.join('\n') + '\n');
  const tier = join(DIR, 'disk-hit-cpu-tier');
  rmSync(tier, { recursive: true, force: true });
  mkdirSync(tier, { recursive: true });
  process.stdout.write(`${CLI}: ${files.length} objects under 1 MiB, ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${SECONDS} s measured, server on CPU 1\n`);
  const memory = await startNode(2 ** 30, tier);
  try {
    for (const p of files) if ((await get(memory.url + p)) !== 200) throw new Error(`${p} not 200`);
    for (;;) {
      const s = await stats(memory.url);
      if (s.disk.queued === 0 && s.cache.pendingVariants === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (STRACE === 0 && CALLGRIND === 0) await measure(memory, paths, 'memory hits');
  } finally {
    await memory.proc.stop();
  }
  const callgrindOut = join(DIR, 'disk-hit-cpu.callgrind');
  for (const name of readdirSync(DIR)) if (name.startsWith('disk-hit-cpu.callgrind')) rmSync(join(DIR, name));
  const wrap = CALLGRIND > 0
      ? ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--dump-instr=no', `--callgrind-out-file=${callgrindOut}`]
      : [];
  const node = PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [];
  const disk = await startNode(SMALL_CACHE, tier, wrap, node);
  // n requests one at a time, uniform draws with a fixed seed (the same on every build).
  const counted = async (n: number) => {
    let seed = 12345;
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; // 32-bit LCG (a float product would lose bits and cycle)
      if ((await get(disk.url + files[(seed >>> 8) % files.length]!)) !== 200) throw new Error('not 200');
    }
  };
  try {
    if (CALLGRIND > 0 || STRACE > 0) {
      for (const p of files) await get(disk.url + p);
      for (const p of files) await get(disk.url + p);
    }
    if (CALLGRIND > 0) {
      const before = await stats(disk.url);
      execFileSync('callgrind_control', ['-i', 'on', String(disk.pid)]);
      await counted(CALLGRIND);
      execFileSync('callgrind_control', ['-d', String(disk.pid)]);
      execFileSync('callgrind_control', ['-i', 'off', String(disk.pid)]);
      const after = await stats(disk.url);
      process.stdout.write(`callgrind: of ${CALLGRIND} requests, ${after.disk.hits - before.disk.hits} disk hits\n`);
    } else if (STRACE > 0) {
      const before = await stats(disk.url);
      const counts = await straced(disk.pid, () => counted(STRACE));
      const after = await stats(disk.url);
      process.stdout.write(`strace: ${STRACE} requests, disk hits ${after.disk.hits - before.disk.hits}, system calls per request (>= 0.05):\n`);
      let total = 0;
      for (const [name, calls] of Object.entries(counts).sort((a, b) => b[1] - a[1])) {
        if (name === 'total') continue;
        total += calls;
        if (calls / STRACE >= 0.05) process.stdout.write(`  ${name}: ${(calls / STRACE).toFixed(2)}\n`);
      }
      process.stdout.write(`  all: ${(total / STRACE).toFixed(2)}\n`);
    } else {
      await measure(disk, paths, 'disk hits');
    }
  } finally {
    // Under valgrind the node is signalled itself (valgrind's own start-up wrapper may not pass it on).
    if (CALLGRIND > 0) {
      const exited = new Promise((r) => disk.proc.child.once('exit', r));
      process.kill(disk.pid, 'SIGTERM');
      await exited;
    } else {
      await disk.proc.stop();
    }
  }
  if (CALLGRIND > 0) {
    // The dump made after the n requests (collection was on for them only); the final dump at exit is empty.
    let ir = 0;
    for (const name of readdirSync(DIR).filter((n) => /^disk-hit-cpu\.callgrind\.\d+$/.test(n))) {
      const total = /^totals: (\d+)/m.exec(readFileSync(join(DIR, name), 'utf8'));
      if (total) ir += Number(total[1]);
    }
    process.stdout.write(`callgrind: ${CALLGRIND} disk-hit requests, ${(ir / CALLGRIND / 1000).toFixed(0)} thousand instructions per request (all threads, user space)\n`);
  }
}

await main();
