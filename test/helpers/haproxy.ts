/**
 * A real HAProxy (Debian's `haproxy`, installed by .ci/run) in front of hashedge nodes, for the
 * rolling-restart test and bench/lb-kill.ts: its config, its process, and its stats socket.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

/** Whether `haproxy` runs here. */
export function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** A port free now (bound and released), for processes that must be told their port up front. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface HaproxyOptions {
  readonly dir: string;
  readonly port: number;
  /** name -> port of each hashedge node on 127.0.0.1. */
  readonly servers: ReadonlyArray<{ name: string; port: number }>;
  /** Health-check timing (the `default-server` line's inter/fall/rise). */
  readonly inter: string;
  readonly fall: number;
  readonly rise: number;
  /** More `defaults` lines (retries, retry-on, redispatch). */
  readonly extraDefaults?: readonly string[];
}

/**
 * The backend as the README recommends it: HTTP checks of /_hashedge/health/ready, so a node
 * in its lame-duck period (--shutdown-delay) leaves the rotation before it stops accepting.
 * Each response names the server that answered it (x-served-by).
 */
export function haproxyConfig(o: HaproxyOptions): string {
  return [
    'global',
    `  stats socket ${join(o.dir, 'haproxy.sock')} mode 600 level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    ...(o.extraDefaults ?? []).map((line) => `  ${line}`),
    'frontend edge',
    `  bind 127.0.0.1:${o.port}`,
    '  default_backend hashedge',
    'backend hashedge',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /_hashedge/health/ready',
    '  http-check expect status 200',
    '  http-response set-header x-served-by %s',
    `  default-server inter ${o.inter} fall ${o.fall} rise ${o.rise}`,
    ...o.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`),
    '',
  ].join('\n');
}

export interface Haproxy {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: () => string;
  /** Each server's status as `show stat` gives it (UP, DOWN, UP 1/2, ...). */
  status(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

export async function startHaproxy(o: HaproxyOptions): Promise<Haproxy> {
  const config = join(o.dir, 'haproxy.cfg');
  await writeFile(config, haproxyConfig(o));
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: 'pipe' });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = once(child, 'exit');
  const socket = join(o.dir, 'haproxy.sock');
  const ask = (command: string) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      const s = connect(socket, () => s.end(`${command}\n`));
      s.on('data', (c) => (text += c));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
  // HAProxy says nothing when it is up: its stats socket answering is the sign (polled, as there is no event).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
    if (await ask('show info').then(() => true, () => false)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    child,
    output: () => output,
    async status() {
      const lines = (await ask('show stat')).split('\n');
      const header = lines[0]!.replace(/^# /, '').split(',');
      const [name, status, proxy] = [header.indexOf('svname'), header.indexOf('status'), header.indexOf('pxname')];
      const out = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const f = line.split(',');
        if (f[proxy] === 'hashedge' && f[name] !== 'BACKEND') out.set(f[name]!, f[status]!);
      }
      return out;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
