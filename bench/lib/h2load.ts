/**
 * HTTP/2 load: h2load (Debian nghttp2-client), pinned to the load CPU, over TLS with ALPN h2.
 * h2load has no script hook like wrk's, so a Zipf load is a file of URIs drawn once under
 * Zipf s=1 from a seeded generator (the same sequence for every server), which each client
 * walks in order (`h2load -i`). h2load reports mean latency, not percentiles.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned, processCpuSeconds } from './proc.js';
import { serverCpuDuring, type ServerCpu } from './wrk.js';

export interface H2Load {
  /** Paths, most popular first; one path: that path only. */
  readonly paths: string;
  readonly seconds: number;
  readonly connections: number;
  /** Concurrent streams per connection (`-m`). */
  readonly streams: number;
  /** CPUs h2load runs on. @default '0' */
  readonly cpus?: string;
  readonly serverCpus?: string;
  /** The server's processes: their own CPU time per request is measured. */
  readonly serverPids?: readonly number[];
}

export interface H2LoadResult {
  readonly rps: number;
  readonly mbps: number;
  /** Mean time for a request, ms. */
  readonly meanMs: number;
  readonly failed: number;
  /** Requests done (h2load's count). */
  readonly done: number;
  readonly non2xx: number;
  readonly serverCpu?: ServerCpu;
  /** The server processes' own CPU time (user + system) per request, µs; with serverPids. */
  readonly processUsPerRequest?: number;
}

/** Requests drawn per Zipf URI file: far more than a client sends in a run's first pass. */
const ZIPF_DRAWS = 200_000;

/** A file of `base + path` lines: the one path, or ZIPF_DRAWS Zipf(s=1) draws, seeded. */
export function uriFile(dir: string, base: string, pathsFile: string): string {
  const paths = readFileSync(pathsFile, 'utf8').split('\n').filter(Boolean);
  const file = join(dir, `uris-${base.replace(/\W/g, '_')}-${paths.length}.txt`);
  if (existsSync(file)) return file;
  if (paths.length === 1) {
    writeFileSync(file, `${base}${paths[0]}\n`);
    return file;
  }
  const cdf: number[] = [];
  let total = 0;
  for (let i = 1; i <= paths.length; i++) cdf.push((total += 1 / i));
  let seed = 1000;
  // mulberry32: a small seeded generator, so every server gets the same draws
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lines: string[] = [];
  for (let n = 0; n < ZIPF_DRAWS; n++) {
    const u = random() * total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    lines.push(base + paths[lo]!);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export async function h2load(base: string, dir: string, load: H2Load): Promise<H2LoadResult> {
  const uris = uriFile(dir, base, load.paths);
  const pids = load.serverPids ?? [];
  const cpu0 = processCpuSeconds(pids);
  const result = await serverCpuDuring(load.serverCpus, load.seconds, async () => {
    const [cmd, args] = pinned(load.cpus ?? '0', ['h2load', '-t1', `-c${load.connections}`, `-m${load.streams}`, `-D${load.seconds}`, '-i', uris]);
    const out = await new Promise<string>((resolve, reject) => {
      execFile(cmd, args, { encoding: 'utf8', timeout: (load.seconds + 30) * 1000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`h2load ${base}: ${err.message} ${stderr}`)) : resolve(stdout)));
    });
    const finished = /finished in [\d.]+s, ([\d.]+) req\/s, ([\d.]+)([KMG]?)B\/s/.exec(out);
    const requests = /requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed/.exec(out);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const time = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
    if (!finished || !requests || !codes || !time) throw new Error(`h2load ${base}: unexpected output ${out}`);
    const unit = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 }[finished[3] as '' | 'K' | 'M' | 'G'];
    const ms = Number(time[1]) * (time[2] === 'us' ? 1e-3 : time[2] === 's' ? 1e3 : 1);
    return {
      rps: Number(finished[1]),
      mbps: Number(finished[2]) * unit,
      meanMs: ms,
      failed: Number(requests[2]),
      done: Number(requests[1]),
      non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    };
  });
  if (pids.length === 0 || result.done === 0) return result;
  return { ...result, processUsPerRequest: ((processCpuSeconds(pids) - cpu0) * 1e6) / result.done };
}

/** A self-signed certificate for 127.0.0.1 (made once with openssl): the same for every server. */
export function benchCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'bench-cert.pem');
  const key = join(dir, 'bench-key.pem');
  if (!existsSync(cert) || !existsSync(key)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  }
  return { cert, key };
}
