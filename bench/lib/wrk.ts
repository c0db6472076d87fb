/** The load generator: wrk with the kit's Zipf script, pinned to the load CPU. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pinned } from './proc.js';

const ZIPF_LUA = fileURLToPath(new URL('../kit/zipf.lua', import.meta.url));

export interface Load {
  /** File of URL paths, most popular first (one path = a single hot asset). */
  readonly paths: string;
  readonly seconds: number;
  readonly connections: number;
  /** CPUs wrk runs on. @default '0' */
  readonly cpus?: string;
  /** Zipf exponent. @default 1.0 */
  readonly zipfS?: number;
  /** Request headers sent with every request, `Name: value` lines joined by \n (conditionals, ranges, Connection: close). */
  readonly header?: string;
  /** The request method. @default 'GET' */
  readonly method?: string;
  /** CPUs the server runs on (`1` or `1,2`): how busy they were is measured. */
  readonly serverCpus?: string;
}

/** How busy the server's CPUs were during a run: tells a saturated server from a load-bound run. */
export interface ServerCpu {
  /** Busy share of the server CPUs' time (user, system, interrupts), 0-1. */
  readonly busy: number;
  /** Busy CPU time per request, µs (kernel networking on those CPUs included). */
  readonly usPerRequest: number;
}

export interface LoadResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly mbps: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly serverCpu?: ServerCpu;
}

/** [busy, total] ticks of `cpus` from /proc/stat (steal excluded: the hypervisor's, not ours). */
function cpuTicks(cpus: string): [number, number] {
  const wanted = new Set(cpus.split(',').map((c) => `cpu${c.trim()}`));
  let busy = 0;
  let total = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const [name, ...fields] = line.split(/\s+/);
    if (name === undefined || !wanted.has(name)) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = fields.map(Number);
    busy += user + nice + system + irq + softirq;
    total += user + nice + system + idle + iowait + irq + softirq;
  }
  return [busy, total];
}

export function wrk(url: string, load: Load): Promise<LoadResult> {
  return withServerCpu(load, async () => {
    const { stderr: _, ...result } = await runWrk(url, load);
    return result;
  });
}

/** Runs `run`, adding how busy load.serverCpus were meanwhile. */
function withServerCpu(load: Load, run: () => Promise<LoadResult>): Promise<LoadResult> {
  return serverCpuDuring(load.serverCpus, load.seconds, run);
}

/** Runs a load of `seconds`, adding how busy `serverCpus` were meanwhile (any load generator). */
export async function serverCpuDuring<R extends { readonly rps: number }>(serverCpus: string | undefined, seconds: number, run: () => Promise<R>): Promise<R & { serverCpu?: ServerCpu }> {
  if (serverCpus === undefined) return run();
  const [busy0, total0] = cpuTicks(serverCpus);
  const result = await run();
  const [busy1, total1] = cpuTicks(serverCpus);
  const busySeconds = (busy1 - busy0) / 100; // USER_HZ
  const requests = result.rps * seconds;
  return { ...result, serverCpu: { busy: total1 > total0 ? (busy1 - busy0) / (total1 - total0) : 0, usPerRequest: requests > 0 ? (busySeconds * 1e6) / requests : 0 } };
}

async function runWrk(url: string, load: Load, wrapper: readonly string[] = []): Promise<LoadResult & { stderr: string }> {
  const [cmd, args] = pinned(load.cpus ?? '0', [...wrapper, 'wrk', '-t1', `-c${load.connections}`, `-d${load.seconds}s`, '-s', ZIPF_LUA, url]);
  const env = { ...process.env, PATHS: load.paths, ZIPF_S: String(load.zipfS ?? 1), HEADER: load.header ?? '', METHOD: load.method ?? 'GET' };
  const [out, stderr] = await new Promise<[string, string]>((resolve, reject) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: (load.seconds + 30) * 1000 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk ${url}: ${err.message} ${stderr}`)) : resolve([stdout, stderr])));
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT'));
  if (line === undefined) throw new Error(`wrk ${url}: no RESULT line in ${out}`);
  const field = (name: string) => Number(new RegExp(`${name}=([\\d.]+)`).exec(line)?.[1]);
  return { rps: field('rps'), p50Ms: field('p50_ms'), p99Ms: field('p99_ms'), mbps: field('MBps'), non2xx: field('non2xx'), errors: field('errors'), stderr };
}

/** What wrk itself used during its run (GNU time): CPU seconds and context switches. */
export interface WrkOwn {
  readonly cpuSeconds: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

/** wrk run under /usr/bin/time, so wrk's own CPU and context switches are known too (bench/workers-cpu.ts). */
export async function wrkWithOwnCpu(url: string, load: Load): Promise<LoadResult & { own: WrkOwn }> {
  const result = await runWrk(url, load, ['/usr/bin/time', '-f', 'WRKTIME %U %S %w %c']);
  const m = /WRKTIME ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(result.stderr);
  if (m === null) throw new Error(`wrk ${url}: no GNU time line in ${result.stderr}`);
  return { ...result, own: { cpuSeconds: Number(m[1]) + Number(m[2]), voluntary: Number(m[3]), involuntary: Number(m[4]) } };
}

/** Several wrk processes at once (one per URL, connections split between them), summed. */
export function wrkSpread(urls: readonly string[], load: Load): Promise<LoadResult> {
  return withServerCpu(load, () => spread(urls, load));
}

async function spread(urls: readonly string[], load: Load): Promise<LoadResult> {
  const per = Math.max(1, Math.floor(load.connections / urls.length));
  const results = await Promise.all(urls.map((url) => runWrk(url, { ...load, connections: per })));
  const sum = (f: (r: LoadResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    rps: sum((r) => r.rps),
    // Percentiles cannot be merged exactly: the request-weighted mean of p50s and the worst p99.
    p50Ms: sum((r) => r.p50Ms * r.rps) / sum((r) => r.rps),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    mbps: sum((r) => r.mbps),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
  };
}
