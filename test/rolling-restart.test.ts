/**
 * A rolling restart behind a real load balancer loses nothing: three `hashedge serve` processes
 * behind HAProxy (health checks on /_hashedge/health/ready, as the README recommends, and no
 * retries, so a request sent to a node that no longer accepts would show), keep-alive clients
 * fetching cached assets the whole time, each node restarted in turn with SIGTERM. Every request
 * must succeed with the exact bytes. Synchronised on events: the node's exit, its start-up line,
 * and the first response HAProxy routes to the restarted node (x-served-by).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawnCli } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { freePort, haproxyAvailable, startHaproxy, type Haproxy } from './helpers/haproxy.js';
import { tempDir } from './helpers/temp-dir.js';

const NODES = 3;
const CLIENTS = 4;
/** The lame-duck period: above HAProxy's time to see a node down (inter x fall, 400 ms, plus a check in flight). */
const SHUTDOWN_DELAY = '1500ms';
const CHECK = { inter: '200ms', fall: 2, rise: 2 };
const assets = new Map<string, Buffer>();
const paths: string[] = [];

interface Node {
  readonly name: string;
  port: number;
  child: ChildProcessWithoutNullStreams;
  exited: Promise<[number | null, string | null]>;
}

async function startNode(name: string, origin: string, port: number): Promise<Node & { url: string }> {
  const child = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1', '--origin', origin, '--log-level', 'warn', '--shutdown-delay', SHUTDOWN_DELAY, '--shutdown-timeout', '10s']);
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then(([code]) => reject(new Error(`${name} exited with ${code} before listening: ${stderr}`)));
  });
  return { name, port: Number(new URL(url).port), child, exited, url };
}

/** Fills the node's cache with every asset (directly, before HAProxy sends it requests), so the load is all hits. */
async function warm<N extends { url: string }>(node: N): Promise<N> {
  for (const path of paths) assert.equal((await request(node.url + path)).status, 200);
  return node;
}

test('a rolling restart of 3 nodes behind HAProxy, SIGTERM one at a time under keep-alive load, fails no request', { skip: !haproxyAvailable() && 'haproxy is not installed (.ci/run installs it)', timeout: 90_000 }, async (t) => {
  // The origin and HAProxy's configuration side by side.
  const dir = await tempDir('rolling');
  const originDir = dir.path('origin');
  for (const [i, size] of [2_000, 30_000, 200_000, 900_000, 3 * 1024 * 1024].entries()) {
    const name = `a${i}-0492830483.bin`;
    const body = randomBytes(size);
    await dir.write(`origin/${name}`, body);
    assets.set(`/${name}`, body);
    paths.push(`/${name}`);
  }
  const nodes: Node[] = [];
  let lb: Haproxy | undefined;
  let stop = false;
  const agents: Agent[] = [];
  try {
    for (let i = 0; i < NODES; i++) nodes.push(await warm(await startNode(`n${i}`, originDir, 0)));
    const lbPort = await freePort();
    // retries 0: HAProxy would otherwise resend a request whose connection was refused (its default), hiding one.
    lb = await startHaproxy({ dir: dir.dir, port: lbPort, servers: nodes.map((n) => ({ name: n.name, port: n.port })), ...CHECK, extraDefaults: ['retries 0'] });

    // The load: keep-alive clients, each one request at a time, for the whole test.
    let ok = 0;
    const failures: string[] = [];
    const served = new Map<string, number>();
    const waiters: Array<{ name: string; resolve: () => void }> = [];
    const onServed = (name: string) => {
      served.set(name, (served.get(name) ?? 0) + 1);
      for (const w of waiters.filter((w) => w.name === name)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    };
    /** Resolves at the next response HAProxy routes to `name`. */
    const nextServedBy = (name: string) => new Promise<void>((resolve) => waiters.push({ name, resolve }));
    const fetchOnce = (agent: Agent, path: string) =>
      new Promise<void>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: lbPort, path, agent }, (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => (failures.push(`${path}: ${err.message}`), resolve()));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const by = String(res.headers['x-served-by']);
            if (res.statusCode !== 200) failures.push(`${path}: ${res.statusCode} from ${by}`);
            else if (!body.equals(assets.get(path)!)) failures.push(`${path}: ${body.length} of ${assets.get(path)!.length} bytes from ${by}`);
            else ok++;
            onServed(by);
            resolve();
          });
        });
        req.on('error', (err) => (failures.push(`${path}: ${err.message}`), resolve()));
        req.end();
      });
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      for (let i = c; !stop; i++) await fetchOnce(agent, paths[i % paths.length]!);
    });

    // Every node serves through HAProxy before the restarts begin.
    await Promise.all(nodes.map((n) => nextServedBy(n.name)));

    const started = performance.now();
    for (const [i, node] of nodes.entries()) {
      node.child.kill('SIGTERM');
      const [code] = await node.exited;
      assert.equal(code, 0, `${node.name} exits 0`);
      const again = await warm(await startNode(node.name, originDir, node.port));
      nodes[i] = again;
      await nextServedBy(node.name); // HAProxy saw it up again and routed a request to it
    }
    const seconds = (performance.now() - started) / 1000;
    const down = [...(await lb.status()).entries()].filter(([, s]) => !s.startsWith('UP'));
    stop = true;
    await Promise.all(clients);
    t.diagnostic(`rolling restart of ${NODES} nodes in ${seconds.toFixed(1)} s: ${ok} requests ok, ${failures.length} failed; served by ${JSON.stringify(Object.fromEntries(served))}`);
    assert.deepEqual(failures, [], 'no failed request');
    assert.deepEqual(down, [], 'every node is up in HAProxy at the end');
  } finally {
    stop = true;
    for (const a of agents) a.destroy();
    for (const n of nodes) n.child.kill('SIGKILL');
    await lb?.stop();
    await dir.remove();
  }
});
