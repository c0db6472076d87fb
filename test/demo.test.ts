/**
 * `hashedge demo` as users run it: a real process starting a real origin and three real nodes
 * (on free ports), its table, its exit codes. Latencies are printed, never asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { HOT_AFTER_REQUESTS } from '../src/cache/group.js';
import { request } from './helpers/http.js';
import { runCli, spawnCli } from './helpers/cli.js';

const hashedge = (args: string[]) => spawnCli(args);
const run = (args: string[]) => runCli(args);

interface Row {
  node: string;
  owner: boolean;
  cache: string;
  from: string;
  originRequests: number;
}

/** The table's rows: `#  node [(owner)]  latency ms  cache  answered from  origin requests`. */
function rows(stdout: string): Row[] {
  const out: Row[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*\d+\s+(http:\/\/\S+)( \(owner\))?\s+[\d.]+ ms\s+(\S+)\s+(.+?)\s+(\d+)$/.exec(line);
    if (m) out.push({ node: m[1]!, owner: m[2] !== undefined, cache: m[3]!, from: m[4]!, originRequests: Number(m[5]) });
  }
  return out;
}

test('`hashedge demo` asks three nodes in turn: one origin load, then every node answers from memory', async () => {
  // Enough rounds for a node that does not own the key to keep it (hot cache) and then hit.
  const rounds = HOT_AFTER_REQUESTS + 1;
  const { code, stdout, stderr } = await run(['demo', '--base-port', '0', '--origin-delay', '50ms', '--rounds', String(rounds)]);
  assert.equal(code, 0, stderr);
  const table = rows(stdout);
  assert.equal(table.length, rounds * 3, stdout);
  const nodes = table.slice(0, 3).map((r) => r.node);
  assert.equal(new Set(nodes).size, 3, 'three distinct nodes');
  assert.deepEqual(table.map((r) => r.node), Array.from({ length: rounds }, () => nodes).flat(), 'each node in turn');
  assert.equal(table.filter((r) => r.owner).length, rounds, 'one node owns the key');

  const [first, ...rest] = table;
  assert.notEqual(first!.cache, 'hit');
  assert.match(first!.from, /^origin/);
  for (const row of table) assert.equal(row.originRequests, 1, stdout);
  for (const row of rest) assert.doesNotMatch(row.from, /^origin/);
  for (const row of rest.filter((r) => r.owner)) assert.equal(row.cache, 'hit', 'the owner keeps the key');
  // What Cache-Status says: from the owner is peer (detail=owner), kept here or not; never miss.
  const fromOwner = table.filter((r) => r.from.startsWith("the owner's memory"));
  assert.ok(fromOwner.some((r) => r.from.endsWith('kept here now')), stdout);
  for (const row of fromOwner) assert.equal(row.cache, 'peer', stdout);
  for (const row of rest) assert.notEqual(row.cache, 'miss', stdout);
  for (const row of table.slice(-3)) assert.equal(row.cache, 'hit', 'by the last round every node has it');
  assert.match(stdout, new RegExp(`^origin fetched the key 1 time for ${rounds * 3} requests over 3 nodes`, 'm'));
});

test('with --keep the nodes stay up for curl until SIGTERM, then the demo exits 0', async () => {
  const child = hashedge(['demo', '--base-port', '0', '--origin-delay', '0', '--rounds', '1', '--keep']);
  try {
    let tryUrl: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      tryUrl = /Try: curl -i (\S+)$/.exec(line)?.[1];
      if (tryUrl) break;
    }
    assert.ok(tryUrl, 'the demo prints a URL to try');
    const res = await request(tryUrl);
    assert.equal(res.status, 200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a bad --base-port stops the demo with exit code 2 and names the flag', async () => {
  const { code, stderr } = await run(['demo', '--base-port', 'abc']);
  assert.equal(code, 2);
  assert.match(stderr, /--base-port: expected an integer from 0 to 65533, got "abc"/);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
});

test('a port in use stops the demo with exit code 1, and the nodes that started are closed', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as { port: number };
  try {
    // The third node's port is taken; the first two may start and must not keep the process alive.
    const { code, stderr } = await run(['demo', '--base-port', String(port - 2), '--origin-delay', '0']);
    assert.equal(code, 1);
    assert.match(stderr, /port \d+ is already in use \(EADDRINUSE\)/);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
