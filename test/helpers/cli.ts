/**
 * The hashedge command as users run it, for tests: a real process running src/cli.ts through
 * tsx (the code `npm run build` compiles to dist/cli.js).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `hashedge <args>`; the caller reads its streams and ends it. Without a lame-duck period
 * (--shutdown-delay 0) unless `env` or `args` give one: SIGTERM then stops it at once.
 */
export function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, HASHEDGE_SHUTDOWN_DELAY: '0', ...env }, stdio: 'pipe' });
}

/** Runs `hashedge <args>` to its exit. */
export async function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/**
 * How long a node may take to print its URL (a primary and its workers under tsx on a busy 2-core
 * machine): a deadline against a node that never comes up, not a measure of speed. test/workers.test.ts
 * starts seven such nodes at once; with other work on the machine (load ~15-20) they took 37-39 s
 * to listen, past the 30 s this was.
 */
const START_TIMEOUT_MS = 60_000;

export interface RunningNode {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly exited: Promise<[number | null, string | null]>;
  readonly stderr: () => string;
}

/**
 * Starts a multi-worker node, `hashedge serve --port 0 --host 127.0.0.1 <args>` with `--workers n`
 * (n >= 2) among args and `env` added to its environment, and resolves once its primary prints
 * the URL and worker count, or rejects when it exits first. The caller ends it.
 */
export async function startServe(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<RunningNode> {
  const child = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...args], env);
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const url = await new Promise<string>((resolve, reject) => {
    // Never leave a process behind that did not come up: its pipes would keep the runner waiting.
    const deadline = setTimeout(() => reject(new Error(`serve did not listen within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /listening on (\S+) \(.*, (\d+) workers\)/.exec(stdout);
      if (m) {
        clearTimeout(deadline);
        resolve(m[1]!);
      }
    });
    void exited.then(([code]) => {
      clearTimeout(deadline);
      reject(new Error(`serve exited with ${code} before listening: ${stderr}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { child, url, exited, stderr: () => stderr };
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
