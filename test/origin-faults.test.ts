/**
 * A failing S3 origin, as the AWS SDK meets it: an S3 stand-in on a real socket that answers
 * every GetObject with 500 InternalError (what S3 sends in an incident). However many clients
 * ask, each key costs the origin one load (two GETs: the SDK's one retry, kept on purpose for
 * S3's transient 500/503) per --origin-error-ttl, and in a cluster only the key's owner asks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { freePort } from './helpers/cluster.js';
import { errorCode, request } from './helpers/http.js';
import { S3RVER_CREDENTIALS } from './helpers/s3-server.js';

let s3: Server;
let endpoint: string;
/** GETs the stand-in received, by object key. */
const gets = new Map<string, number>();

before(async () => {
  s3 = createServer((req, res) => {
    const key = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(/^\/[^/]+\//, ''));
    if (req.method === 'GET') gets.set(key, (gets.get(key) ?? 0) + 1);
    const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>';
    res.writeHead(500, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => s3.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(s3.address() as { port: number }).port}`;
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
});

after(async () => {
  await new Promise<void>((resolve) => s3.close(() => resolve()));
});

function node(flags: Record<string, string>): Promise<Edge> {
  return startEdge(resolveConfig({ host: '127.0.0.1', port: '0', origin: 's3://failing/site', 's3-endpoint': endpoint, 's3-force-path-style': 'true', 'origin-error-ttl': '60s', ...flags }));
}

test('an S3 origin answering 500: 30 client requests for a key cost it 2 GETs (one load, the SDK retry), every client gets 502 E_ORIGIN', async () => {
  const edge = await node({});
  try {
    const key = 'assets/app-0492830483.js';
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => request(`${edge.url}/${key}`)));
      for (const res of answers) {
        assert.equal(res.status, 502);
        assert.equal(errorCode(res), 'E_ORIGIN');
        assert.doesNotMatch(res.body.toString(), /InternalError|127\.0\.0\.1/, 'nothing of the origin leaks');
      }
    }
    assert.equal(gets.get(`site/${key}`), 2);
    assert.equal(edge.group.stats.originErrors, 1);
    assert.ok(edge.group.stats.errorHits >= 20, `errorHits ${edge.group.stats.errorHits}`);
  } finally {
    await edge.close();
  }
});

test('in a cluster, only the owner asks the failing origin; the other node passes its 502 on and keeps it as up', async () => {
  const ports = [await freePort(), await freePort()];
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const nodes = await Promise.all(ports.map((port, i) => node({ port: String(port), self: urls[i]!, peers: urls.join(','), 'peer-probe-interval': '0' })));
  try {
    const key = 'assets/shared-0492830483.js';
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all(nodes.flatMap((n) => Array.from({ length: 5 }, () => request(`${n.url}/${key}`))));
      for (const res of answers) assert.equal(res.status, 502);
    }
    assert.equal(gets.get(`site/${key}`), 2, 'one load in the whole cluster');
    // Neither is routed around: the owner answered (up); the owner never asked the other (unknown).
    for (const n of nodes) for (const m of n.cluster!.status()) assert.ok(m.state === 'up' || m.state === 'unknown', `${m.url} is ${m.state}`);
    assert.ok(nodes.some((n) => n.cluster!.status().every((m) => m.state === 'up')), 'the asking node saw the owner answer');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
