/** hashedge nodes for the benchmark: real `hashedge serve` processes (dist/cli.js) on the server CPUs. */
import { fileURLToPath } from 'node:url';
import type { BenchEnv } from './anchors.js';
import { freePort, startProcess, type Proc } from './proc.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface HashedgeOptions {
  readonly origin: string;
  /** Nodes in one cluster (--peers). @default 1 */
  readonly nodes?: number;
  /** --cache-size of each node. @default '1GiB' */
  readonly cacheSize?: string;
  readonly extraArgs?: readonly string[];
  /** Node/V8 flags before the script (node:cluster gives them to the workers too). */
  readonly nodeArgs?: readonly string[];
  /** Extra environment (S3 credentials). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Stats {
  readonly ready: boolean;
  readonly cache: { bytes: number; budgetBytes: number; items: number; pendingVariants: number };
  readonly counters: { hits: number; misses: number; collapsed: number; originFetches: number; peerFetches: number; evictions: number; hotHits: number };
}

export interface Hashedge {
  readonly urls: readonly string[];
  readonly pids: readonly number[];
  stats(url: string): Promise<Stats>;
  /** Resolves once every node has made the variants of what it holds (after a warm-up). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHashedge(env: BenchEnv, options: HashedgeOptions): Promise<Hashedge> {
  const nodes = options.nodes ?? 1;
  const ports: number[] = [];
  for (let i = 0; i < nodes; i++) ports.push(await freePort());
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const procs: Proc[] = ports.map((port, i) =>
    startProcess(env.serverCpus, [
      process.execPath,
      ...(options.nodeArgs ?? []),
      CLI,
      'serve',
      '--host', '127.0.0.1',
      '--port', String(port),
      '--origin', options.origin,
      '--cache-size', options.cacheSize ?? '1GiB',
      '--log-level', 'warn',
      ...(nodes > 1 ? ['--self', urls[i]!, '--peers', urls.join(',')] : []),
      ...(options.extraArgs ?? []),
    ], { env: { ...process.env, ...options.env } }),
  );
  const stats = async (url: string): Promise<Stats> => (await (await fetch(`${url}/_hashedge/stats`)).json()) as Stats;
  // Ready: listening and the origin has answered its probe.
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < nodes; i++) {
    for (;;) {
      const proc = procs[i]!;
      if (proc.child.exitCode !== null) throw new Error(`hashedge on ${urls[i]} exited: ${proc.output()}`);
      const ready = await stats(urls[i]!).then((s) => s.ready, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`hashedge on ${urls[i]} not ready within 30 s: ${proc.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    urls,
    pids: procs.map((p) => p.child.pid!),
    stats,
    async settled() {
      const until = Date.now() + 300_000;
      for (const url of urls) {
        // /metrics: the whole node with --workers (as /_hashedge/stats is).
        const pending = async () => Number(/^hashedge_cache_pending_variants (\S+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
        while ((await pending()) !== 0) {
          if (Date.now() > until) throw new Error(`hashedge on ${url} still compressing after 5 minutes`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
    stop: async () => void (await Promise.all(procs.map((p) => p.stop()))),
  };
}
