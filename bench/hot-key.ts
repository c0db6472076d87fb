/**
 * Hot keys: a key hammered through a node that does not own it is served by that node from
 * its hot cache instead of through the owner (from its first request while memory has room). Two real nodes (separate processes) on the
 * bundled sample origin; the key is owned by node A and requested on node B.
 *
 * Prints (1) the Cache-Status of B's first requests for the key, (2) wrk throughput on B with
 * the hot cache on (default --hot-cache-share) and off (0), and their ratio from the same run.
 *
 *   npm run build && npm run bench:hot-key [-- seconds=5 connections=64]
 *
 * Servers are pinned to CPU 1 and wrk to CPU 0 when taskset exists (see shared/bench method).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Ring } from '../src/cluster/ring.js';
import { freePort, has } from './lib/proc.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const KEY = 'assets/style-3c7afd1f02.css';
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]));
const SECONDS = Number(args.seconds ?? 5);
const CONNECTIONS = Number(args.connections ?? 64);

const TASKSET = has('taskset');

async function startNode(port: number, peers: string[], extra: string[]): Promise<ChildProcess> {
  const argv = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--self', `http://127.0.0.1:${port}`, '--peers', peers.join(','), '--log-level', 'warn', ...extra];
  const child = TASKSET ? spawn('taskset', ['-c', '1', process.execPath, ...argv]) : spawn(process.execPath, argv);
  child.stderr!.pipe(process.stderr);
  // Keep reading stdout for the child's whole life (a closed pipe would kill it with EPIPE).
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += String(chunk);
      if (out.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`node on port ${port} exited with ${code}`)));
  });
  return child;
}

/** Two nodes; returns [owner URL, front URL, stop]. */
async function pair(extra: string[]): Promise<{ owner: string; front: string; stop: () => Promise<void> }> {
  const ports = [await freePort(), await freePort()];
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const children = await Promise.all(ports.map((p) => startNode(p, urls, extra)));
  const owner = new Ring(urls).owner(KEY)!;
  const front = urls.find((u) => u !== owner)!;
  return {
    owner,
    front,
    stop: async () => {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    },
  };
}

function wrk(url: string): { rps: number; p50: string; p99: string } {
  const cmd = ['wrk', '-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', url];
  const out = execFileSync(TASKSET ? 'taskset' : cmd[0]!, TASKSET ? ['-c', '0', ...cmd] : cmd.slice(1), { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  return { rps, p50: /50%\s+(\S+)/.exec(out)?.[1] ?? '?', p99: /99%\s+(\S+)/.exec(out)?.[1] ?? '?' };
}

async function main(): Promise<void> {
  // 1. What B answers, request by request.
  const hot = await pair([]);
  console.log(`key ${KEY}: owner ${hot.owner}, requested on ${hot.front}\n`);
  console.log('request  cache-status');
  for (let i = 1; i <= 4; i++) {
    const res = await fetch(`${hot.front}/${KEY}`);
    await res.arrayBuffer();
    console.log(`${String(i).padStart(7)}  ${res.headers.get('cache-status')}`);
  }
  if (!has('wrk')) {
    console.log('\nthroughput: skipped, wrk is not installed (apt-get install wrk)');
    await hot.stop();
    return;
  }
  // 2. Throughput on B, hot cache on vs off, same run.
  const url = `${hot.front}/${KEY}`;
  wrk(url); // warm-up
  const on = wrk(url);
  await hot.stop();
  const cold = await pair(['--hot-cache-share', '0']);
  wrk(`${cold.front}/${KEY}`);
  const off = wrk(`${cold.front}/${KEY}`);
  await cold.stop();
  console.log(`\nwrk -t1 -c${CONNECTIONS} -d${SECONDS}s on the non-owner${TASKSET ? ' (servers on CPU 1, wrk on CPU 0)' : ''}`);
  console.log('hot cache              rps     p50      p99');
  console.log(`on (default)   ${on.rps.toFixed(0).padStart(10)}  ${on.p50.padStart(6)}  ${on.p99.padStart(7)}`);
  console.log(`off (share 0)  ${off.rps.toFixed(0).padStart(10)}  ${off.p50.padStart(6)}  ${off.p99.padStart(7)}`);
  console.log(`ratio on/off   ${(on.rps / off.rps).toFixed(2).padStart(9)}x`);
}

await main();
