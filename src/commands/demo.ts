/**
 * `hashedge demo`: the groupcache experiment made visible. In one process: an origin that
 * answers slowly and counts its requests, and three clustered nodes on consecutive ports. The
 * demo asks each node in turn for one key and prints what happened to every request: latency,
 * Cache-Status, where the bytes came from, and how many times the origin was asked so far.
 */
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ring } from '../cluster/ring.js';
import { parseIntIn, resolveConfig, type FlagSpec, type RawOptions } from '../config.js';
import { startEdge, type Edge } from '../edge.js';
import { ConfigError } from '../errors.js';
import { CACHE_STATUS, CACHE_STATUS_PEER_STORED, type CacheStatus } from '../http/headers.js';
import { silentLogger, type Logger } from '../log.js';
import { createOrigin } from '../origin/create.js';
import type { Origin, OriginGetOptions, OriginObject } from '../origin/origin.js';
import { parseDuration } from '../units.js';
import { exampleAssetPath } from './serve.js';

/** Nodes in the demo cluster, listening on basePort, basePort + 1, ... */
export const DEMO_NODES = 3;
const HOST = '127.0.0.1';

export interface DemoOptions {
  /** Port of the first node; the others take the next ones. 0: free ports the OS picks. @default 8001 */
  readonly basePort?: number;
  /** Milliseconds the origin waits before it answers each request. @default 300 */
  readonly originDelayMs?: number;
  /**
   * Times the demo goes round the nodes; the table has rounds × 3 rows. The first round shows a
   * node that does not own the key fetch it from the owner and keep it (its hot cache: memory
   * has room), the next ones hits everywhere.
   * @default 3
   */
  readonly rounds?: number;
  /** After the table, keep the nodes running until SIGINT/SIGTERM, to try them with curl. @default false */
  readonly keep?: boolean;
  /** Where the report is written. @default process.stdout */
  readonly out?: NodeJS.WritableStream;
  /** The nodes' structured log. @default silent */
  readonly log?: Logger;
}

type FlagKey = 'basePort' | 'originDelayMs' | 'rounds' | 'keep';
type DemoFlags = { readonly [K in FlagKey]-?: NonNullable<DemoOptions[K]> };

const flag = <K extends FlagKey>(spec: FlagSpec<DemoFlags, K>): FlagSpec<DemoFlags, K> => spec;


/** The demo's flags, for `hashedge demo --help` and resolveDemoFlags. */
export const DEMO_FLAGS = [
  flag({ key: 'basePort', name: 'base-port', arg: '<port>', default: '8001', description: 'Port of the first node; the other two take the next ports (0 picks free ones).', expected: `an integer from 0 to ${65535 - (DEMO_NODES - 1)}`, parse: parseIntIn(0, 65535 - (DEMO_NODES - 1)) }),
  flag({ key: 'originDelayMs', name: 'origin-delay', arg: '<duration>', default: '300ms', description: 'How long the origin takes to answer each request.', expected: 'a duration like 300ms or 1s', parse: parseDuration }),
  flag({ key: 'rounds', name: 'rounds', arg: '<n>', default: '3', description: 'Times to go round the nodes, asking each one for the key.', expected: 'an integer from 1 to 100', parse: parseIntIn(1, 100) }),
  flag({ key: 'keep', name: 'keep', default: 'false', description: 'Keep the nodes running after the table, until Ctrl-C, to try them with curl.', expected: 'true or false', parse: (t) => (t === 'true' ? true : t === 'false' ? false : undefined) }),
] as const;

/** The demo's options from raw flag values (commander's). Throws ConfigError naming the flag. */
export function resolveDemoFlags(flags: RawOptions = {}): DemoFlags {
  const out: Record<string, unknown> = {};
  for (const spec of DEMO_FLAGS) {
    const given = flags[spec.name];
    // Every demo flag has a default.
    const text = given === undefined ? spec.default! : String(given);
    const value = (spec.parse as (t: string) => unknown)(text);
    if (value === undefined) throw new ConfigError(`--${spec.name}: expected ${spec.expected}, got ${JSON.stringify(text)}.`);
    out[spec.key] = value;
  }
  return Object.freeze(out as DemoFlags);
}

const DEFAULTS = resolveDemoFlags();

/**
 * The demo's origin: another origin made slow and watched. Each request is counted by key on
 * arrival, then waits `delayMs` (given up when its signal aborts or the origin closes).
 */
export class SlowCountingOrigin implements Origin {
  readonly description: string;
  readonly #inner: Origin;
  readonly #delayMs: number;
  readonly #counts = new Map<string, number>();
  readonly #closed = new AbortController();

  constructor(inner: Origin, delayMs: number) {
    this.#inner = inner;
    this.#delayMs = delayMs;
    this.description = `${inner.description}, ${delayMs} ms per request`;
  }

  /** Requests for key that reached this origin so far. */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    this.#counts.set(key, this.count(key) + 1);
    const signal = AbortSignal.any([options.signal, this.#closed.signal]);
    try {
      await sleep(this.#delayMs, undefined, { signal });
    } catch (err) {
      throw signal.aborted ? signal.reason : err;
    }
    return this.#inner.get(key, options);
  }

  /** Idempotent: every node of the demo closes the origin they share. */
  async close(): Promise<void> {
    if (!this.#closed.signal.aborted) this.#closed.abort(new Error('The demo origin was closed.'));
    await this.#inner.close();
  }
}

/** Where a node got the bytes it answered with. */
export type DemoSource = 'origin' | 'owner' | 'memory';

/** RFC 9211 `stored`: the node kept what it fetched. */
const STORED = /;\s*stored\b/;

export interface DemoRow {
  readonly node: string;
  /** Whether node owns the key on the ring. */
  readonly owner: boolean;
  /** Milliseconds from sending the request to the last byte of the body. */
  readonly latencyMs: number;
  /** The Cache-Status header as sent. */
  readonly cacheStatus: string;
  /** Whether the node kept a copy of what it fetched (Cache-Status `stored`). */
  readonly stored: boolean;
  /** Its name (hit, miss, ...), or the header itself when it is none of hashedge's. */
  readonly cache: CacheStatus | string;
  readonly source: DemoSource;
  /** The origin's request count for the key after this request. */
  readonly originRequests: number;
}

export interface DemoReport {
  readonly key: string;
  readonly owner: string;
  readonly rows: readonly DemoRow[];
  readonly originRequests: number;
}

const CACHE_STATUS_NAMES = new Map<string, string>([...Object.entries(CACHE_STATUS).map(([name, value]) => [value, name] as const), [CACHE_STATUS_PEER_STORED, 'peer']]);

function sourceText(row: DemoRow): string {
  switch (row.source) {
    case 'origin':
      return row.owner ? 'origin' : 'origin, through the owner';
    case 'owner':
      return row.stored ? "the owner's memory, kept here now" : "the owner's memory";
    case 'memory':
      return "this node's memory";
  }
}

/**
 * Runs the demo: starts the origin and the nodes, asks each node in turn for the first asset
 * of the sample origin's manifest, writes the table, and closes everything (after a signal,
 * with `keep`). Rejects with the listen error (EADDRINUSE) if a port is taken.
 */
export async function demo(options: DemoOptions = {}): Promise<DemoReport> {
  const { basePort, originDelayMs, rounds, keep } = { ...DEFAULTS, ...options };
  const out = options.out ?? process.stdout;
  const write = (text: string) => void out.write(text + '\n');
  // The defaults alone, environment ignored: the bundled sample origin.
  const sample = resolveConfig({}, {});
  const key = await exampleAssetPath(sample);
  if (key === undefined) throw new Error('The sample origin has no manifest.json listing an asset to ask for.');
  const origin = new SlowCountingOrigin(await createOrigin(sample), originDelayMs);
  const ports = basePort === 0 ? await freePorts(DEMO_NODES) : Array.from({ length: DEMO_NODES }, (_, i) => basePort + i);
  const nodes = await startCluster(ports, origin, options.log ?? silentLogger);
  try {
    const owner = new Ring(nodes.map((n) => n.url)).owner(key)!;
    write(`hashedge demo: ${nodes.length} nodes on one consistent-hash ring, one origin that takes ${originDelayMs} ms per request`);
    write(`  origin  ${origin.description}`);
    write(`  key     ${key}, owned by ${owner}`);
    write('What to look at: latency (only a request that waits for the origin is slow), cache (the Cache-Status');
    write("header) and the origin's request count. A node asks the key's owner for it, so the origin is asked");
    write('once; a node that does not own the key keeps a copy (its hot cache) while its memory has room.');
    write('');

    const rows: DemoRow[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const node of nodes) rows.push(await ask(node.url, key, owner, origin));
    }
    write(table(
      ['#', 'node', 'latency', 'cache', 'answered from', 'origin requests'],
      rows.map((r, i) => [String(i + 1), r.owner ? `${r.node} (owner)` : r.node, `${r.latencyMs.toFixed(1)} ms`, r.cache, sourceText(r), String(r.originRequests)]),
      new Set([0, 2, 5]),
    ));
    const originRequests = origin.count(key);
    const [first, ...rest] = rows.map((r) => r.latencyMs);
    const others = rest.length > 0 ? `, the slowest of the others ${Math.max(...rest).toFixed(1)} ms` : '';
    write('');
    write(`origin fetched the key ${originRequests} ${originRequests === 1 ? 'time' : 'times'} for ${rows.length} requests over ${nodes.length} nodes; the first request took ${first!.toFixed(1)} ms${others}.`);

    if (keep) {
      write('');
      write(`The nodes keep running; Ctrl-C stops them. Try: curl -i ${nodes[0]!.url}/${key}`);
      await untilSignal();
    }
    return { key, owner, rows, originRequests };
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

/** Ports nothing listens on now, held open together so they differ. */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, HOST, resolve);
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** One node per port, all members of one ring; if any fails to listen, the others are closed. */
async function startCluster(ports: readonly number[], origin: Origin, log: Logger): Promise<Edge[]> {
  const urls = ports.map((port) => `http://${HOST}:${port}`);
  const started = await Promise.allSettled(ports.map((port, i) =>
    startEdge(resolveConfig({ port: String(port), host: HOST, self: urls[i], peers: urls.join(',') }, {}), { origin, log })));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(nodes.map((n) => n.close()));
    await origin.close();
    throw failed.reason;
  }
  return nodes;
}

/** GETs key from node (a fresh connection, body read to the end) and describes the answer. */
async function ask(node: string, key: string, owner: string, origin: SlowCountingOrigin): Promise<DemoRow> {
  const before = origin.count(key);
  const started = performance.now();
  const res = await new Promise<{ status: number; cacheStatus: string; error: string | undefined }>((resolve, reject) => {
    const req = request(`${node}/${key}`, { agent: false }, (res) => {
      res.resume();
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cacheStatus: String(res.headers['cache-status'] ?? ''), error: res.headers['x-hashedge-error'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
  const latencyMs = performance.now() - started;
  if (res.status !== 200) throw new Error(`${node}/${key} answered ${res.status}${res.error ? ` ${res.error}` : ''}.`);
  const cache = CACHE_STATUS_NAMES.get(res.cacheStatus) ?? res.cacheStatus;
  const originRequests = origin.count(key);
  const source: DemoSource = cache === 'hit' ? 'memory' : originRequests > before ? 'origin' : 'owner';
  return { node, owner: node === owner, latencyMs, cacheStatus: res.cacheStatus, stored: STORED.test(res.cacheStatus), cache, source, originRequests };
}

/** Plain-text columns, two spaces apart; columns in `right` are right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [header, ...rows].map(line).join('\n');
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
