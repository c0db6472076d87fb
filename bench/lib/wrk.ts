/** The load generator: wrk with the kit's Zipf script, pinned to the load CPU. */
import { execFile } from 'node:child_process';
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
}

export interface LoadResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly mbps: number;
  readonly non2xx: number;
  readonly errors: number;
}

export async function wrk(url: string, load: Load): Promise<LoadResult> {
  const [cmd, args] = pinned(load.cpus ?? '0', ['wrk', '-t1', `-c${load.connections}`, `-d${load.seconds}s`, '-s', ZIPF_LUA, url]);
  const env = { ...process.env, PATHS: load.paths, ZIPF_S: String(load.zipfS ?? 1) };
  const out = await new Promise<string>((resolve, reject) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: (load.seconds + 30) * 1000 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk ${url}: ${err.message} ${stderr}`)) : resolve(stdout)));
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT'));
  if (line === undefined) throw new Error(`wrk ${url}: no RESULT line in ${out}`);
  const field = (name: string) => Number(new RegExp(`${name}=([\\d.]+)`).exec(line)?.[1]);
  return { rps: field('rps'), p50Ms: field('p50_ms'), p99Ms: field('p99_ms'), mbps: field('MBps'), non2xx: field('non2xx'), errors: field('errors') };
}

/** Several wrk processes at once (one per URL, connections split between them), summed. */
export async function wrkSpread(urls: readonly string[], load: Load): Promise<LoadResult> {
  const per = Math.max(1, Math.floor(load.connections / urls.length));
  const results = await Promise.all(urls.map((url) => wrk(url, { ...load, connections: per })));
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
