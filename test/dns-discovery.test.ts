/**
 * --peers-dns against a real DNS server: nodes on 127.0.0.1, .2 and .3 (all loopback on
 * Linux) share one port, as pods behind a headless Service do, and find each other from the
 * name's A records. Membership changes rebuild the ring; requests in flight are not dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { portFreeOnAll } from './helpers/cluster.js';
import { Ring } from '../src/cluster/ring.js';
import type { Edge } from '../src/edge.js';
import { startTestEdge } from './helpers/edge.js';
import { request } from './helpers/http.js';
import { TestDnsServer } from './helpers/dns-server.js';
import { Gate, TestOrigin } from './helpers/origins.js';

const NAME = 'hashedge-peers.test';
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

interface DnsCluster {
  dns: TestDnsServer;
  origin: TestOrigin;
  port: number;
  start(host: string, flags?: Record<string, string>): Promise<Edge>;
}

async function dnsCluster(): Promise<DnsCluster> {
  const dns = new TestDnsServer();
  const server = await dns.start();
  const origin = new TestOrigin();
  const port = await portFreeOnAll(HOSTS);
  return {
    dns, origin, port,
    start: (host, flags = {}) => startTestEdge({ host, port: String(port), self: `http://${host}:${port}`, 'peers-dns': `${NAME}:${port}`, 'dns-servers': server, ...flags }, origin),
  };
}

const urls = (port: number, hosts: string[]) => hosts.map((h) => `http://${h}:${port}`);

test('nodes find each other from the A records of one DNS name, and load each key once for the cluster', async () => {
  const c = await dnsCluster();
  c.dns.set(NAME, HOSTS);
  const nodes = await Promise.all(HOSTS.map((h) => c.start(h)));
  try {
    for (const node of nodes) assert.deepEqual(node.cluster?.members, urls(c.port, HOSTS));
    const keys = Array.from({ length: 12 }, (_, i) => `assets/d${i}-0492830483.js`);
    for (const key of keys) c.origin.put(key, key);
    for (const key of keys) for (const node of nodes) assert.equal((await request(`${node.url}/${key}`)).status, 200);
    for (const key of keys) assert.equal(c.origin.count(key), 1, key);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    c.dns.close();
  }
});

test('a node that joins the DNS name joins the ring on the next resolution; one that leaves is dropped', async () => {
  const c = await dnsCluster();
  c.dns.set(NAME, HOSTS.slice(0, 2));
  const nodes = await Promise.all(HOSTS.slice(0, 2).map((h) => c.start(h, { 'peers-dns-interval': '1s' })));
  try {
    const [a] = nodes as [Edge, Edge];
    assert.deepEqual(a.cluster?.members, urls(c.port, HOSTS.slice(0, 2)));
    // The third node starts and its record appears: the others pick it up on their interval.
    c.dns.set(NAME, HOSTS);
    const changed = once(a.cluster!, 'members');
    nodes.push(await c.start(HOSTS[2]!));
    assert.deepEqual((await changed)[0], urls(c.port, HOSTS));
    // One leaves the name (scaled down): its share moves, and keys are still served.
    c.dns.set(NAME, [HOSTS[0]!, HOSTS[2]!]);
    await a.cluster!.refresh();
    assert.deepEqual(a.cluster!.members, urls(c.port, [HOSTS[0]!, HOSTS[2]!]));
    c.origin.put('assets/after-0492830483.js', 'after');
    assert.equal((await request(`${a.url}/assets/after-0492830483.js`)).status, 200);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    c.dns.close();
  }
});

test('a DNS outage keeps the members a node had instead of splitting the cluster', async () => {
  const c = await dnsCluster();
  c.dns.set(NAME, HOSTS.slice(0, 2));
  const nodes = await Promise.all(HOSTS.slice(0, 2).map((h) => c.start(h)));
  try {
    c.dns.failing = true;
    const queries = c.dns.queries;
    await nodes[0]!.cluster!.refresh();
    assert.ok(c.dns.queries > queries, 'the node did ask');
    assert.deepEqual(nodes[0]!.cluster!.members, urls(c.port, HOSTS.slice(0, 2)));
    // The name gone altogether (NXDOMAIN): the node is alone, and serves from the origin itself.
    c.dns.failing = false;
    c.dns.records.clear();
    await nodes[0]!.cluster!.refresh();
    assert.deepEqual(nodes[0]!.cluster!.members, urls(c.port, [HOSTS[0]!]));
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    c.dns.close();
  }
});

test('a request in flight through an owner completes when the ring changes under it', async () => {
  const c = await dnsCluster();
  c.dns.set(NAME, HOSTS);
  const nodes = await Promise.all(HOSTS.map((h) => c.start(h)));
  try {
    const [a, , owner] = nodes as [Edge, Edge, Edge];
    const ring = new Ring(urls(c.port, HOSTS));
    const key = Array.from({ length: 500 }, (_, i) => `assets/f${i}-0492830483.js`).find((k) => ring.owner(k) === owner.cluster!.self)!;
    const body = c.origin.put(key, 'in flight');
    c.origin.gate = new Gate();
    const pending = request(`${a.url}/${key}`);
    await c.origin.arrived(1, key);
    // The owner leaves the DNS answer while it is loading the key for a.
    c.dns.set(NAME, HOSTS.slice(0, 2));
    await a.cluster!.refresh();
    assert.equal(a.cluster!.members.includes(owner.cluster!.self), false);
    c.origin.gate.open();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(body));
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    c.dns.close();
  }
});

test("scaling out and in: a key's new owner asks its previous owner for a copy before the origin (hand-over), so the working set is not fetched again", { timeout: 20_000 }, async () => {
  for (const grace of ['5m', '0']) {
    const c = await dnsCluster();
    c.dns.set(NAME, HOSTS.slice(0, 2));
    const [a, b] = [await c.start(HOSTS[0]!, { 'handover-grace': grace, 'peer-probe-interval': '0' }), await c.start(HOSTS[1]!, { 'handover-grace': grace, 'peer-probe-interval': '0' })];
    const nodes: Edge[] = [a, b];
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `assets/chunk${i}-0492830483.js`);
      for (const key of keys) c.origin.put(key, `export default ${JSON.stringify(key)};\n`);
      // Warm: each key loaded once, by its owner, and asked of it (through the other node, with
      // memory to spare, that node would keep a copy too: then it needs no hand-over).
      const first = new Ring(urls(c.port, HOSTS.slice(0, 2)));
      for (const key of keys) assert.equal((await request(`${(first.owner(key) === a.cluster!.self ? a : b).url}/${key}`)).status, 200);
      for (const key of keys) assert.equal(c.origin.count(key), 1);

      // Scale out: a third node joins; every node sees the new ring.
      c.dns.set(NAME, HOSTS);
      const added = await c.start(HOSTS[2]!, { 'handover-grace': grace, 'peer-probe-interval': '0' });
      nodes.push(added);
      await Promise.all([a, b].map((n) => n.cluster!.refresh()));
      const ring = new Ring(urls(c.port, HOSTS));
      const moved = keys.filter((key) => ring.owner(key) === added.cluster!.self);
      assert.ok(moved.length > 5, `${moved.length} keys moved`);
      // Asked of the new owner itself (through another node, a key it still holds is a local
      // hit). With hand-over, half of them only: the others are still with their first owner
      // when the next change comes.
      const askedNow = grace === '0' ? moved : moved.filter((_key, i) => i % 2 === 0);
      for (const key of askedNow) assert.equal((await request(`${added.url}/${key}`)).status, 200);
      const reloaded = moved.filter((key) => c.origin.count(key) > 1).length;
      if (grace === '0') {
        assert.equal(reloaded, moved.length, 'without hand-over every moved key is fetched from the origin again');
      } else {
        assert.equal(reloaded, 0, 'with hand-over no moved key is fetched from the origin again');
        assert.equal(added.group.stats.handovers, askedNow.length);
        // The copy is the new owner's now: a hit there.
        assert.equal((await request(`${added.url}/${moved[0]}`)).headers['cache-status'], 'hashedge; hit');

        // Scale in: b leaves the DNS answer (still running, as in its lame-duck period). Its
        // keys' new owners take b's copies; the moved keys the added node never took are still
        // found two rings back, with their first owner. Not one key from the origin.
        c.dns.set(NAME, [HOSTS[0]!, HOSTS[2]!]);
        await Promise.all([a, added].map((n) => n.cluster!.refresh()));
        const after = new Ring(urls(c.port, [HOSTS[0]!, HOSTS[2]!]));
        for (const key of keys) {
          const owner = after.owner(key) === a.cluster!.self ? a : added;
          assert.equal((await request(`${owner.url}/${key}`)).status, 200);
        }
        assert.deepEqual(keys.filter((key) => c.origin.count(key) > 1), [], 'no key is fetched from the origin again');
        const left = keys.filter((key) => ring.owner(key) === b.cluster!.self);
        assert.equal(a.group.stats.handovers + added.group.stats.handovers, moved.length + left.length);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      c.dns.close();
    }
  }
});
