/**
 * `npx tsx bench/handover.ts [keys=2000] [seconds=60] [handover=on|off|both] [loops=8] [warmup=5]`:
 * issue 16's scale-out/in measurement on real processes. A warm 3-node cluster found by DNS
 * (a dns2 server on 127.0.0.1; nodes on 127.0.0.1-.3 sharing one port, `hashedge serve
 * --peers-dns`) serves a bounded Zipf (s=1) load over `keys` small assets of a disk origin;
 * phase A adds 127.0.0.4 to the DNS answer and starts it, phase B takes 127.0.0.2 out of the
 * answer (and out of the client's rotation; the process keeps running until the phase ends,
 * then gets SIGTERM). For each phase and mode (--handover-grace 5m, or 0): the keys that changed
 * owner (src/cluster/ring.ts over the member URLs), the origin loads during the phase
 * (hashedge_origin_fetches_total of every node, after minus before), which keys they were
 * (the origin files whose access time moved: each is read once per load), hand-over fetches
 * and client errors. With a warm cache every origin load in a phase is due to the change.
 *
 * Runs the hashedge sources next to this file (`node --import tsx src/cli.ts serve`), so no
 * build is needed; `cli=dist/cli.js` runs a build instead.
 */
import { Agent, request as httpRequest } from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { portFreeOnAll } from '../test/helpers/cluster.js';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ring } from '../src/cluster/ring.js';
import { TestDnsServer } from '../test/helpers/dns-server.js';
import { table } from './lib/table.js';
import { zipfSampler } from './lib/zipf.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const positional = args.filter((a) => !a.includes('='));
const arg = (name: string, index: number, fallback: string) =>
  args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? positional[index] ?? fallback;
const KEYS = Number(arg('keys', 0, '2000'));
const SECONDS = Number(arg('seconds', 1, '60'));
const MODES = ((m) => (m === 'both' ? ['on', 'off'] : [m]))(arg('handover', 2, 'both')) as Array<'on' | 'off'>;
const LOOPS = Number(arg('loops', 99, '8'));
const WARMUP = Number(arg('warmup', 99, '5'));
const CLI = arg('cli', 99, 'src/cli.ts');
const GRACE_ON = '5m';

const NAME = 'hashedge-peers.bench';
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const [H1, H2, H3, H4] = HOSTS as [string, string, string, string];
const LEAVES = H2;

// ---------------------------------------------------------------- origin

const dir = await mkdtemp(join(tmpdir(), 'hashedge-handover-'));
const originDir = join(dir, 'origin');
await mkdir(join(originDir, 'assets'), { recursive: true });
/** Keys by popularity rank (k0 is requested most). */
const keys: string[] = [];
for (let i = 0; i < KEYS; i++) {
  // 200 B - 6 KB of deterministic JavaScript; the name carries a prefix of its SHA-256, as a bundler's would.
  const size = Math.round(200 * 30 ** ((i * 7919) % KEYS / KEYS));
  // A hash of hex letters only (`dfeedffebf`) reads as a word to hashedge, which refuses it: vary the body.
  let body = '';
  let hash = '';
  for (let nonce = 0; !/[0-9]/.test(hash); nonce++) {
    body = `export const k${i} = ${JSON.stringify('x'.repeat(size) + i)};\n${nonce > 0 ? `// ${nonce}\n` : ''}`;
    hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
  }
  const key = `assets/k${i}-${hash}.js`;
  await writeFile(join(originDir, key), body);
  keys.push(key);
}
/** Marks every origin file unread: a read then moves its access time (relatime reads after atime <= mtime). */
const UNREAD = new Date('2020-01-01T00:00:00Z');
async function markUnread(): Promise<void> {
  await Promise.all(keys.map((k) => utimes(join(originDir, k), UNREAD, UNREAD)));
}
/** Keys whose file was read since markUnread(): each was loaded from the origin at least once. */
async function readSince(): Promise<Map<string, number>> {
  const read = new Map<string, number>();
  await Promise.all(keys.map(async (k) => {
    const { atimeMs } = await stat(join(originDir, k));
    if (atimeMs > UNREAD.getTime() + 86_400_000) read.set(k, atimeMs);
  }));
  return read;
}

// ---------------------------------------------------------------- nodes

interface Node {
  readonly host: string;
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

function startNode(host: string, port: number, dns: string, grace: string): Node {
  const cliArgs = CLI.endsWith('.ts') ? ['--import', 'tsx', join(ROOT, CLI)] : [join(ROOT, CLI)];
  const child = spawn(process.execPath, [
    ...cliArgs, 'serve',
    '--host', host, '--port', String(port), '--origin', originDir,
    '--peers-dns', `${NAME}:${port}`, '--dns-servers', dns, '--self-address', host, '--peers-dns-interval', '1s',
    '--handover-grace', grace, '--shutdown-delay', '0', '--log-level', 'warn',
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer) => void (out = (out + String(c)).slice(-8192));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { host, url: `http://${host}:${port}`, child, output: () => out };
}

async function ready(node: Node): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (node.child.exitCode !== null) throw new Error(`${node.url} exited: ${node.output()}`);
    const ok = await fetch(`${node.url}/_hashedge/health/ready`).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${node.url} not ready in 60 s: ${node.output()}`);
    await sleep(100);
  }
}

async function stopNode(node: Node): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = once(node.child, 'exit');
  node.child.kill('SIGTERM');
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function metrics(node: Node): Promise<Map<string, number>> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(hashedge_[a-z_]+)(?:\{[^}]*\})? (\S+)$/gm)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  return out;
}

interface Counters {
  origin: number;
  handover: number;
  peer: number;
  peerErrors: number;
  /** Origin loads by node host. */
  byNode: Map<string, number>;
}

/** Summed counters of `nodes`. */
async function counters(nodes: readonly Node[]): Promise<Counters> {
  const all = await Promise.all(nodes.map(metrics));
  const sum = (name: string) => all.reduce((s, m) => s + (m.get(name) ?? 0), 0);
  return {
    origin: sum('hashedge_origin_fetches_total'), handover: sum('hashedge_handover_fetches_total'),
    peer: sum('hashedge_peer_fetches_total'), peerErrors: sum('hashedge_peer_errors_total'),
    byNode: new Map(nodes.map((n, i) => [n.host, all[i]!.get('hashedge_origin_fetches_total') ?? 0])),
  };
}

/** ms until every node in `nodes` has `members` members (hashedge_cluster_members), polled every 50 ms. */
async function converged(nodes: readonly Node[], members: number, since: number): Promise<number> {
  for (;;) {
    const all = await Promise.all(nodes.map((n) => metrics(n).then((m) => m.get('hashedge_cluster_members'), () => undefined)));
    if (all.every((n) => n === members)) return Date.now() - since;
    if (Date.now() - since > 30_000) return NaN;
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- load

class Load {
  /** Where requests go, round-robin (the load balancer's pool). */
  targets: Node[] = [];
  requests = 0;
  errors: string[] = [];
  requested = new Set<string>();
  #stop = false;
  #turn = 0;
  readonly #agents = new Map<string, Agent>();
  readonly #loops: Promise<void>[] = [];

  get(node: Node, key: string): Promise<void> {
    let agent = this.#agents.get(node.url);
    if (agent === undefined) this.#agents.set(node.url, (agent = new Agent({ keepAlive: true, maxSockets: LOOPS })));
    return new Promise<void>((resolve) => {
      const fail = (what: string) => {
        this.errors.push(`${node.host} ${what}`);
        resolve();
      };
      const req = httpRequest(`${node.url}/${key}`, { agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          this.requests++;
          this.requested.add(key);
          if (res.statusCode === 200) resolve();
          else fail(String(res.statusCode));
        });
        res.on('error', (e) => fail(e.message));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
      req.end();
    });
  }

  /** Every key once, spread over the targets. */
  async pass(): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: LOOPS }, async () => {
      for (let i = next++; i < keys.length; i = next++) await this.get(this.targets[i % this.targets.length]!, keys[i]!);
    }));
  }

  start(): void {
    for (let l = 0; l < LOOPS; l++) {
      const rank = zipfSampler(keys.length, 1, 0x5eed + l);
      this.#loops.push((async () => {
        while (!this.#stop) await this.get(this.targets[this.#turn++ % this.targets.length]!, keys[rank()]!);
      })());
    }
  }

  /** Counts from now on. */
  reset(): void {
    this.requests = 0;
    this.errors = [];
    this.requested = new Set();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#loops);
    for (const a of this.#agents.values()) a.destroy();
  }
}

// ---------------------------------------------------------------- one mode

interface PhaseResult {
  mode: 'on' | 'off';
  phase: string;
  moved: number;
  movedRequested: number;
  originLoads: number;
  loadedMovedNow: number;
  loadedMovedBefore: number;
  loadedOther: number;
  handovers: number;
  peerFetches: number;
  peerErrors: number;
  originByNode: string;
  /** When (s after the change) the keys loaded from the origin were first read, by kind. */
  loadTimes: string;
  /** Of the keys loaded that moved in the phase before: how many the client had requested in that phase. */
  loadedMovedBeforeRequestedThen: number;
  requestedKeys: Set<string>;
  requests: number;
  errors: string[];
  convergedMs: number;
}

async function runMode(mode: 'on' | 'off', port: number): Promise<{ warm: { requests: number; originLoads: number; keysRead: number; errors: number }; phases: PhaseResult[] }> {
  const grace = mode === 'on' ? GRACE_ON : '0';
  const dns = new TestDnsServer();
  const dnsAddress = await dns.start();
  const url = (h: string) => `http://${h}:${port}`;
  dns.set(NAME, [H1, H2, H3]);
  const nodes = [H1, H2, H3].map((h) => startNode(h, port, dnsAddress, grace));
  const load = new Load();
  try {
    await Promise.all(nodes.map(ready));
    await converged(nodes, 3, Date.now());

    // Warm-up: every key once (each loaded by its owner), then the Zipf load (hot copies on non-owners).
    await markUnread();
    load.targets = [...nodes];
    await load.pass();
    load.start();
    await sleep(WARMUP * 1000);
    const warmCounters = await counters(nodes);
    const warm = { requests: load.requests, originLoads: warmCounters.origin, keysRead: (await readSince()).size, errors: load.errors.length };

    const phases: PhaseResult[] = [];
    const ring3 = new Ring([H1, H2, H3].map(url));
    const ring4 = new Ring(HOSTS.map(url));
    const ringB = new Ring([H1, H3, H4].map(url));
    const movedA = new Set(keys.filter((k) => ring3.owner(k) !== ring4.owner(k)));
    const movedB = new Set(keys.filter((k) => ring4.owner(k) !== ringB.owner(k)));

    const phase = async (name: string, moved: Set<string>, movedBefore: Set<string>, requestedBefore: Set<string>, change: () => Promise<Node[]>): Promise<void> => {
      const counted = [...nodes];
      const before = await counters(counted);
      await markUnread();
      load.reset();
      const t0 = Date.now();
      const members = await change();
      const convergedMs = await converged(members, members.length, t0);
      await sleep(Math.max(0, t0 + SECONDS * 1000 - Date.now()));
      const after = await counters(counted.concat(nodes.filter((n) => !counted.includes(n))));
      const readAt = await readSince();
      const read = [...readAt.keys()];
      const when = (kind: string, ks: string[]) => {
        const at = ks.map((k) => (readAt.get(k)! - t0) / 1000).sort((a, b) => a - b);
        return at.length === 0 ? [] : [`${kind} ${at.length} at ${at[0]!.toFixed(1)}-${at.at(-1)!.toFixed(1)} s (median ${at[at.length >> 1]!.toFixed(1)})`];
      };
      const movedRequested = [...moved].filter((k) => load.requested.has(k)).length;
      phases.push({
        mode, phase: name, moved: moved.size, movedRequested,
        originLoads: after.origin - before.origin,
        loadedMovedNow: [...read].filter((k) => moved.has(k)).length,
        loadedMovedBefore: [...read].filter((k) => !moved.has(k) && movedBefore.has(k)).length,
        loadedOther: [...read].filter((k) => !moved.has(k) && !movedBefore.has(k)).length,
        loadedMovedBeforeRequestedThen: [...read].filter((k) => !moved.has(k) && movedBefore.has(k) && requestedBefore.has(k)).length,
        peerErrors: after.peerErrors - before.peerErrors,
        loadTimes: [...when('moved now', read.filter((k) => moved.has(k))), ...when('moved in the phase before', read.filter((k) => !moved.has(k) && movedBefore.has(k))), ...when('unmoved', read.filter((k) => !moved.has(k) && !movedBefore.has(k)))].join('; ') || 'none',
        originByNode: [...after.byNode].map(([h, n]) => `${h} ${n - (before.byNode.get(h) ?? 0)}`).join(', '),
        requestedKeys: load.requested,
        handovers: after.handover - before.handover,
        peerFetches: after.peer - before.peer,
        requests: load.requests, errors: [...load.errors], convergedMs,
      });
    };

    // Phase A: scale out. The 4th address appears in DNS and its node starts; the load
    // balancer sends it requests once it is ready.
    await phase(`A: add ${H4}`, movedA, new Set(), new Set(), async () => {
      dns.set(NAME, HOSTS);
      const added = startNode(H4, port, dnsAddress, grace);
      nodes.push(added);
      await ready(added);
      load.targets = [...nodes];
      return [...nodes];
    });

    // Phase B: scale in. The leaving node drops out of DNS and of the load balancer's pool at
    // once, and keeps running (its lame-duck period) until the phase ends.
    const leaving = nodes.find((n) => n.host === LEAVES)!;
    await phase(`B: remove ${LEAVES}`, movedB, movedA, phases[0]!.requestedKeys, async () => {
      dns.set(NAME, [H1, H3, H4]);
      load.targets = nodes.filter((n) => n !== leaving);
      return load.targets;
    });
    await stopNode(leaving);
    return { warm, phases };
  } finally {
    await load.stop();
    await Promise.all(nodes.map(stopNode));
    dns.close();
  }
}

// ---------------------------------------------------------------- main

const started = new Date();
console.log(`hashedge hand-over: ${KEYS} keys, Zipf s=1, ${LOOPS} keep-alive loops round-robin over the nodes, ${SECONDS} s per phase, warm-up ${WARMUP} s after one pass; ${cpus().length} CPUs, Node ${process.version}; ${started.toISOString()}`);
const results: PhaseResult[] = [];
try {
  // One port for both modes, so both move the same keys (the ring hashes member URLs).
  const port = await portFreeOnAll(HOSTS);
  for (const mode of MODES) {
    const t = Date.now();
    const { warm, phases } = await runMode(mode, port);
    console.log(`handover ${mode} (--handover-grace ${mode === 'on' ? GRACE_ON : '0'}): warm-up ${warm.requests} requests, ${warm.originLoads} origin loads (${warm.keysRead} distinct keys), ${warm.errors} errors; ${((Date.now() - t) / 1000).toFixed(0)} s`);
    for (const p of phases) {
      console.log(`  ${p.phase}: origin loads by node: ${p.originByNode}; peer fetches ${p.peerFetches}, peer errors ${p.peerErrors}; ${p.loadedMovedBefore} keys that moved in the phase before loaded, ${p.loadedMovedBeforeRequestedThen} of them requested in that phase; keys first read from the origin: ${p.loadTimes}`);
    }
    for (const p of phases) if (p.errors.length > 0) console.log(`  ${p.phase} client errors: ${JSON.stringify(Object.fromEntries(Object.entries(p.errors.reduce<Record<string, number>>((m, e) => ((m[e] = (m[e] ?? 0) + 1), m), {}))))}`);
    results.push(...phases);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const pct = (n: number, d: number) => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);
console.log();
console.log(table(
  ['hand-over', 'phase', 'keys that changed owner', 'of them requested in the phase', 'origin loads in the phase', 'moved keys loaded from the origin', 'share of moved keys from the origin', 'other keys loaded (moved in phase A)', 'hand-over fetches', 'requests', 'client errors', 'ring converged after'],
  results.map((p) => [
    p.mode === 'on' ? `on (${GRACE_ON})` : 'off (0)', p.phase, p.moved, p.movedRequested, p.originLoads, p.loadedMovedNow,
    pct(p.originLoads, p.moved), p.loadedOther > 0 ? `${p.loadedMovedBefore} (+${p.loadedOther} unmoved)` : p.loadedMovedBefore,
    p.handovers, p.requests.toLocaleString('en-US'), p.errors.length, Number.isNaN(p.convergedMs) ? '> 30 s' : `${(p.convergedMs / 1000).toFixed(1)} s`,
  ]),
));
console.log();
const on = results.filter((p) => p.mode === 'on');
if (on.length > 0) {
  const worst = Math.max(...on.map((p) => p.originLoads / Math.max(1, p.moved)));
  console.log(`Target: with hand-over at most 1% of the keys that changed owner loaded from the origin: worst phase ${(100 * worst).toFixed(1)}%, ${worst <= 0.01 ? 'met' : 'MISSED'}.`);
}
console.log(`Finished ${new Date().toISOString()} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s).`);
