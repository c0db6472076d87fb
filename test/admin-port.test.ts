/**
 * --admin-port: /metrics, the status page, stats, purge and the peer route on a listener of
 * their own, and the public port serving assets and the two health routes only. Real listeners
 * on real sockets; what an outsider reaching the public port sees, and what an operator and the
 * other members reach on the admin one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../src/config.js';
import type { Edge } from '../src/edge.js';
import { ConfigError } from '../src/errors.js';
import { healthUrl } from '../src/commands/health.js';
import { startTestEdge } from './helpers/edge.js';
import { freePort } from './helpers/cluster.js';
import { Ring } from '../src/cluster/ring.js';
import { errorCode, request } from './helpers/http.js';
import { Gate, TestOrigin } from './helpers/origins.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/temp-dir.js';

const TOKEN = 'admin-token-for-tests-0123456789';
const SECRET = 'peer-secret-for-tests-0123456789';
const KEY = 'assets/app-0492830483.js';

/** Every admin and peer path, with the method that uses it. */
const ADMIN_PATHS: ReadonlyArray<[method: string, path: string]> = [
  ['GET', '/metrics'],
  ['GET', '/metrics?name=x'],
  ['GET', '/_hashedge'],
  ['GET', '/_hashedge/'],
  ['GET', '/_hashedge/index.html'],
  ['GET', '/_hashedge/stats'],
  ['GET', '/_hashedge/purge'],
  ['POST', '/_hashedge/purge'],
  ['GET', `/_hashedge/peer/${encodeURIComponent(KEY)}`],
  ['HEAD', '/_hashedge/stats'],
];

function send(url: string, method: string, headers: Record<string, string> = {}) {
  return request(url, { method, headers });
}

test('with --admin-port, the public port answers 404 for every admin and peer path, and serves assets and the two health routes', async () => {
  const origin = new TestOrigin();
  const body = origin.put(KEY, randomBytes(5_000));
  const edge = await startTestEdge({ 'admin-port': '0', 'admin-token': TOKEN }, origin);
  try {
    assert.ok(edge.adminUrl !== undefined && edge.adminPort !== edge.port);
    for (const [method, path] of ADMIN_PATHS) {
      // Even with the credentials that open them on the admin port.
      const res = await send(`${edge.url}${path}`, method, { authorization: `Bearer ${TOKEN}` });
      assert.equal(res.status, 404, `${method} ${path} on the public port`);
      if (method !== 'HEAD') assert.equal(errorCode(res), 'E_NOT_FOUND', `${method} ${path}`);
      assert.doesNotMatch(res.body.toString(), /hashedge_|topKeys|<html/i, `${method} ${path} tells nothing`);
    }
    const asset = await request(`${edge.url}/${KEY}`);
    assert.equal(asset.status, 200);
    assert.ok(asset.body.equals(body));
    assert.equal((await request(`${edge.url}/_hashedge/health/live`)).status, 200);
    await waitReady(edge.url);
    assert.deepEqual(JSON.parse((await request(`${edge.url}/_hashedge/health/ready?x=1`)).body.toString()), { status: 'ready' });
    // Near misses of the health routes are not health routes.
    assert.equal((await request(`${edge.url}/_hashedge/health/readyx`)).status, 404);
    assert.equal((await request(`${edge.url}/_hashedge/health/`)).status, 404);
  } finally {
    await edge.close();
  }
});

test('the admin port serves /metrics, the status page, stats, purge and health, and no assets', async () => {
  const origin = new TestOrigin();
  origin.put(KEY, randomBytes(5_000));
  const edge = await startTestEdge({ 'admin-port': '0', 'admin-token': TOKEN }, origin);
  try {
    const admin = edge.adminUrl!;
    assert.equal((await request(`${edge.url}/${KEY}`)).status, 200);
    const metrics = await request(`${admin}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body.toString(), /^hashedge_requests_total\{status="200",cache="miss"\} 1$/m);
    const page = await request(`${admin}/_hashedge/`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /<html/i);
    const stats = JSON.parse((await request(`${admin}/_hashedge/stats`)).body.toString()) as { topKeys: Array<{ key: string }> };
    assert.equal(stats.topKeys[0]!.key, KEY);
    assert.equal((await request(`${admin}/_hashedge/health/live`)).status, 200);
    await waitReady(admin);
    const purge = await fetch(`${admin}/_hashedge/purge`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ keys: [KEY] }) });
    assert.equal(purge.status, 200);
    assert.equal(((await purge.json()) as { removed: number }).removed, 1);
    // Assets are the public port's alone.
    assert.equal((await request(`${admin}/${KEY}`)).status, 404);
    assert.equal(origin.count(KEY), 1);
  } finally {
    await edge.close();
  }
});

test('without --admin-port, one port serves everything, as before', async () => {
  const edge = await startTestEdge({});
  try {
    assert.equal(edge.adminUrl, undefined);
    assert.equal(edge.adminServer, undefined);
    for (const path of ['/metrics', '/_hashedge/', '/_hashedge/stats', '/_hashedge/health/live']) assert.equal((await request(`${edge.url}${path}`)).status, 200, path);
  } finally {
    await edge.close();
  }
});

test('--admin-port and --admin-host: env vars, defaults, and in a cluster members are named by their admin URL', () => {
  assert.equal(resolveConfig().adminPort, undefined);
  assert.equal(resolveConfig().adminHost, '0.0.0.0');
  assert.equal(resolveConfig({ host: '127.0.0.1' }).adminHost, '127.0.0.1');
  const fromEnv = resolveConfig({}, { HASHEDGE_ADMIN_PORT: '9080', HASHEDGE_ADMIN_HOST: '10.0.0.1' });
  assert.equal(fromEnv.adminPort, 9080);
  assert.equal(fromEnv.adminHost, '10.0.0.1');
  // --self-address takes the admin port: that is where members reach each other.
  assert.equal(resolveConfig({ 'admin-port': '9080', 'self-address': '10.0.0.1' }).self, 'http://10.0.0.1:9080');
  const ok = resolveConfig({ 'admin-port': '9080', self: 'http://10.0.0.1:9080', peers: 'http://10.0.0.1:9080,http://10.0.0.2:9080' });
  assert.deepEqual(ok.peers, ['http://10.0.0.1:9080', 'http://10.0.0.2:9080']);
  const fails = (flags: Record<string, string>, message: RegExp) =>
    assert.throws(() => resolveConfig(flags), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(flags));
  fails({ 'admin-port': '9080', self: 'http://10.0.0.1:8080', peers: 'http://10.0.0.1:8080' }, /members are named by their admin URL.*expected port 9080/);
  fails({ 'admin-port': '9080', 'self-address': '10.0.0.1', 'peers-dns': 'peers.local:8080' }, /expected port 9080/);
  fails({ 'admin-port': '8080' }, /--admin-port 8080 is --port/);
  fails({ 'admin-port': 'x' }, /--admin-port: expected an integer from 0 to 65535/);
  fails({ 'admin-host': 'example.com' }, /--admin-host: expected an IPv4 or IPv6 address/);
  // Worker i of node http://h:p is http://h:(p+1+i): those ports must not take the public one.
  fails({ port: '9081', 'admin-port': '9080', workers: '2', self: 'http://10.0.0.1:9080', peers: 'http://10.0.0.1:9080' }, /include --port 9081/);
});

test('a 3-node cluster on admin ports loads a cold key once per cluster; the peer route is only on the admin port', async () => {
  const origin = new TestOrigin();
  const key = 'assets/hero-0492830483.js';
  const body = origin.put(key, randomBytes(200_000));
  origin.gate = new Gate();
  const adminPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const members = adminPorts.map((p) => `http://127.0.0.1:${p}`);
  const nodes: Edge[] = await Promise.all(
    adminPorts.map((p, i) => startTestEdge({ 'admin-port': String(p), self: members[i]!, peers: members.join(','), 'peer-secret': SECRET, 'admin-token': TOKEN, 'peer-timeout': '15s' }, origin)),
  );
  try {
    // Clients reach the public ports only.
    const responses = Array.from({ length: 60 }, (_, i) => request(`${nodes[i % 3]!.url}/${key}`));
    await origin.arrived(1, key);
    origin.gate.open();
    for (const res of await Promise.all(responses)) {
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(body));
    }
    assert.equal(origin.count(key), 1);

    const owner = new Ring(members).owner(key)!;
    const ownerNode = nodes[members.indexOf(owner)]!;
    const peerPath = `/_hashedge/peer/${encodeURIComponent(key)}`;
    const auth = { authorization: `Bearer ${SECRET}` };
    assert.equal((await request(`${ownerNode.url}${peerPath}`, { headers: auth })).status, 404, 'not on the public port, even with the secret');
    assert.equal((await request(`${owner}${peerPath}`, { headers: auth })).status, 200, 'on the admin port');
    assert.equal((await request(`${owner}${peerPath}`)).status, 401, 'and there only for members');

    // Probes reach the members on their admin ports: all up.
    const stats = JSON.parse((await request(`${nodes[0]!.adminUrl}/_hashedge/stats`)).body.toString()) as { cluster: { self: string; members: Array<{ url: string; state: string }> } };
    assert.equal(stats.cluster.self, members[0]);
    assert.deepEqual(stats.cluster.members.map((m) => m.url).sort(), [...members].sort());
    await eventually(async () => {
      const s = JSON.parse((await request(`${nodes[0]!.adminUrl}/_hashedge/stats`)).body.toString()) as typeof stats;
      return s.cluster.members.every((m) => m.state === 'up');
    });

    // A purge sent to one admin port reaches every member's.
    const purge = await fetch(`${nodes[1]!.adminUrl}/_hashedge/purge`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ keys: [key] }) });
    assert.equal(purge.status, 200);
    const answer = (await purge.json()) as { nodes: Array<{ node: string }> };
    assert.deepEqual(answer.nodes.map((n) => n.node).sort(), [...members].sort());
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('hashedge health finds the port however it was set: flag, env var, config file, admin port', async (t) => {
  assert.equal(healthUrl(resolveConfig({ port: '9000' })), 'http://127.0.0.1:9000/_hashedge/health/live');
  assert.equal(healthUrl(resolveConfig({ port: '9000', 'admin-port': '9080' })), 'http://127.0.0.1:9080/_hashedge/health/live');
  assert.equal(healthUrl(resolveConfig({ host: '::', port: '9000' })), 'http://[::1]:9000/_hashedge/health/live');
  assert.equal(healthUrl(resolveConfig({ port: '9000', 'admin-port': '9080', 'admin-host': '10.0.0.5' })), 'http://10.0.0.5:9080/_hashedge/health/live');
  assert.throws(() => healthUrl(resolveConfig({ port: '0' })), /the port is 0/);

  const port = await freePort();
  const adminPort = await freePort();
  const edge = await startTestEdge({ port: String(port), 'admin-port': String(adminPort) });
  const dir = await tempDir('health', { 'edge.json': JSON.stringify({ port, 'admin-port': adminPort, host: '127.0.0.1' }) });
  t.after(() => dir.remove());
  const file = dir.path('edge.json');
  try {
    const cases: Array<[string, string[], Record<string, string>]> = [
      ['flags', ['--port', String(port), '--admin-port', String(adminPort)], {}],
      ['env vars', [], { HASHEDGE_PORT: String(port), HASHEDGE_ADMIN_PORT: String(adminPort) }],
      ['config file', [], { HASHEDGE_CONFIG: file }],
      ['--config', ['--config', file], {}],
      ['the public port alone (its health routes)', ['--port', String(port)], {}],
    ];
    for (const [how, args, env] of cases) {
      const result = await runCli(['health', ...args], env);
      assert.equal(result.code, 0, `${how}: ${result.stderr}`);
    }
  } finally {
    await edge.close();
  }
  const down = await runCli(['health', '--port', String(port)]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /ECONNREFUSED/);
});

async function waitReady(base: string): Promise<void> {
  await eventually(async () => (await request(`${base}/_hashedge/health/ready`)).status === 200);
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out');
}
