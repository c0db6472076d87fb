/**
 * System calls per name of every thread of a process while something runs: `strace -c -f`
 * attached (waiting until every thread is), stopped with SIGINT, its summary table parsed.
 * bench/instructions.ts and bench/disk-hit-cpu.ts count per-request system calls with it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';

/** System calls of every thread of `pid` while `run` runs, by name. */
export async function straced(pid: number, run: () => Promise<void>): Promise<Record<string, number>> {
  const tasks = readdirSync(`/proc/${pid}/task`).length;
  const strace = spawn('strace', ['-c', '-f', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve) => {
    strace.stderr.on('data', (c: Buffer) => {
      err += String(c);
      // `Process <pid> attached with <n> threads`, or one `attached` line per thread
      if (/attached with/.test(err) || (err.match(/attached/g) ?? []).length >= tasks) resolve();
    });
  });
  await run();
  const exited = once(strace, 'exit');
  strace.kill('SIGINT');
  await exited;
  const counts: Record<string, number> = {};
  for (const line of err.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m !== null) counts[m[2]!] = Number(m[1]);
  }
  return counts;
}
