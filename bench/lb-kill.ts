/**
 * `npx tsx bench/lb-kill.ts [retries=0|3] [inter=1s] [fall=2] [rounds=3]`: what a crash costs
 * behind HAProxy. Three `hashedge serve` nodes behind HAProxy with health checks on
 * /_hashedge/health/ready (test/helpers/haproxy.ts), 4 keep-alive clients fetching cached
 * assets; one node is killed with SIGKILL (no lame duck, no drain). Prints the requests that
 * failed at the client and the time until HAProxy's stats socket shows the node DOWN (polled
 * every 10 ms), per round; the node is restarted between rounds.
 */
import { Agent, request as httpRequest } from 'node:http';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from '../test/helpers/cli.js';
import { freePort, startHaproxy } from '../test/helpers/haproxy.js';

const arg = (name: string, fallback: string) => process.argv.slice(2).find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? fallback;
const retries = Number(arg('retries', '3'));
const inter = arg('inter', '1s');
const fall = Number(arg('fall', '2'));
const rounds = Number(arg('rounds', '3'));

const dir = await mkdtemp(join(tmpdir(), 'hashedge-lb-kill-'));
const origin = join(dir, 'origin');
await mkdir(origin);
const paths: string[] = [];
for (const [i, size] of [2_000, 30_000, 200_000, 900_000].entries()) {
  await writeFile(join(origin, `a${i}-0492830483.bin`), randomBytes(size));
  paths.push(`/a${i}-0492830483.bin`);
}

async function start(name: string, port: number) {
  const child = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1', '--origin', origin, '--log-level', 'warn', '--shutdown-delay', '0']);
  let out = '';
  const url = await new Promise<string>((resolve) => child.stdout.on('data', (c) => { out += c; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]!); }));
  return { name, child, port: Number(new URL(url).port) };
}

const nodes = [await start('n0', 0), await start('n1', 0), await start('n2', 0)];
const lbPort = await freePort();
const extra = retries > 0 ? [`retries ${retries}`, 'option redispatch', 'retry-on conn-failure empty-response response-timeout'] : ['retries 0'];
const lb = await startHaproxy({ dir, port: lbPort, servers: nodes.map((n) => ({ name: n.name, port: n.port })), inter, fall, rise: 2, extraDefaults: extra });
const until = async (pred: (s: Map<string, string>) => boolean) => { for (;;) { if (pred(await lb.status())) return; await new Promise((r) => setTimeout(r, 10)); } };
await until((s) => [...s.values()].every((v) => v === 'UP'));

let failures: string[] = [];
let ok = 0;
let stop = false;
const clients = Array.from({ length: 4 }, async (_, c) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = c; !stop; i++) {
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: lbPort, path: paths[i % paths.length], agent }, (res) => {
        res.resume();
        res.on('end', () => { if (res.statusCode === 200) ok++; else failures.push(String(res.statusCode)); resolve(); });
        res.on('error', (e) => { failures.push(e.message); resolve(); });
      });
      req.on('error', (e) => { failures.push((e as NodeJS.ErrnoException).code ?? e.message); resolve(); });
      req.end();
    });
  }
  agent.destroy();
});

console.log(`HAProxy ${extra.join('; ')}; checks inter ${inter} fall ${fall} rise 2; 4 keep-alive clients`);
for (let round = 0; round < rounds; round++) {
  const victim = nodes[round % nodes.length]!;
  failures = [];
  ok = 0;
  const t0 = performance.now();
  victim.child.kill('SIGKILL');
  await once(victim.child, 'exit');
  await until((s) => s.get(victim.name)?.startsWith('DOWN') ?? false);
  const downMs = performance.now() - t0;
  const during = { ok, failures: [...failures] };
  const counts = Object.entries(during.failures.reduce<Record<string, number>>((m, f) => ((m[f] = (m[f] ?? 0) + 1), m), {}));
  console.log(`round ${round + 1}: kill -9 ${victim.name}: DOWN in HAProxy after ${downMs.toFixed(0)} ms; meanwhile ${during.ok} ok, ${during.failures.length} failed ${JSON.stringify(Object.fromEntries(counts))}`);
  const again = await start(victim.name, victim.port);
  nodes[round % nodes.length] = again;
  await until((s) => s.get(victim.name) === 'UP');
}
stop = true;
await Promise.all(clients);
for (const n of nodes) n.child.kill('SIGKILL');
await lb.stop();
await rm(dir, { recursive: true, force: true });
