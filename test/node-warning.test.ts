/**
 * The AWS SDK's NodeVersionSupportWarning (9 lines on stderr from every process that builds an
 * S3 client on a Node the SDK is dropping, below 22 today) as an operator sees it: never on a
 * supported Node; on an older one once per command, from the primary of `serve --workers`
 * (not from each worker, nor from a worker that replaces a dead one), once from `upload`.
 * Real processes against s3rver.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from './helpers/http.js';
import { runCli, startServe, type RunningNode } from './helpers/cli.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from './helpers/s3-server.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

/** The first Node major the SDK supports (its emitWarningIfUnsupportedVersion): the supported set-up has no warning. */
const SDK_MIN_NODE = 22;
const expected = Number(process.versions.node.split('.')[0]) < SDK_MIN_NODE ? 1 : 0;

const ENV = {
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  // Not inherited from whoever runs the tests: the SDK's own switch would hide the warning.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '',
};

/** The warnings in a process tree's stderr, each as `pid` of the process that gave it. */
function warnings(stderr: string): number[] {
  return [...stderr.matchAll(/\(node:(\d+)\) (?:Warning: )?NodeVersionSupportWarning:/g)].map((m) => Number(m[1]));
}

let s3: S3TestServer;
/** A build of one asset, for `hashedge upload`. */
let build: TempDir;
const asset = 'app-0492830483.js';
const body = 'export const hashedge = 1;\n';

before(async () => {
  s3 = await startS3Server();
  build = await tempDir('node-warning', { [asset]: body });
  await s3.put(`site/${asset}`, body, 'text/javascript');
});

after(async () => {
  await s3?.stop();
  await build?.remove();
});

test(`hashedge upload to S3 gives the SDK's Node warning ${expected} time(s) on Node ${process.version}`, async () => {
  const { code, stderr } = await runCli(['upload', build.dir, '--to', `s3://${s3.bucket}/uploaded`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style'], ENV);
  assert.equal(code, 0, stderr);
  assert.equal(warnings(stderr).length, expected, stderr);
});

test(`hashedge serve --workers 2 from S3 gives it ${expected} time(s) on Node ${process.version}, from the primary, and not again when a worker is replaced`, { timeout: 90_000 }, async () => {
  const node: RunningNode = await startServe(['--workers', '2', '--origin', `s3://${s3.bucket}/site`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--log-level', 'info'], ENV);
  const closed = once(node.child, 'close'); // every byte of stderr read
  try {
    const res = await request(`${node.url}/${asset}`);
    assert.equal(res.status, 200, 'the workers serve from the bucket');
    assert.equal(res.body.toString(), body);
    // Each worker logs worker_listening once its S3 client is built: a replacement's third one.
    const [first] = await workersListening(node, 2);
    process.kill(first!, 'SIGKILL');
    const pids = await workersListening(node, 3);
    assert.equal(pids.length, 3);
    node.child.kill('SIGTERM');
    const [code] = await node.exited;
    assert.equal(code, 0);
    await closed;
    const given = warnings(node.stderr());
    assert.equal(given.length, expected, node.stderr());
    for (const pid of given) assert.equal(pid, node.child.pid, 'the primary gives it, no worker');
  } finally {
    node.child.kill('SIGKILL');
  }
});

/** The pids of the first `n` workers that logged worker_listening, once that many have (read from stderr as it arrives). */
async function workersListening(node: RunningNode, n: number): Promise<number[]> {
  const pids = () => {
    const seen = new Set<number>();
    for (const line of node.stderr().split('\n')) {
      if (!line.includes('"worker_listening"')) continue;
      const entry = JSON.parse(line) as { event?: string; pid?: number };
      if (entry.event === 'worker_listening' && entry.pid !== undefined) seen.add(entry.pid);
    }
    return [...seen];
  };
  while (pids().length < n) {
    const exited = await Promise.race([once(node.child.stderr, 'data').then(() => false), node.exited.then(() => true)]);
    if (exited) throw new Error(`serve exited before ${n} workers listened: ${node.stderr()}`);
  }
  return pids().slice(0, n);
}
