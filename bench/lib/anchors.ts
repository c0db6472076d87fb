/**
 * The anchors hashedge is measured against in the same run (shared/bench): nginx (static, as
 * origin, as proxy_cache edge), Varnish, a groupcache node in Go, and Node baselines. Each is
 * started only if installed; otherwise it is reported as skipped with its install command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childPids, freePort, has, startProcess, waitForExit, waitForHttp, type Proc } from './proc.js';

const KIT = fileURLToPath(new URL('../kit/', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const GROUPCACHE_SOURCE = '/usr/share/gocode/src/github.com/golang/groupcache';

export interface BenchEnv {
  /** Working directory: corpus in origin/, paths.txt, logs, caches. */
  readonly dir: string;
  /** CPUs the servers under test run on. */
  readonly serverCpus: string;
}

export const INSTALL = {
  wrk: 'apt-get install -y wrk',
  nginx: 'apt-get install -y nginx',
  varnish: 'apt-get install -y varnish',
  groupcache: 'apt-get install -y golang-go golang-github-golang-groupcache-dev',
  h2load: 'apt-get install -y nghttp2-client',
} as const;

export interface Availability {
  readonly nginx: boolean;
  readonly varnish: boolean;
  readonly groupcache: boolean;
}

export function availability(): Availability {
  return { nginx: has('nginx'), varnish: has('varnishd'), groupcache: has('go') && existsSync(GROUPCACHE_SOURCE) };
}

/** One nginx process: static server, logged origin, 4 MB/s origin, and `edges` proxy_cache edges on the origin. */
export interface Nginx {
  readonly staticUrl: string;
  readonly originPort: number;
  readonly originUrl: string;
  readonly slowOriginPort: number;
  readonly slowOriginUrl: string;
  readonly edgeUrls: readonly string[];
  /** Requests the logged origin has seen, by path. */
  originRequests(): Map<string, number>;
  stop(): Promise<void>;
}

/**
 * keepCache: the edges' proxy_cache directories are kept from the last start (a restart: nginx's
 * cache loader indexes them again). edgeMaxSize: each edge's proxy_cache max_size. @default '2g'
 * workers: nginx worker processes. @default 1 (the kit's: one server core)
 */
export async function startNginx(env: BenchEnv, options: { edges: number; edgeUpstream?: 'origin' | 'slow-origin'; keepCache?: boolean; edgeMaxSize?: string; workers?: number; reusePort?: boolean }): Promise<Nginx> {
  const [staticPort, originPort, slowOriginPort] = [await freePort(), await freePort(), await freePort()];
  const edgePorts: number[] = [];
  for (let i = 0; i < options.edges; i++) edgePorts.push(await freePort());
  const upstream = options.edgeUpstream === 'slow-origin' ? slowOriginPort : originPort;
  const edgeTemplate = readFileSync(join(KIT, 'nginx-edge.template'), 'utf8');
  const edges = edgePorts.map((port, n) => fill(edgeTemplate, { N: String(n), PORT: String(port), UPSTREAM: String(upstream), DIR: env.dir, MAX_SIZE: options.edgeMaxSize ?? '2g' })).join('\n');
  const conf = fill(readFileSync(join(KIT, 'nginx.conf.template'), 'utf8'), { DIR: env.dir, STATIC: String(staticPort), ORIGIN: String(originPort), SLOW_ORIGIN: String(slowOriginPort), EDGES: edges }).replace('worker_processes 1;', `worker_processes ${options.workers ?? 1};`);
  // reuseport: a listening socket per worker, the kernel spreads connections evenly over them (as node:cluster's round-robin does).
  const confText = options.reusePort ? conf.replace(`listen 127.0.0.1:${staticPort};`, `listen 127.0.0.1:${staticPort} reuseport;`) : conf;
  if (!options.keepCache) for (let i = 0; i < options.edges; i++) rmSync(join(env.dir, `nginx-cache-${i}`), { recursive: true, force: true });
  rmSync(join(env.dir, 'origin-access.log'), { force: true });
  const confPath = join(env.dir, 'nginx.conf');
  writeFileSync(confPath, confText);
  execFileSync('taskset', ['-c', env.serverCpus, 'nginx', '-c', confPath], { stdio: 'inherit' });
  const url = (port: number) => `http://127.0.0.1:${port}`;
  await waitForHttp(url(staticPort));
  return {
    staticUrl: url(staticPort),
    originPort,
    originUrl: url(originPort),
    slowOriginPort,
    slowOriginUrl: url(slowOriginPort),
    edgeUrls: edgePorts.map(url),
    originRequests() {
      const counts = new Map<string, number>();
      const log = join(env.dir, 'origin-access.log');
      if (!existsSync(log)) return counts;
      for (const line of readFileSync(log, 'utf8').split('\n')) if (line) counts.set(line, (counts.get(line) ?? 0) + 1);
      return counts;
    },
    async stop() {
      const pid = Number(readFileSync(join(env.dir, 'nginx.pid'), 'utf8'));
      process.kill(pid, 'SIGQUIT');
      await waitForExit(pid);
    },
  };
}

/** nginx serving the corpus over TLS with HTTP/2 (kit/nginx-h2.conf.template), one worker. */
export async function startNginxH2(env: BenchEnv, tls: { cert: string; key: string }): Promise<{ url: string; pids: number[]; stop(): Promise<void> }> {
  const port = await freePort();
  const confPath = join(env.dir, 'nginx-h2.conf');
  writeFileSync(confPath, fill(readFileSync(join(KIT, 'nginx-h2.conf.template'), 'utf8'), { DIR: env.dir, PORT: String(port), CERT: tls.cert, KEY: tls.key }));
  execFileSync('taskset', ['-c', env.serverCpus, 'nginx', '-c', confPath], { stdio: 'inherit' });
  const url = `https://127.0.0.1:${port}`;
  await waitForHttp(`http://127.0.0.1:${port}`); // answers 400 to plain HTTP once up
  return {
    url,
    // The worker (one): where the work is done; the master only waits.
    pids: childPids(Number(readFileSync(join(env.dir, 'nginx-h2.pid'), 'utf8'))),
    async stop() {
      const pid = Number(readFileSync(join(env.dir, 'nginx-h2.pid'), 'utf8'));
      process.kill(pid, 'SIGQUIT');
      await waitForExit(pid);
    },
  };
}

/** A Varnish (malloc storage) in front of an HTTP origin port. */
export async function startVarnish(env: BenchEnv, name: string, originPort: number): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const work = join(env.dir, `varnish-${name}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const vcl = join(work, 'default.vcl');
  writeFileSync(vcl, fill(readFileSync(join(KIT, 'varnish.vcl.template'), 'utf8'), { ORIGIN: String(originPort) }));
  const pidFile = join(work, 'varnishd.pid');
  execFileSync('taskset', ['-c', env.serverCpus, 'varnishd', '-a', `127.0.0.1:${port}`, '-f', vcl, '-s', 'malloc,1G', '-n', work, '-P', pidFile, '-p', 'thread_pools=1'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url);
  return {
    url,
    async stop() {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      process.kill(pid, 'SIGTERM');
      await waitForExit(pid);
    },
  };
}

/** Builds the Go groupcache node once (GOPATH mode against Debian's groupcache source). */
export function buildGroupcache(env: BenchEnv): string {
  const binary = join(env.dir, 'gcnode');
  if (existsSync(binary)) return binary;
  const gopath = join(env.dir, 'gopath');
  mkdirSync(gopath, { recursive: true });
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: join(KIT, 'groupcache-node'),
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(env.dir, 'gocache') },
    stdio: 'inherit',
  });
  return binary;
}

/** groupcache nodes (Go, GOMAXPROCS=1) over a directory or an http:// origin. */
export async function startGroupcache(env: BenchEnv, options: { nodes: number; origin: string }): Promise<{ urls: string[]; stop(): Promise<void> }> {
  const binary = buildGroupcache(env);
  const ports: number[] = [];
  for (let i = 0; i < options.nodes; i++) ports.push(await freePort());
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const procs: Proc[] = urls.map((url, i) =>
    startProcess(env.serverCpus, [binary, '-self', url, '-listen', `127.0.0.1:${ports[i]}`, '-origin', options.origin, ...(options.nodes > 1 ? ['-peers', urls.join(',')] : [])], { env: { ...process.env, GOMAXPROCS: '1' } }),
  );
  await Promise.all(urls.map((url, i) => waitForHttp(url, procs[i])));
  return { urls, stop: async () => void (await Promise.all(procs.map((p) => p.stop()))) };
}

/** The kit's Node baselines: `bare-memory` (node:http from a Map) or `express-static`. */
export async function startNodeBaseline(env: BenchEnv, mode: 'bare-memory' | 'express-static'): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = startProcess(env.serverCpus, [process.execPath, join(KIT, 'node-baselines.mjs'), mode, String(port)], {
    env: { ...process.env, ORIGIN: join(env.dir, 'origin'), NODE_BASE: REPO },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, proc);
  return { url, stop: () => proc.stop() };
}

/**
 * The memory workload's floor: node:http with lru-cache bounded by `budgetBytes`, misses read
 * from `origin` (bench/lib/node-lru.mjs). `env` adds to the process environment (malloc settings).
 */
export async function startNodeLru(env: BenchEnv, options: { origin: string; budgetBytes: number; env?: NodeJS.ProcessEnv }): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./node-lru.mjs', import.meta.url));
  const proc = startProcess(env.serverCpus, [process.execPath, script, String(port), String(options.budgetBytes)], {
    env: { ...process.env, ...options.env, ORIGIN: options.origin, NODE_BASE: REPO },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, proc);
  return { url, pid: proc.child.pid!, stop: () => proc.stop() };
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (whole, name: string) => values[name] ?? whole);
}
