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
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), 'utf8');
const OPTION_ENVS = new Set(OPTIONS.map((spec) => envName(spec.name)));

interface EnvVar { name: string; value?: string; valueFrom?: unknown }
interface Container {
  ports: Array<{ name: string; containerPort: number }>;
  env: EnvVar[];
  readinessProbe: { httpGet: { path: string }; periodSeconds: number; failureThreshold: number };
  livenessProbe: { httpGet: { path: string } };
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
  assert.equal(config.self, 'http://10.1.2.3:8080');
  // The same manifest on an IPv6 cluster: the pod IP goes in brackets.
  assert.equal(resolveConfig({}, { ...env, HASHEDGE_SELF_ADDRESS: 'fd00:10:244::7' }).self, 'http://[fd00:10:244::7]:8080');
  assert.deepEqual(config.peersDns, { name: 'hashedge-peers.default.svc.cluster.local', port: 8080 });
  assert.equal(container.ports[0]!.containerPort, config.port);

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

  const preStop = Number(container.lifecycle?.preStop?.exec?.command[1] ?? 0);
  assert.ok(pod.terminationGracePeriodSeconds > (config.shutdownDelay + config.shutdownTimeout) / 1000 + preStop, 'the grace period covers the lame-duck period and the drain');
  assert.ok(config.shutdownDelay / 1000 > container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold, 'readiness turns unready within the lame-duck period');

  const node = await startTestEdge({});
  try {
    // Ready may still be 503 for an instant after start (until the origin first answers).
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      const res = await request(`${node.url}${probe.httpGet.path}`);
      assert.ok(res.status === 200 || (probe === container.readinessProbe && res.status === 503), `${probe.httpGet.path}: ${res.status}`);
      assert.match(JSON.parse(res.body.toString()).status, /^(live|ready|starting)$/);
    }
  } finally {
    await node.close();
  }
});

test('Dockerfile: the runtime image copies every file the package ships, runs dist/cli.js unprivileged, and checks a real route', async () => {
  const dockerfile = await read('Dockerfile');
  const pkg = JSON.parse(await read('package.json')) as { files: string[]; bin: { hashedge: string } };
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  for (const entry of pkg.files) assert.match(runtime, new RegExp(`^COPY (--from=build )?(/app/)?${entry} \\./${entry}$`, 'm'), `the image lacks ${entry}/`);
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, new RegExp(`^CMD \\["node", "${pkg.bin.hashedge}", "serve"\\]$`, 'm'));
  assert.match(runtime, /^EXPOSE 8080$/m);
  const route = /(\/_hashedge\/health\/\w+)/.exec(runtime)?.[1];
  assert.ok(route, 'a HEALTHCHECK on a health route');
  const node = await startTestEdge({});
  try {
    assert.equal((await request(`${node.url}${route}`)).status, 200);
  } finally {
    await node.close();
  }
});
