/**
 * `hashedge get <url>`: fetch one asset through an edge node and show what happened — status,
 * Cache-Status, which node owns the key on the ring, time to first byte and in total, the
 * headers, whether the asset is immutable and why (the Hashedge-Debug verdict) — and with
 * --verify, that the bytes are what the edge's SHA-256, the ETag and the name promise.
 * The counterpart of groupcache's demo client (-get), for operators.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseAssetPath } from '../asset/key.js';
import { Ring } from '../cluster/ring.js';
import { ConfigError } from '../errors.js';
import { DEBUG_HEADER, IMMUTABILITY_HEADER, SHA256_HEADER } from '../http/asset.js';

export interface GetOptions {
  readonly url: string;
  /**
   * Base URL of the node's admin listener (--admin-port), where /_hashedge/stats, and with it
   * the ring, is. @default the asset URL's own origin (a node without --admin-port)
   */
  readonly admin?: string;
  /** Check the body against the name's SHA-256 prefix and the ETag. @default false */
  readonly verify?: boolean;
  /** Extra request headers, e.g. Range or Accept-Encoding. */
  readonly headers?: Readonly<Record<string, string>>;
  /** ms to wait for the whole response. @default 30000 */
  readonly timeoutMs?: number;
  readonly out?: NodeJS.WritableStream;
}

export interface GetResult {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly bytes: number;
  readonly ttfbMs: number;
  readonly totalMs: number;
  /** The key's owner on the node's ring (with --workers, the owner worker's member); undefined outside a cluster or if stats are closed. */
  readonly owner: string | undefined;
  /** Problems --verify found (empty: verified). */
  readonly problems: readonly string[];
  /** What --verify checked, and what it could not (information, not failures). */
  readonly checked: readonly string[];
}

/** Runs the request and prints the report; resolves with the result (the CLI sets the exit code). */
export async function get(options: GetOptions): Promise<GetResult> {
  const out = options.out ?? process.stdout;
  let url: URL;
  try {
    url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`get: expected an http(s) URL of an asset, got ${JSON.stringify(options.url)}.`);
  }
  const admin = options.admin === undefined ? undefined : parseAdminUrl(options.admin);
  const started = performance.now();
  // The debug header asks the edge for its immutability verdict and the body's SHA-256.
  const { res, body, ttfbMs } = await fetchTimed(url, { [DEBUG_HEADER]: '1', ...options.headers }, options.timeoutMs ?? 30_000, started);
  const totalMs = performance.now() - started;
  const owner = await ownerOf(url, admin);

  const { problems, checked } = options.verify ? verify(url, res, body) : { problems: [], checked: [] };
  const line = (label: string, value: string) => out.write(`${label.padEnd(8)} ${value}\n`);
  line('GET', url.href);
  line('status', `${res.statusCode} ${res.statusMessage ?? ''}`.trim());
  line('cache', String(res.headers['cache-status'] ?? '-'));
  line('immutable', String(res.headers[IMMUTABILITY_HEADER] ?? '-'));
  if (owner !== undefined) line('owner', describeOwner(owner));
  line('ttfb', `${ttfbMs.toFixed(1)} ms`);
  line('total', `${totalMs.toFixed(1)} ms`);
  line('bytes', String(body.length));
  if (options.verify) line('verify', problems.length === 0 ? `ok: ${checked.join('; ')}` : `FAILED: ${problems.join('; ')}`);
  out.write('\n');
  for (let i = 0; i < res.rawHeaders.length; i += 2) out.write(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\n`);
  return { status: res.statusCode ?? 0, headers: res.headers, bytes: body.length, ttfbMs, totalMs, owner: owner?.member, problems, checked };
}

function fetchTimed(url: URL, headers: Readonly<Record<string, string>>, timeoutMs: number, started: number): Promise<{ res: IncomingMessage; body: Buffer; ttfbMs: number }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { headers: { 'user-agent': 'hashedge-get', ...headers }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const ttfbMs = performance.now() - started;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks), ttfbMs }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function parseAdminUrl(value: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // refused below
  }
  throw new ConfigError(`--admin: expected the http(s) URL of the node's admin listener (--admin-port), e.g. http://10.0.0.1:9080, got ${JSON.stringify(value)}.`);
}

type Owner =
  | { readonly member: string; readonly self: boolean; readonly node?: { readonly url: string; readonly worker: number } }
  /** The stats were not there: why, for the report. */
  | { readonly member: undefined; readonly unknown: string };

function describeOwner(owner: Owner): string {
  if (owner.member === undefined) return `unknown: ${owner.unknown}`;
  const asked = owner.self ? 'the node asked' : undefined;
  if (owner.node === undefined) return `${owner.member}${asked ? ` (${asked})` : ''}`;
  return `${owner.member} (worker ${owner.node.worker} of node ${owner.node.url}${asked ? `, ${asked}` : ''})`;
}

/**
 * The key's owner, from the node's own member list (/_hashedge/stats, on the admin listener
 * with --admin) and the same ring code; with --workers, the owner worker and its node.
 * Undefined outside a cluster.
 */
async function ownerOf(url: URL, admin: URL | undefined): Promise<Owner | undefined> {
  const statsUrl = new URL('/_hashedge/stats', admin ?? url);
  try {
    const res = await fetch(statsUrl, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 404 && admin === undefined) {
      return { member: undefined, unknown: `${statsUrl.host} has no /_hashedge/stats (a node with --admin-port serves it there): add --admin http://<host>:<admin port>` };
    }
    if (!res.ok) return { member: undefined, unknown: `${statsUrl.href} answered ${res.status}` };
    const stats = (await res.json()) as {
      cluster?: { self: string; members: Array<{ url: string }>; nodes?: Array<{ url: string; self: boolean; workers: Array<{ url: string; index: number }> }> } | null;
    };
    if (!stats.cluster) return undefined;
    const member = new Ring(stats.cluster.members.map((m) => m.url)).owner(parseAssetPath(url.pathname).key);
    if (member === undefined) return undefined;
    const node = stats.cluster.nodes?.find((n) => n.workers.some((w) => w.url === member));
    if (node === undefined) return { member, self: member === stats.cluster.self };
    return { member, self: node.self, node: { url: node.url, worker: node.workers.find((w) => w.url === member)!.index } };
  } catch (err) {
    return { member: undefined, unknown: `${statsUrl.href}: ${(err as Error).message}` };
  }
}

/**
 * What --verify can check for any name, and what is wrong: the body has the announced length,
 * its SHA-256 is the one the edge stored (the debug header), the strong hashedge ETag is the
 * base64url of it, and a hex hash in the name is a prefix of it (`hashedge upload`'s scheme:
 * webpack's hex `[contenthash]` fails here). A name without a hex hash is information ("no
 * hash in the name to check"), not a failure: most bundlers' hashes are not SHA-256 prefixes.
 */
function verify(url: URL, res: IncomingMessage, body: Buffer): { problems: string[]; checked: string[] } {
  const problems: string[] = [];
  const checked: string[] = [];
  if (res.statusCode !== 200) return { problems: [`status ${res.statusCode} is not a whole 200 response`], checked };
  if (res.headers['content-encoding'] !== undefined) return { problems: ['the body is encoded; verify without Accept-Encoding'], checked };
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length)) {
    if (length !== body.length) problems.push(`received ${body.length} of ${length} bytes`);
    else checked.push(`length ${length}`);
  }
  const sha256 = createHash('sha256').update(body).digest();
  const hex = sha256.toString('hex');
  const stored = res.headers[SHA256_HEADER];
  if (typeof stored === 'string') {
    if (stored !== hex) problems.push(`the body's SHA-256 ${hex.slice(0, 12)}… is not the ${stored.slice(0, 12)}… the edge stored`);
    else checked.push('SHA-256 as stored');
  }
  const etag = res.headers.etag;
  if (etag !== undefined && /^"[A-Za-z0-9_-]{22}"$/.test(etag)) {
    if (etag !== `"${sha256.toString('base64url').slice(0, 22)}"`) problems.push(`the ETag ${etag} is not the body's SHA-256`);
    else checked.push('ETag');
  }
  const name = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  const tokens = name.split(/[.-]/).filter((t) => /^[0-9a-f]{8,64}$/i.test(t) && /[0-9]/.test(t));
  if (tokens.length === 0) checked.push('no hash in the name to check');
  else if (tokens.some((t) => hex.startsWith(t.toLowerCase()))) checked.push('the name\'s hash');
  else problems.push(`the body's SHA-256 ${hex.slice(0, 12)}… does not start with the name's hash (${tokens.join(', ')}; hashedge upload's scheme, which a bundler's own hex hash does not follow)`);
  return { problems, checked };
}
