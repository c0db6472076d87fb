/** Processes for the benchmark: pinned to a CPU, waited for, stopped. */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { isAlive } from '../../test/helpers/cli.js';

export function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const TASKSET = has('taskset');

/** argv prefixed with `taskset -c <cpus>` when taskset exists (see shared/bench method). */
export function pinned(cpus: string | undefined, argv: readonly string[]): [string, string[]] {
  if (cpus === undefined || !TASKSET) return [argv[0]!, argv.slice(1)];
  return ['taskset', ['-c', cpus, ...argv]];
}

/**
 * CPU seconds (user + system, every thread) the processes `pids` have used so far, from
 * /proc/<pid>/stat: the server's own time, which other work on its CPU (a colleague's test
 * suite) does not inflate, unlike the CPU's busy ticks.
 */
export function processCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), counted from field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  }
  return ticks / 100; // USER_HZ
}

/** The children of `pid` (an nginx master's workers). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (children !== '') out.push(...children.split(' ').map(Number));
  }
  return out;
}

/** A free port on 127.0.0.1: the test helpers' own. */
export { freePort } from '../../test/helpers/cluster.js';

/** Waits (polling, at most `timeoutMs`) for a daemon that was signalled to exit. */
export async function waitForExit(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** A long-running server process; its output is kept (last 8 KiB) for error messages. */
export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startProcess(cpus: string | undefined, argv: readonly string[], options: SpawnOptions = {}): Proc {
  const [cmd, args] = pinned(cpus, argv);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + String(chunk)).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers (any HTTP status) or the deadline passes. */
export async function waitForHttp(url: string, proc?: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${url}: the server exited (${proc.child.exitCode ?? proc.child.signalCode}): ${proc.output()}`);
    }
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms${proc ? `: ${proc.output()}` : ''}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Resident set (VmRSS) and its peak (VmHWM) of a process, in bytes (Linux). */
export function residentMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/**
 * How the established connections to `port` are spread over server processes, read with
 * `ss -tnp` `afterMs` into a run: e.g. "32 / 32", largest first; undefined without ss. Multi-process
 * servers differ here (node:cluster round-robin vs nginx's EPOLLEXCLUSIVE wake-ups), and on a
 * machine whose load generator shares the servers' cores the spread decides the rps.
 */
export async function connectionSpread(port: number, afterMs: number): Promise<string | undefined> {
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  let out: string;
  try {
    out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
  const perPid = new Map<string, number>();
  for (const m of out.matchAll(/pid=(\d+)/g)) perPid.set(m[1]!, (perPid.get(m[1]!) ?? 0) + 1);
  return [...perPid.values()].sort((a, b) => b - a).join(' / ') || undefined;
}
