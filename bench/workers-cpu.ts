/**
 * Where the CPU goes with --workers on a small machine (issue 18): hashedge as one process, with
 * --workers 2 and nginx static with 1 or 2 workers, each under the same wrk load (small hot asset by
 * default), measured in turn, round after round. For every process and every thread of the
 * server: CPU seconds (/proc/<pid>/task/<tid>/stat utime+stime) and voluntary / involuntary
 * context switches (/proc/<pid>/task/<tid>/status) over the measured run, divided by the
 * requests wrk completed; wrk's own CPU (GNU time); the machine's busy time and context
 * switches (/proc/stat), so what colleagues' processes took is visible too. CPU per request is
 * what to compare on a shared machine: rps moves with the others' load, the server's own
 * CPU per request much less.
 *
 *   npx tsx bench/workers-cpu.ts [seconds=10 warmup=3 rounds=2 setups=one,two,nginx zipf=0
 *                                 wrkCpus=0 serverCpus=0,1 strace=0 perf=0 dir=/tmp/hashedge-bench]
 *   npx tsx bench/workers-cpu.ts setups=two,two:gc two:gc=--single-threaded-gc,--v8-pool-size=1
 *
 * `npm run build` first (it runs dist/cli.js) and `npm run bench -- only=small` once (the corpus).
 * setups: one (hashedge, one process), two (--workers 2), two-kernel (--workers 2 with
 * NODE_CLUSTER_SCHED_POLICY=none), nginx (worker_processes 2), nginx-even (2 workers,
 * `listen ... reuseport`: the kernel spreads connections evenly), nginx1 (one nginx worker); any setup
 * name may be given twice with a suffix to compare flags, e.g. `two,two:gc` with
 * `two:gc=--single-threaded-gc` (node flags for that setup, comma-separated).
 * strace=1: after the CPU rounds, system calls per request of each setup's serving processes
 * (strace -c -f, 3 s; strace slows the server, so the counts matter, not the rate).
 * perf=1: `perf stat` over each measured run: context switches, migrations and system calls per
 * request (reads, writes, sendfile, epoll waits, writes that met EAGAIN), from perf's tracepoints.
 * Threads of a Node process are all named `node` on Node 20: the main thread is the one whose
 * tid is the pid; the others are listed in creation order (V8's platform workers first).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNginx, type BenchEnv } from './lib/anchors.js';
import { startHashedge } from './lib/hashedge.js';
import { has } from './lib/proc.js';
import { straced } from './lib/strace.js';
import { wrk, wrkWithOwnCpu, type WrkOwn } from './lib/wrk.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2) as [string, string]));
const SECONDS = Number(args.seconds ?? 10);
const WARMUP = Number(args.warmup ?? 3);
const ROUNDS = Number(args.rounds ?? 2);
const CONNECTIONS = Number(args.connections ?? 64);
const WRK_CPUS = args.wrkCpus ?? '0';
const env: BenchEnv = { dir: args.dir ?? '/tmp/hashedge-bench', serverCpus: args.serverCpus ?? '0,1' };
const ORIGIN = join(env.dir, 'origin');
const HOT_PATH = '/asset00140-68ac0ac684.css';
const SETUPS = (args.setups ?? 'one,two,nginx').split(',');

interface Running {
  readonly url: string;
  /** The process tree's root: hashedge's primary (or its one process), nginx's master. */
  readonly root: number;
  /** hashedge: resolves once the variants of what it holds are made (compression after a fill). */
  settled?(): Promise<void>;
  stop(): Promise<void>;
}

function pathsFile(): string {
  if (args.zipf === '1') return join(env.dir, 'paths.txt');
  const file = join(env.dir, 'one-hot.txt');
  writeFileSync(file, HOT_PATH + '\n');
  return file;
}

/** `two:gc` -> `two`. */
function kind(setup: string): string {
  return setup.split(':')[0]!;
}

async function start(setup: string): Promise<Running> {
  const kind = setup.split(':')[0]!;
  const nodeFlags = (args[setup] ?? '').split(',').filter(Boolean);
  if (kind.startsWith('nginx')) {
    const nginx = await startNginx(env, { edges: 1, workers: kind === 'nginx1' ? 1 : 2, reusePort: kind === 'nginx-even' });
    return { url: nginx.staticUrl, root: Number(readFileSync(join(env.dir, 'nginx.pid'), 'utf8')), stop: nginx.stop };
  }
  const workers = kind === 'two' || kind === 'two-kernel' ? ['--workers', '2'] : [];
  // two-kernel: the workers accept from the shared socket themselves (the kernel picks who wakes), as nginx's do.
  const schedule = kind === 'two-kernel' ? { NODE_CLUSTER_SCHED_POLICY: 'none' } : {};
  // Node flags reach the workers too: node:cluster forks with the primary's execArgv.
  const h = await startHashedge(env, { origin: ORIGIN, extraArgs: workers, nodeArgs: nodeFlags, env: schedule });
  return { url: h.urls[0]!, root: h.pids[0]!, settled: h.settled, stop: h.stop };
}

/** The process and its descendants. */
function tree(pid: number): number[] {
  const out = [pid];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (children !== '') for (const child of children.split(' ')) out.push(...tree(Number(child)));
  }
  return out;
}

interface ThreadSample {
  readonly pid: number;
  readonly tid: number;
  readonly comm: string;
  readonly ticks: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

function sampleThreads(root: number): Map<string, ThreadSample> {
  const out = new Map<string, ThreadSample>();
  for (const pid of tree(root)) {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const tid = Number(t);
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        const num = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
        out.set(`${pid}/${tid}`, {
          pid,
          tid,
          comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
          ticks: Number(fields[11]) + Number(fields[12]),
          voluntary: num('voluntary_ctxt_switches'),
          involuntary: num('nonvoluntary_ctxt_switches'),
        });
      } catch {
        // a thread that ended between the listing and the read
      }
    }
  }
  return out;
}

/** Busy ticks of every CPU and the context switches of the whole machine (/proc/stat). */
function machine(): { busy: number; total: number; ctxt: number } {
  let busy = 0;
  let total = 0;
  let ctxt = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const [name, ...fields] = line.split(/\s+/);
    if (name === 'ctxt') ctxt = Number(fields[0]);
    if (name !== 'cpu') continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = fields.map(Number);
    busy += user + nice + system + irq + softirq;
    total += user + nice + system + idle + iowait + irq + softirq;
  }
  return { busy, total, ctxt };
}

interface Row {
  readonly setup: string;
  readonly round: number;
  readonly rps: number;
  readonly requests: number;
  /** process role / thread label -> [µs CPU, voluntary, involuntary] per request */
  readonly threads: Array<{ process: string; thread: string; us: number; vcs: number; ivcs: number }>;
  readonly serverUs: number;
  readonly wrk: WrkOwn;
  readonly machineUs: number;
  readonly machineBusy: number;
  readonly machineCtxt: number;
  readonly perf?: string;
  readonly load: string;
}

/** Names processes by role and threads by kind (main, or creation order among the others). */
function label(setup: string, root: number, samples: Map<string, ThreadSample>): Map<string, { process: string; thread: string }> {
  const out = new Map<string, { process: string; thread: string }>();
  const pids = [...new Set([...samples.values()].map((s) => s.pid))].sort((a, b) => a - b);
  const nginx = kind(setup).startsWith('nginx');
  let worker = 0;
  const processName = new Map<number, string>();
  for (const pid of pids) {
    if (pid === root) processName.set(pid, nginx ? 'master' : kind(setup).startsWith('two') ? 'primary' : 'node');
    else processName.set(pid, `worker ${worker++}`);
  }
  for (const pid of pids) {
    const threads = [...samples.values()].filter((s) => s.pid === pid).sort((a, b) => a.tid - b.tid);
    let other = 0;
    for (const t of threads) {
      const thread = t.tid === pid ? 'main' : `thread ${++other} (${t.comm})`;
      out.set(`${pid}/${t.tid}`, { process: processName.get(pid)!, thread });
    }
  }
  return out;
}

/**
 * perf=1: context switches, migrations and system calls of the server's processes over the
 * measured run (perf's tracepoints count every call without slowing the server, unlike strace):
 * reads (read, recvfrom), writes (write, writev, sendfile), epoll waits (a wake-up each),
 * setsockopt (nginx's tcp_nopush corks and uncorks each response), and
 * the writes that found the socket's buffer full (EAGAIN: a partial write's second half waits
 * for EPOLLOUT). Printed per request.
 */
const PERF_EVENTS: ReadonlyArray<readonly [label: string, event: string, filter?: string]> = [
  ['context switches', 'context-switches'],
  ['migrations', 'cpu-migrations'],
  ['system calls', 'raw_syscalls:sys_enter'],
  ['read', 'syscalls:sys_enter_read'],
  ['recvfrom', 'syscalls:sys_enter_recvfrom'],
  ['write', 'syscalls:sys_enter_write'],
  ['writev', 'syscalls:sys_enter_writev'],
  ['sendfile', 'syscalls:sys_enter_sendfile64'],
  ['epoll_pwait', 'syscalls:sys_enter_epoll_pwait'],
  ['epoll_wait', 'syscalls:sys_enter_epoll_wait'],
  ['setsockopt', 'syscalls:sys_enter_setsockopt'],
  ['write EAGAIN', 'syscalls:sys_exit_write', 'ret == -11'],
  ['writev EAGAIN', 'syscalls:sys_exit_writev', 'ret == -11'],
  ['sendfile EAGAIN', 'syscalls:sys_exit_sendfile64', 'ret == -11'],
];

async function perfStat(pids: number[]): Promise<{ stop(requests: number): Promise<string> } | undefined> {
  if (args.perf !== '1' || !has('perf')) return undefined;
  const events = PERF_EVENTS.flatMap(([, event, filter]) => ['-e', event, ...(filter === undefined ? [] : ['--filter', filter])]);
  const perf = spawn('perf', ['stat', '-x', ',', ...events, '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  perf.stderr.on('data', (c: Buffer) => (err += String(c)));
  return {
    async stop(requests) {
      const exited = once(perf, 'exit');
      perf.kill('SIGINT');
      await exited;
      // CSV lines: value,unit,event,...; in PERF_EVENTS' order (a tracepoint this kernel lacks: "<not supported>")
      const lines = err.split('\n').filter((l) => l.split(',').length > 3);
      return PERF_EVENTS.map(([label], i) => {
        const value = Number(lines[i]?.split(',')[0]);
        return `${label} ${Number.isFinite(value) ? (value / requests).toFixed(3) : '-'}`;
      }).join(', ');
    },
  };
}

/** Zipf: every path requested once (16 at a time, twice: a worker's peer fetches fill its hot cache) before the warm-up. */
async function prewarm(running: Running, paths: string): Promise<void> {
  if (args.zipf !== '1') return;
  const url = running.url;
  const list = readFileSync(paths, 'utf8').split('\n').filter(Boolean);
  for (let pass = 0; pass < 2; pass++) {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < list.length) await (await fetch(url + list[next++]!)).arrayBuffer();
    }));
  }
  await running.settled?.();
}

async function measureOnce(setup: string, round: number, running: Running, paths: string): Promise<Row> {
  await prewarm(running, paths);
  await wrk(running.url, { paths, connections: CONNECTIONS, seconds: WARMUP, cpus: WRK_CPUS });
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const perf = await perfStat(tree(running.root));
  const m0 = machine();
  const t0 = sampleThreads(running.root);
  const result = await wrkWithOwnCpu(running.url, { paths, connections: CONNECTIONS, seconds: SECONDS, cpus: WRK_CPUS });
  const t1 = sampleThreads(running.root);
  const m1 = machine();
  const requests = result.rps * SECONDS;
  const perfLine = await perf?.stop(requests);
  const names = label(setup, running.root, t1);
  const threads: Row['threads'] = [];
  let serverTicks = 0;
  for (const [key, after] of t1) {
    const before = t0.get(key) ?? { ticks: 0, voluntary: 0, involuntary: 0 };
    const ticks = after.ticks - before.ticks;
    serverTicks += ticks;
    const name = names.get(key)!;
    threads.push({ ...name, us: (ticks * 1e4) / requests, vcs: (after.voluntary - before.voluntary) / requests, ivcs: (after.involuntary - before.involuntary) / requests });
  }
  return {
    setup,
    round,
    rps: result.rps,
    requests,
    threads,
    serverUs: (serverTicks * 1e4) / requests,
    wrk: result.own,
    machineUs: ((m1.busy - m0.busy) * 1e4) / requests,
    machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
    machineCtxt: (m1.ctxt - m0.ctxt) / requests,
    ...(perfLine !== undefined ? { perf: perfLine } : {}),
    load,
  };
}

function report(rows: Row[]): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  for (const setup of SETUPS) {
    const mine = rows.filter((r) => r.setup === setup);
    console.log(`\n### ${setup}${args[setup] ? ` (node ${args[setup]})` : ''}\n`);
    console.log('| round | rps | load avg | server µs CPU/req | wrk µs CPU/req | machine busy µs/req (both CPUs) | others µs/req | machine busy | machine ctx sw/req | wrk vol/invol ctx sw/req |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of mine) {
      const wrkUs = (r.wrk.cpuSeconds * 1e6) / r.requests;
      console.log(`| ${r.round} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.load} | ${f(r.serverUs)} | ${f(wrkUs)} | ${f(r.machineUs)} | ${f(r.machineUs - r.serverUs - wrkUs)} | ${(r.machineBusy * 100).toFixed(0)}% | ${f(r.machineCtxt, 3)} | ${f(r.wrk.voluntary / r.requests, 3)} / ${f(r.wrk.involuntary / r.requests, 3)} |`);
    }
    for (const r of mine) if (r.perf) console.log(`\nround ${r.round} perf stat (server processes), per request: ${r.perf}`);
    console.log('\n| process | thread | µs CPU/req (each round) | vol ctx sw/req | invol ctx sw/req |');
    console.log('|---|---|---|---|---|');
    const keys = [...new Set(mine.flatMap((r) => r.threads.map((t) => `${t.process}|${t.thread}`)))];
    for (const key of keys) {
      const [process, thread] = key.split('|') as [string, string];
      const per = mine.map((r) => r.threads.find((t) => t.process === process && t.thread === thread));
      if (per.every((t) => t === undefined || (t.us === 0 && t.vcs < 0.0005 && t.ivcs < 0.0005))) continue;
      const col = (g: (t: { us: number; vcs: number; ivcs: number }) => number, d: number) => per.map((t) => (t === undefined ? '-' : f(g(t), d))).join(' / ');
      console.log(`| ${process} | ${thread} | ${col((t) => t.us, 2)} | ${col((t) => t.vcs, 4)} | ${col((t) => t.ivcs, 4)} |`);
    }
  }
}

async function strace(paths: string): Promise<void> {
  console.log('\n### System calls per request (strace -c -f, 3 s wrk run per setup)\n');
  for (const setup of SETUPS) {
    const running = await start(setup);
    try {
      await prewarm(running, paths);
      await wrk(running.url, { paths, connections: CONNECTIONS, seconds: WARMUP, cpus: WRK_CPUS });
      const pids = tree(running.root);
      const counts: Array<Record<string, number>> = [];
      let requests = 0;
      // Nested: every process of the tree traced during the one wrk run.
      const run = async (i: number): Promise<void> => {
        if (i === pids.length) {
          requests = (await wrk(running.url, { paths, connections: CONNECTIONS, seconds: 3, cpus: WRK_CPUS })).rps * 3;
          return;
        }
        counts[i] = await straced(pids[i]!, () => run(i + 1));
      };
      await run(0);
      pids.forEach((pid, i) => {
        const c = counts[i]!;
        delete c.total; // strace's summary line
        const total = Object.values(c).reduce((a, b) => a + b, 0);
        const top = Object.entries(c).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, n]) => `${name} ${(n / requests).toFixed(3)}`).join(', ');
        console.log(`- ${setup}, ${pid === running.root ? 'root' : 'child'} ${pid}: ${(total / requests).toFixed(3)} calls/request (${Math.round(requests)} requests): ${top}`);
      });
    } finally {
      await running.stop();
    }
  }
}

async function main(): Promise<void> {
  if (!existsSync(ORIGIN)) throw new Error(`no corpus in ${ORIGIN}: run \`npm run bench -- only=small dir=${env.dir}\` once`);
  const paths = pathsFile();
  console.log(`# --workers CPU accounting, ${new Date().toISOString().slice(0, 16)} UTC, Node ${process.version}`);
  console.log(`\n${args.zipf === '1' ? 'Zipf over the corpus' : 'small hot asset'}, wrk -t1 -c${CONNECTIONS} on CPU ${WRK_CPUS}, servers on CPU ${env.serverCpus}, ${WARMUP} s warm-up + ${SECONDS} s measured, ${ROUNDS} rounds, setups in turn (rotated each round).`);
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < SETUPS.length; i++) {
      const setup = SETUPS[(i + round - 1) % SETUPS.length]!;
      const running = await start(setup);
      try {
        rows.push(await measureOnce(setup, round, running, paths));
      } finally {
        await running.stop();
      }
      process.stderr.write(`round ${round} ${setup}: ${Math.round(rows.at(-1)!.rps)} rps\n`);
    }
  }
  report(rows);
  if (args.strace === '1') await strace(paths);
}

await main();
