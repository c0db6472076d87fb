/**
 * The deployment files, checked against the code they deploy (no Docker engine or cluster runs
 * here): every setting they make is a real option that validates, every probe is a real route,
 * and the image carries every file the package needs at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { envName, OPTIONS, resolveConfig } from '../src/config.js';
import { PUBLIC_HEALTH_PATHS } from '../src/http/server.js';
import { startTestEdge } from './helpers/edge.js';
import { freePort } from './helpers/cluster.js';
import { request } from './helpers/http.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/temp-dir.js';

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), 'utf8');
const OPTION_ENVS = new Set(OPTIONS.map((spec) => envName(spec.name)));

interface EnvVar { name: string; value?: string; valueFrom?: unknown }
interface Container {
  ports: Array<{ name: string; containerPort: number }>;
  env: EnvVar[];
  readinessProbe: { httpGet: { path: string; port: string | number }; periodSeconds: number; failureThreshold: number };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

test('deploy/kubernetes.yaml: its HASHEDGE_* settings are options that validate together, and its probes are routes', async () => {
  const docs = parseAllDocuments(await read('deploy/kubernetes.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, any> });
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  const pod = deployment.spec.template.spec as { terminationGracePeriodSeconds: number; containers: Container[] };
  const container = pod.containers[0]!;

  // Env values as the kubelet expands them: $(VAR) only from variables defined above it.
  const sample: Record<string, string> = { POD_IP: '10.1.2.3', POD_NAMESPACE: 'default' };
  const env: Record<string, string> = {};
  const defined = new Set<string>();
  for (const v of container.env) {
    if (v.value !== undefined) {
      for (const [, ref] of v.value.matchAll(/\$\((\w+)\)/g)) assert.ok(defined.has(ref!), `${v.name} refers to $(${ref}) before it is defined`);
      env[v.name] = v.value.replace(/\$\((\w+)\)/g, (_m, ref: string) => env[ref] ?? sample[ref]!);
    } else {
      env[v.name] = sample[v.name] ?? 'a-secret-of-at-least-16-chars';
    }
    defined.add(v.name);
    if (v.name.startsWith('HASHEDGE_')) assert.ok(OPTION_ENVS.has(v.name), `${v.name} is not a hashedge option`);
  }
  const config = resolveConfig({}, env);
  // Members are named by their admin address: the peer route is there.
  assert.equal(config.adminPort, 9080);
  assert.equal(config.self, 'http://10.1.2.3:9080');
  // The same manifest on an IPv6 cluster: the pod IP goes in brackets.
  assert.equal(resolveConfig({}, { ...env, HASHEDGE_SELF_ADDRESS: 'fd00:10:244::7' }).self, 'http://[fd00:10:244::7]:9080');
  assert.deepEqual(config.peersDns, { name: 'hashedge-peers.default.svc.cluster.local', port: 9080 });
  const portNamed = new Map(container.ports.map((p) => [p.name, p.containerPort]));
  assert.equal(portNamed.get('http'), config.port);
  assert.equal(portNamed.get('admin'), config.adminPort);
  const containerPort = (port: string | number) => (typeof port === 'number' ? port : portNamed.get(port));

  // Prometheus scrapes each pod on the admin port.
  const annotations = (deployment.spec.template.metadata as { annotations: Record<string, string> }).annotations;
  assert.equal(annotations['prometheus.io/scrape'], 'true');
  assert.equal(annotations['prometheus.io/path'], '/metrics');
  assert.equal(Number(annotations['prometheus.io/port']), config.adminPort);
  for (const d of docs) assert.ok(!(d.kind === 'Service' && (d.metadata as { annotations?: Record<string, string> }).annotations?.['prometheus.io/port'] !== undefined), 'no Service scrape annotation (through the load balancer a scrape reaches a random pod)');

  // The public Service exposes the asset port only.
  const publicServices = docs.filter((d) => d.kind === 'Service' && d.spec.type === 'LoadBalancer');
  assert.equal(publicServices.length, 1);
  for (const port of publicServices[0]!.spec.ports as Array<{ targetPort: string | number }>) assert.equal(containerPort(port.targetPort), config.port, 'the LoadBalancer reaches the asset port only');

  // Only pods of the app may reach the admin port: every ingress rule that covers it (a rule
  // without ports covers every port) names its sources, all pods of the app.
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  assert.equal(policies.length, 1, 'a NetworkPolicy');
  const policy = policies[0]!.spec as { podSelector: { matchLabels: unknown }; policyTypes: string[]; ingress: Array<{ from?: Array<Record<string, unknown>>; ports?: Array<{ port: string | number }> }> };
  assert.deepEqual(policy.podSelector.matchLabels, deployment.spec.selector.matchLabels);
  assert.ok(policy.policyTypes.includes('Ingress'));
  const covers = (rule: (typeof policy.ingress)[number], port: number) => rule.ports === undefined || rule.ports.some((p) => containerPort(p.port) === port);
  const adminRules = policy.ingress.filter((rule) => covers(rule, config.adminPort!));
  assert.ok(adminRules.length > 0, 'the members may reach each other');
  for (const rule of adminRules) {
    assert.ok(rule.from !== undefined && rule.from.length > 0, 'a rule covering the admin port names its sources');
    for (const from of rule.from) assert.deepEqual(from, { podSelector: { matchLabels: deployment.spec.selector.matchLabels } }, 'only pods of the app');
  }
  assert.ok(policy.ingress.some((rule) => covers(rule, config.port) && rule.from === undefined), 'the asset port is open to all');

  // One pod at a time may be evicted, and pods prefer different machines.
  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')!;
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  const antiAffinity = (deployment.spec.template.spec as { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: Array<{ podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: unknown } } }> } } }).affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]!.podAffinityTerm;
  assert.equal(antiAffinity.topologyKey, 'kubernetes.io/hostname');
  assert.deepEqual(antiAffinity.labelSelector.matchLabels, deployment.spec.selector.matchLabels);

  const headless = docs.find((d) => d.kind === 'Service' && d.spec.clusterIP === 'None')!;
  assert.ok(config.peersDns!.name.startsWith(`${headless.metadata.name}.`), 'HASHEDGE_PEERS_DNS names the headless Service');
  assert.equal(headless.spec.ports[0].port, config.peersDns!.port);
  assert.equal(containerPort(headless.spec.ports[0].targetPort), config.adminPort, 'members reach each other on the admin port');

  const preStop = Number(container.lifecycle?.preStop?.exec?.command[1] ?? 0);
  assert.ok(pod.terminationGracePeriodSeconds > (config.shutdownDelay + config.shutdownTimeout) / 1000 + preStop, 'the grace period covers the lame-duck period and the drain');
  assert.ok(config.shutdownDelay / 1000 > container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold, 'readiness turns unready within the lame-duck period');

  // Each probe on the port it names, of a node with an admin port as the manifest runs it.
  const node = await startTestEdge({ 'admin-port': '0' });
  try {
    // Ready may still be 503 for an instant after start (until the origin first answers).
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      const port = containerPort(probe.httpGet.port);
      assert.ok(port === config.port || port === config.adminPort, `probe port ${probe.httpGet.port}`);
      if (port === config.port) assert.ok(PUBLIC_HEALTH_PATHS.includes(probe.httpGet.path), `${probe.httpGet.path} is answered on the public port`);
      const res = await request(`${port === config.port ? node.url : node.adminUrl}${probe.httpGet.path}`);
      assert.ok(res.status === 200 || (probe === container.readinessProbe && res.status === 503), `${probe.httpGet.path}: ${res.status}`);
      assert.match(JSON.parse(res.body.toString()).status, /^(live|ready|starting)$/);
    }
  } finally {
    await node.close();
  }
});

test('Dockerfile: the image runs with NODE_ENV=production, so it refuses to start without HASHEDGE_ORIGIN instead of serving the sample', async () => {
  const runtime = (await read('Dockerfile')).split('\nFROM ').at(-1)!;
  const env: Record<string, string> = {};
  for (const [, block] of runtime.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm)) {
    for (const [, name, value] of block!.matchAll(/(\w+)=(\S+)/g)) env[name!] = value!;
  }
  assert.equal(env['NODE_ENV'], 'production');
  assert.throws(() => resolveConfig({}, env), /--origin: required when NODE_ENV=production/);
  assert.equal(resolveConfig({}, { ...env, HASHEDGE_ORIGIN: 's3://my-assets' }).origin.kind, 's3');
});

test('Dockerfile: the runtime image copies every file the package ships, runs dist/cli.js unprivileged, and checks a real route', async () => {
  const dockerfile = await read('Dockerfile');
  const pkg = JSON.parse(await read('package.json')) as { files: string[]; bin: { hashedge: string } };
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  for (const entry of pkg.files) assert.match(runtime, new RegExp(`^COPY (--from=build )?(/app/)?${entry} \\./${entry}$`, 'm'), `the image lacks ${entry}/`);
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, new RegExp(`^CMD \\["node", "${pkg.bin.hashedge}", "serve"\\]$`, 'm'));
  assert.match(runtime, /^EXPOSE 8080$/m);
  // The health check is `hashedge health`, which resolves the options as serve does: not a
  // port read from one env var (a port set by a flag's config file, or an admin port, would
  // break it).
  const check = /^HEALTHCHECK .*\\\n\s*CMD (\[.*\])$/m.exec(runtime);
  assert.ok(check, 'a HEALTHCHECK in exec form');
  const argv = JSON.parse(check[1]!) as string[];
  assert.deepEqual(argv, ['node', pkg.bin.hashedge, 'health']);
  assert.doesNotMatch(check[0], /HASHEDGE_PORT/);
  // Run as the image runs it (src/cli.ts through tsx, which dist/cli.js is compiled from), with
  // the image's env and the port set by each way the image can be configured.
  const imageEnv = Object.fromEntries([...runtime.matchAll(/^\s*(?:ENV )?(\w+)=(\S+?)(?: \\)?$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.equal(imageEnv['HASHEDGE_PORT'], '8080');
  const port = await freePort();
  const adminPort = await freePort();
  const dir = await tempDir('docker', { 'edge.json': JSON.stringify({ port, 'admin-port': adminPort }) });
  const file = dir.path('edge.json');
  const node = await startTestEdge({ port: String(port), 'admin-port': String(adminPort) });
  const ways: Array<[string, Record<string, string>]> = [
    ['HASHEDGE_PORT', { HASHEDGE_PORT: String(port) }],
    ['HASHEDGE_PORT and HASHEDGE_ADMIN_PORT', { HASHEDGE_PORT: String(port), HASHEDGE_ADMIN_PORT: String(adminPort) }],
    // The image sets HASHEDGE_PORT=8080, which wins over a config file's port: the admin port
    // (which the file sets and nothing overrides) is then what is checked.
    ['HASHEDGE_CONFIG', { HASHEDGE_CONFIG: file }],
  ];
  // A container is given its origin (with NODE_ENV=production the image refuses to start without one).
  imageEnv['HASHEDGE_ORIGIN'] = 's3://assets/site';
  try {
    for (const [how, env] of ways) {
      const result = await runCli(argv.slice(2), { ...imageEnv, ...env });
      assert.equal(result.code, 0, `${how}: ${result.stderr}`);
    }
  } finally {
    await node.close();
  }
  const down = await runCli(argv.slice(2), { ...imageEnv, HASHEDGE_PORT: String(port) });
  assert.equal(down.code, 1, 'exit 1 when nothing answers');
  await dir.remove();
});

test('Dockerfile, engines and CI agree on Node: the image runs the LTS that CI runs the suite on, one that engines accepts', async () => {
  const images = [...(await read('Dockerfile')).matchAll(/^FROM node:(\d+)[-.\s]/gm)].map((m) => Number(m[1]));
  assert.ok(images.length > 0, 'the Dockerfile builds FROM node:<major>');
  const image = images[0]!;
  assert.deepEqual(images, images.map(() => image), 'build and runtime stages on one Node');
  const ci = /^lts_node=(\d+)\.\d+\.\d+$/m.exec(await read('.ci/run'));
  assert.ok(ci, '.ci/run names the LTS it runs the suite on (lts_node=x.y.z)');
  assert.equal(Number(ci[1]), image, 'CI runs the suite on the Node the image runs');
  const engines = (JSON.parse(await read('package.json')) as { engines: { node: string } }).engines.node;
  const floor = /^>=(\d+)$/.exec(engines);
  assert.ok(floor, `engines.node is >=<major>, got ${engines}`);
  assert.ok(image >= Number(floor[1]), `the image's Node ${image} satisfies engines ${engines}`);
});
