/**
 * hashedge's options: one table that defines every option's flag, env var, default, unit and
 * validation. `--help` and the README's options table are rendered from it (see
 * `renderOptionsMarkdown`, checked by test/docs.test.ts), so they cannot drift apart.
 *
 * Precedence: command-line flag > environment variable `HASHEDGE_<NAME>` > `--config` file > default.
 * The library never reads `process.env` or `process.argv` itself: cli.ts passes them here once.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isIP } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { ConfigError } from './errors.js';
import { PRESETS, splitGlobs, type PresetName } from './asset/immutability.js';
import { parseDuration, parseSize } from './units.js';
import type { LogLevel } from './log.js';
import type { OriginSpec } from './origin/origin.js';

export type { OriginSpec } from './origin/origin.js';

/** `*` (any page may read the assets), `null` (no CORS headers), or an allow-list of origins. */
export type CorsPolicy = '*' | null | readonly string[];

export type { LogLevel } from './log.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  /**
   * The admin listener's port (--admin-port): /metrics, /_hashedge/* and the peer route move
   * there, and the public port serves assets and the two health routes only. Unset: one port
   * serves everything (the default, as before).
   */
  readonly adminPort: number | undefined;
  /** The admin listener's address; --host when not given. */
  readonly adminHost: string;
  readonly origin: OriginSpec;
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string;
  readonly s3ForcePathStyle: boolean;
  /** Bytes the in-memory cache may hold, counting every encoded variant. */
  readonly cacheSize: number;
  /**
   * A directory for the disk tier under the memory cache (one process per directory, locked;
   * with --workers, a sub-directory `worker-<i>` each). Unset: memory only.
   */
  readonly diskCache: string | undefined;
  /** Bytes the disk tier's files may hold (with --workers, each worker gets diskCacheSize / n). @default 10GiB */
  readonly diskCacheSize: number;
  /** Objects larger than this (bytes) stream from origin to client and are never cached. */
  readonly maxObjectSize: number;
  /** Milliseconds the origin may take to answer, and may stay silent between body chunks. */
  readonly originTimeout: number;
  /** Milliseconds an origin 404 is remembered. */
  readonly negativeTtl: number;
  /** Milliseconds a failed load (502/504) is remembered per key and answered again without asking. */
  readonly originErrorTtl: number;
  readonly corsOrigin: CorsPolicy;
  /** Globs (against the key) of keys that are immutable, whatever their name (--immutable). */
  readonly immutable: readonly string[];
  /** Globs of keys that are never immutable; wins over every other evidence (--mutable). */
  readonly mutable: readonly string[];
  /** Framework folders taken as immutable (asset/immutability.ts PRESETS). */
  readonly presets: readonly PresetName[];
  /** Serve keys with no evidence of immutability, cached for `unhashedTtl` ms instead of forever. */
  readonly allowUnhashed: boolean;
  readonly unhashedTtl: number;
  /** Brotli quality (0-11) for variants made once at fill. */
  readonly brotliQuality: number;
  readonly logLevel: LogLevel;
  /** This node's URL as its peers reach it (canonical `http://host:port`); required with --peers. */
  readonly self: string | undefined;
  /** This node's IP, to build `self` from (Kubernetes' pod IP, v4 or v6). */
  readonly selfAddress: string | undefined;
  /** Every node of the cluster (self is added if missing). Empty: a single node. */
  readonly peers: readonly string[];
  /** Bearer token peers present on the peer route; without it only peer addresses may ask. */
  readonly peerSecret: string | undefined;
  /** ms a peer may take to answer before this node loads from the origin itself. */
  readonly peerTimeout: number;
  /** ms between liveness probes of every other member (their up/suspect/down state); 0: none. */
  readonly peerProbeInterval: number;
  /** ms after a membership change during which a new owner's miss first asks the key's previous owner. */
  readonly handoverGrace: number;
  /** DNS name and port whose A/AAAA records are the cluster's nodes (a headless Service). */
  readonly peersDns: { readonly name: string; readonly port: number } | undefined;
  /** ms between re-resolutions of --peers-dns. */
  readonly peersDnsInterval: number;
  /** DNS servers (ip or ip:port) for --peers-dns instead of the system's (/etc/resolv.conf). */
  readonly dnsServers: readonly string[];
  /** Fraction (0-0.5) of cacheSize guaranteed to keys fetched from their owner peer (the hot tier), which may borrow beyond it what the main tier leaves free; 0: none kept. */
  readonly hotCacheShare: number;
  /** Bearer token for admin actions (purge); unset: they are refused. */
  readonly adminToken: string | undefined;
  /** ms between SIGTERM (readiness turns 503) and the listener's close: the lame-duck period. */
  readonly shutdownDelay: number;
  /** ms shutdown waits for requests in flight before it cuts their connections. */
  readonly shutdownTimeout: number;
  /** One JSON line per asset response on stdout. */
  readonly accessLog: boolean;
  /** Refuse bodies whose SHA-256 does not start with the hex hash in their name. */
  readonly verifyNames: boolean;
  /**
   * Answer cache hits of plain HTTP/1.1 GET/HEAD requests before node:http parses them
   * (http/fast-lane/); everything else is handed to node:http. @default true
   */
  readonly fastLane: boolean;
  /**
   * Serve TLS connections that choose HTTP/2 with hashedge's own HTTP/2 connection
   * (http/h2-lane/) instead of node:http2. @default false
   */
  readonly h2Lane: boolean;
  /**
   * Processes serving this node (node:cluster workers sharing --port), each a member of the
   * ring with floor(cacheSize / workers) bytes of cache. 1: one process, no node:cluster.
   * @default 1
   */
  readonly workers: number;
  /** PEM certificate file, chain after it (--tls-cert): with --tls-key, the node speaks TLS with ALPN h2 and http/1.1. */
  readonly tlsCert: string | undefined;
  /** PEM private key file of --tls-cert. */
  readonly tlsKey: string | undefined;
  /** A port for TLS beside plain --port; unset with --tls-cert: --port itself speaks TLS. */
  readonly tlsPort: number | undefined;
  /** ms: Strict-Transport-Security max-age on TLS asset responses; unset: not sent. */
  readonly hsts: number | undefined;
}

/** One command-line flag: how it reads, its default, and the parser user input goes through. */
export interface FlagSpec<Values, K extends keyof Values> {
  readonly key: K;
  /** Flag name without dashes; for serve's options the env var is HASHEDGE_ + its upper snake case. */
  readonly name: string;
  /** Placeholder shown in --help (`<size>`); absent for boolean switches. */
  readonly arg?: string;
  /** Default as a user would type it, parsed by the same parser as user input; undefined: unset. */
  readonly default: string | undefined;
  /** What --help and the README show as the default, when it is not simply `default` (derived from other options). */
  readonly shownDefault?: string;
  readonly description: string;
  /** What a valid value looks like, for the error message. */
  readonly expected: string;
  readonly parse: (text: string) => Values[K] | undefined;
  /** The flag may be given more than once; its values are joined with commas. */
  readonly repeatable?: boolean;
  /** A secret: error messages say what is wrong with it, never what it is. */
  readonly secret?: boolean;
}

/** What an error message may show of a rejected value: secrets only by their length. */
export function shownValue(spec: { readonly secret?: boolean }, text: string): string {
  return spec.secret ? `a value of ${text.length} characters` : JSON.stringify(text);
}

type OptionSpec<K extends keyof Config> = FlagSpec<Config, K>;

const DEFAULT_SAMPLE_ORIGIN = fileURLToPath(new URL('../sample', import.meta.url));

export const parseBoolean = (text: string): boolean | undefined =>
  /^(1|true|yes|on)$/i.test(text) ? true : /^(0|false|no|off)$/i.test(text) ? false : undefined;

export const parseIntIn = (min: number, max: number) => (text: string): number | undefined => {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
};

function parseOrigin(text: string): OriginSpec | undefined {
  if (text.startsWith('s3://')) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
    if (!m) return undefined;
    let prefix = m[2] ?? '';
    if (prefix && !prefix.endsWith('/')) prefix += '/';
    return { kind: 's3', bucket: m[1]!, prefix };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || text.trim() === '') return undefined;
  return { kind: 'disk', root: text };
}

function parseCors(text: string): CorsPolicy | undefined {
  const t = text.trim();
  if (t === '*') return '*';
  if (t === '' || t === 'none' || t === 'off') return null;
  const list = t.split(',').map((s) => s.trim()).filter(Boolean);
  return list.every((o) => /^https?:\/\/[^/\s]+$/.test(o)) ? Object.freeze(list) : undefined;
}

function parseUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? text.replace(/\/+$/, '') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A cluster member's URL in one canonical form, `http://host:port` (URL's origin: lower-case
 * host, IPv6 in brackets and compressed, a default port dropped), so that every node builds
 * its ring from the same strings whatever way each was written.
 */
function parseMemberUrl(text: string): string | undefined {
  try {
    const url = new URL(text.trim());
    const bare = (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
    return (url.protocol === 'http:' || url.protocol === 'https:') && bare ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function parseMemberUrls(text: string): readonly string[] | undefined {
  const urls = text.split(',').map((s) => s.trim()).filter(Boolean).map(parseMemberUrl);
  return urls.every((u) => u !== undefined) ? Object.freeze(urls as string[]) : undefined;
}

/** `http://<address>:<port>`, IPv6 in brackets: what --self-address builds. */
export function memberUrlOf(address: string, port: number): string {
  return `http://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

function parseHostPort(text: string): { name: string; port: number } | undefined {
  const m = /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?):(\d{1,5})$/i.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 ? { name: m[1]!.toLowerCase(), port } : undefined;
}

function parseDnsServers(text: string): readonly string[] | undefined {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  const ok = list.every((s) => {
    const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
    if (bracketed) return isIP(bracketed[1]!) === 6;
    const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(s);
    return (m !== null && isIP(m[1]!) === 4) || isIP(s) === 6;
  });
  return ok ? Object.freeze(list) : undefined;
}

/** Globs like `_next/static/**`, matched against the key (no leading /). */
function parseGlobs(text: string): readonly string[] | undefined {
  const globs = splitGlobs(text).map((g) => g.replace(/^\/+/, ''));
  // A glob that climbs or is empty can match nothing a key can be: a typo, not a rule.
  return globs.every((g) => g !== '' && !g.split('/').includes('..')) ? Object.freeze(globs) : undefined;
}

function parsePresets(text: string): readonly PresetName[] | undefined {
  const t = text.trim();
  if (t === 'none' || t === '') return Object.freeze([]);
  const names = t.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set<string>(PRESETS.map((p) => p.name));
  return names.every((n) => known.has(n)) ? Object.freeze(names as PresetName[]) : undefined;
}

function parseShare(text: string): number | undefined {
  if (!/^(0|0?\.\d+)$/.test(text.trim())) return undefined;
  const n = Number(text);
  return n >= 0 && n <= 0.5 ? n : undefined;
}

/** Most workers a node may run: far above today's core counts, far below the ring's 65535 members. */
export const MAX_WORKERS = 256;

/** `auto`: one worker per core the OS lets this process use; else an integer from 1 to MAX_WORKERS. */
function parseWorkers(text: string): number | undefined {
  return text.trim() === 'auto' ? Math.min(MAX_WORKERS, availableParallelism()) : parseIntIn(1, MAX_WORKERS)(text);
}

function parseFilePath(text: string): string | undefined {
  return text.trim() === '' || text.includes('\0') ? undefined : text;
}

function option<K extends keyof Config>(spec: OptionSpec<K>): OptionSpec<K> {
  return spec;
}

/** The option table. Order is the order of --help and the README. */
export const OPTIONS = [
  option({ key: 'port', name: 'port', arg: '<port>', default: '8080', description: 'TCP port to listen on (0 picks a free one).', expected: 'an integer from 0 to 65535', parse: parseIntIn(0, 65535) }),
  option({ key: 'host', name: 'host', arg: '<address>', default: '0.0.0.0', description: 'Address to listen on.', expected: 'an IPv4 or IPv6 address, or localhost', parse: (t) => (isIP(t) || t === 'localhost' ? t : undefined) }),
  option({ key: 'adminPort', name: 'admin-port', arg: '<port>', default: undefined, description: 'A second listener for /metrics, the status page and stats, purge, the health routes and, in a cluster, the peer route; the public --port then serves assets and /_hashedge/health/{ready,live} only (404 for every other /_hashedge/ path and /metrics). In a cluster, members are named by this port (--self, --peers, --peers-dns). Unset: --port serves everything.', expected: 'an integer from 0 to 65535', parse: parseIntIn(0, 65535) }),
  option({ key: 'adminHost', name: 'admin-host', arg: '<address>', default: undefined, description: 'Address the --admin-port listener binds (default: --host). 127.0.0.1 keeps it to this machine, which a cluster cannot use: its members reach each other there.', expected: 'an IPv4 or IPv6 address, or localhost', parse: (t) => (isIP(t) || t === 'localhost' ? t : undefined) }),
  option({ key: 'origin', name: 'origin', arg: '<dir-or-s3-url>', default: DEFAULT_SAMPLE_ORIGIN, description: 'Where assets live: a directory, or s3://bucket/prefix. The default is the bundled sample origin, except with NODE_ENV=production (as in the Docker image), where it must be given.', expected: 'a directory path or s3://bucket/prefix', parse: parseOrigin }),
  option({ key: 's3Endpoint', name: 's3-endpoint', arg: '<url>', default: undefined, description: 'S3 API endpoint for S3-compatible stores (MinIO, Ceph, R2); AWS when unset. Credentials come from the standard AWS chain.', expected: 'an http(s) URL', parse: parseUrl }),
  option({ key: 's3Region', name: 's3-region', arg: '<region>', default: 'us-east-1', description: 'S3 region.', expected: 'a region name like eu-west-1', parse: (t) => (/^[a-z0-9-]{2,32}$/.test(t) ? t : undefined) }),
  option({ key: 's3ForcePathStyle', name: 's3-force-path-style', default: 'false', description: 'Address the bucket as endpoint/bucket instead of bucket.endpoint (MinIO, Ceph).', expected: 'true or false', parse: parseBoolean }),
  option({ key: 'cacheSize', name: 'cache-size', arg: '<size>', default: '512MiB', description: 'Memory budget of the cache in bytes (units: KB, MB, GB, KiB, MiB, GiB), counting every encoded variant.', expected: 'a size like 512MB or 1GiB', parse: parseSize }),
  option({ key: 'diskCache', name: 'disk-cache', arg: '<dir>', default: undefined, description: 'A directory for a disk tier under the memory cache: objects the node fills are written there behind the request path, survive restarts (the index is rebuilt from file names at start) and are served, SHA-256 verified, when memory lacks them. One process per directory (a lock file); with --workers, each worker uses the sub-directory worker-<i>. Unset: memory only.', expected: 'a directory path', parse: (t) => (t.trim() === '' ? undefined : t) }),
  option({ key: 'diskCacheSize', name: 'disk-cache-size', arg: '<size>', default: '10GiB', description: 'Bytes the --disk-cache files may take on the file system, each counted in whole blocks as du counts it (shared equally by --workers); beyond it objects are evicted (SIEVE).', expected: 'a size like 10GiB', parse: parseSize }),
  option({ key: 'maxObjectSize', name: 'max-object-size', arg: '<size>', default: '32MiB', shownDefault: 'min(32MiB, --cache-size / 4)', description: "Larger objects stream from the origin to the client and are not cached. Unset, it follows --cache-size: 32MiB, or a quarter of --cache-size when that is less (and at most each worker's share with --workers); given, it must not exceed --cache-size.", expected: 'a size like 32MiB', parse: parseSize }),
  option({ key: 'originTimeout', name: 'origin-timeout', arg: '<duration>', default: '10s', description: 'How long the origin may take to answer, and to stay silent mid-body, before the request fails with 504.', expected: 'a duration like 1500ms or 10s', parse: parseDuration }),
  option({ key: 'negativeTtl', name: 'negative-ttl', arg: '<duration>', default: '10s', description: 'How long an origin 404 is remembered (0 disables).', expected: 'a duration like 10s', parse: parseDuration }),
  option({ key: 'originErrorTtl', name: 'origin-error-ttl', arg: '<duration>', default: '1s', description: 'How long a failed load (origin error or timeout, 502/504) is remembered per key and answered again without asking, so a failing origin sees about one request per key per interval, not one per client (0 disables).', expected: 'a duration like 1s', parse: parseDuration }),
  option({ key: 'corsOrigin', name: 'cors-origin', arg: '<origins>', default: '*', description: 'Access-Control-Allow-Origin: * (any page), none, or a comma list of page origins (then echoed with Vary: Origin).', expected: '*, none, or https://a.example,https://b.example', parse: parseCors }),
  option({ key: 'immutable', name: 'immutable', arg: '<globs>', default: '', repeatable: true, description: "Keys matching these globs are immutable whatever their name, e.g. '_next/static/**' (repeatable, or a comma list; * stays in a folder, ** crosses folders). Only --mutable ranks above it.", expected: "globs like '_next/static/**' (no ..)", parse: parseGlobs }),
  option({ key: 'mutable', name: 'mutable', arg: '<globs>', default: '', repeatable: true, description: 'Keys matching these globs are never immutable, whatever else says so (repeatable, or a comma list).', expected: "globs like 'assets/config-*.js' (no ..)", parse: parseGlobs }),
  option({ key: 'presets', name: 'presets', arg: '<names>', default: 'nextjs,sveltekit,astro,nuxt', description: "Framework folders immutable by their framework's documentation: nextjs (_next/static/), sveltekit (_app/immutable/), astro (_astro/), nuxt (_nuxt/ but builds/*), vite (assets/; off by default, a Vite build's manifest does it per file); none for no preset.", expected: 'none, or a comma list of nextjs, sveltekit, astro, nuxt, vite', parse: parsePresets }),
  option({ key: 'allowUnhashed', name: 'allow-unhashed', default: 'false', description: 'Also serve keys with no evidence of immutability (no hash in the name, rule, preset, manifest or origin Cache-Control), with a short max-age (--unhashed-ttl) instead of immutable.', expected: 'true or false', parse: parseBoolean }),
  option({ key: 'unhashedTtl', name: 'unhashed-ttl', arg: '<duration>', default: '60s', description: 'max-age and cache lifetime of keys that are not immutable (with --allow-unhashed).', expected: 'a duration like 60s', parse: parseDuration }),
  option({ key: 'brotliQuality', name: 'brotli-quality', arg: '<0-11>', default: '6', description: 'Brotli quality of the variants made once per fill: 6 is nginx\'s default, 9 is ~2% smaller for 8x the CPU and 6x the memory per job, 11 ~10% smaller for 30x the CPU.', expected: 'an integer from 0 to 11', parse: parseIntIn(0, 11) }),
  option({ key: 'logLevel', name: 'log-level', arg: '<level>', default: 'info', description: 'Structured JSON log level: debug, info, warn, error, silent.', expected: 'debug, info, warn, error or silent', parse: (t) => (['debug', 'info', 'warn', 'error', 'silent'].includes(t) ? (t as LogLevel) : undefined) }),
  option({ key: 'self', name: 'self', arg: '<url>', default: undefined, description: "This node's URL as its peers reach it, e.g. http://10.0.0.1:8080 or http://[fd00::1]:8080; with --peers it must be one of them.", expected: 'an http(s) URL with no path, like http://10.0.0.1:8080', parse: parseMemberUrl }),
  option({ key: 'selfAddress', name: 'self-address', arg: '<ip>', default: undefined, description: "Instead of --self: this node's IP address (v4 or v6, as Kubernetes' status.podIP gives it); --self becomes http://<ip>:<port> (IPv6 in brackets), the port of --peers-dns or else --port.", expected: 'an IPv4 or IPv6 address', parse: (t) => (isIP(t.trim()) ? t.trim() : undefined) }),
  option({ key: 'peers', name: 'peers', arg: '<urls>', default: '', description: 'Comma list of every node URL in the cluster, this node included; each key is loaded once per cluster, by its owner.', expected: 'a comma list of http(s) URLs with no path', parse: parseMemberUrls }),
  option({ key: 'peerSecret', name: 'peer-secret', arg: '<token>', default: undefined, secret: true, description: 'Bearer token for the peer route, 16 or more visible ASCII characters (the same on every node). Without it, only peer addresses may use the route.', expected: 'a token of 16 or more visible ASCII characters', parse: (t) => (/^[\x21-\x7e]{16,}$/.test(t) ? t : undefined) }),
  option({ key: 'peerTimeout', name: 'peer-timeout', arg: '<duration>', default: '2s', description: 'How long an owner may take to answer before this node loads from the origin itself.', expected: 'a duration like 2s', parse: parseDuration }),
  option({ key: 'peerProbeInterval', name: 'peer-probe-interval', arg: '<duration>', default: '2s', description: "How often each other member is probed (its liveness route): a member that fails a probe or a fetch is routed around (suspect, then down) until it answers a probe again; 0 turns probes off (then only a fetch that succeeds brings a member back).", expected: 'a duration like 2s, or 0', parse: parseDuration }),
  option({ key: 'handoverGrace', name: 'handover-grace', arg: '<duration>', default: '5m', description: "After a membership change (a node added or removed), how long a key's new owner first asks its previous owner for a copy before the origin, so scaling out or in does not re-fetch the working set (0 disables).", expected: 'a duration like 5m, or 0', parse: parseDuration }),
  option({ key: 'peersDns', name: 'peers-dns', arg: '<name:port>', default: undefined, description: 'Discover the cluster from a DNS name with one A/AAAA record per node (a Kubernetes headless Service), re-resolved every --peers-dns-interval. Needs --self.', expected: 'a DNS name and port like hashedge-peers.default.svc.cluster.local:8080', parse: parseHostPort }),
  option({ key: 'peersDnsInterval', name: 'peers-dns-interval', arg: '<duration>', default: '10s', description: 'How often --peers-dns is re-resolved; membership changes rebuild the ring without dropping requests.', expected: 'a duration like 10s', parse: parseDuration }),
  option({ key: 'dnsServers', name: 'dns-servers', arg: '<ip[:port],...>', default: '', description: "DNS servers to ask for --peers-dns instead of the system's resolvers.", expected: 'a comma list of IP addresses with optional ports', parse: parseDnsServers }),
  option({ key: 'hotCacheShare', name: 'hot-cache-share', arg: '<fraction>', default: '0.125', description: 'Share of --cache-size (0 to 0.5) guaranteed, in a cluster, to copies of keys owned by other nodes (served locally instead of through the owner); beyond it they may borrow what the main cache leaves free, and give it back first. 0: no copies.', expected: 'a fraction from 0 to 0.5 like 0.125', parse: parseShare }),
  option({ key: 'adminToken', name: 'admin-token', arg: '<token>', default: undefined, secret: true, description: 'Bearer token for admin actions (POST /_hashedge/purge), 16 or more visible ASCII characters. Unset: they are refused.', expected: 'a token of 16 or more visible ASCII characters', parse: (t) => (/^[\x21-\x7e]{16,}$/.test(t) ? t : undefined) }),
  option({ key: 'verifyNames', name: 'verify-names', default: 'false', description: "Refuse (502, not cached) a body whose SHA-256 does not start with the hex hash in its name: for origins filled by hashedge upload, whose names are made that way (bundlers' own hashes would fail). Bodies with a stored SHA-256 (S3 metadata from hashedge upload) are always checked.", expected: 'true or false', parse: parseBoolean }),
  option({ key: 'accessLog', name: 'access-log', default: 'false', description: 'Write one JSON line per asset response to stdout (method, path, status, cache result, bytes, ms, client).', expected: 'true or false', parse: parseBoolean }),
  option({ key: 'fastLane', name: 'fast-lane', arg: '<on|off>', default: 'on', description: 'Answer cache hits of plain HTTP/1.1 GET and HEAD requests (no conditionals, Range or body) with a strict parser of its own before node:http, the same bytes at about twice the rate; misses, and GET/HEAD with Range, If-Range or conditionals, are answered by the asset handler on the lane\'s connection (node:http\'s bytes), and any other request hands its connection to node:http for good (README: The fast lane). off: node:http parses every request.', expected: 'on or off', parse: parseBoolean }),
  option({ key: 'workers', name: 'workers', arg: '<n|auto>', default: '1', description: 'Processes serving this node, sharing --port (node:cluster); auto: one per core. Each is a member of the consistent-hash ring with --cache-size / n of the cache, so a cold key is still loaded once per node (once per cluster with --peers).', expected: `an integer from 1 to ${MAX_WORKERS}, or auto`, parse: parseWorkers }),
  option({ key: 'tlsCert', name: 'tls-cert', arg: '<file>', default: undefined, description: 'PEM certificate (its chain after it). With --tls-key the node speaks TLS, HTTP/2 and HTTP/1.1 chosen by ALPN, on --port (or on --tls-port, --port staying plain). Both files are read again when they change (cert-manager, certbot) and on SIGHUP; open connections keep the old certificate, new ones get the new.', expected: 'a file path', parse: parseFilePath }),
  option({ key: 'tlsKey', name: 'tls-key', arg: '<file>', default: undefined, description: 'PEM private key of --tls-cert.', expected: 'a file path', parse: parseFilePath }),
  option({ key: 'tlsPort', name: 'tls-port', arg: '<port>', default: undefined, description: 'Serve TLS on this port and plain HTTP on --port (e.g. plain for a load balancer, TLS for browsers). Unset: with --tls-cert, --port speaks TLS only.', expected: 'an integer from 0 to 65535', parse: parseIntIn(0, 65535) }),
  option({ key: 'hsts', name: 'hsts', arg: '<duration>', default: undefined, description: 'Send Strict-Transport-Security: max-age=<seconds> on asset responses over TLS (e.g. 8760h, one year); browsers then refuse plain HTTP to this host for that long. Unset: not sent.', expected: 'a duration like 8760h', parse: parseDuration }),
  option({ key: 'h2Lane', name: 'h2-lane', arg: '<on|off>', default: 'on', description: "Serve HTTP/2 (TLS, ALPN h2) with hashedge's own strict HTTP/2 connection instead of node:http2: the same answers and defences, a hit's header block encoded once, one write per read (README: The HTTP/2 lane). off: node:http2 (the escape hatch).", expected: 'on or off', parse: parseBoolean }),
  option({ key: 'shutdownDelay', name: 'shutdown-delay', arg: '<duration>', default: '5s', description: 'On SIGTERM: how long the node keeps serving with /_hashedge/health/ready answering 503, so load balancers stop sending it requests, before it stops accepting connections (0: at once). Set it above your load balancer\'s time to mark a node down.', expected: 'a duration like 5s or 0', parse: parseDuration }),
  option({ key: 'shutdownTimeout', name: 'shutdown-timeout', arg: '<duration>', default: '10s', description: 'On SIGTERM, after --shutdown-delay: how long responses in flight may take to be sent before their connections are cut.', expected: 'a duration like 10s', parse: parseDuration }),
] as const;

export type OptionName = (typeof OPTIONS)[number]['name'];

export function envName(optionName: string): string {
  return 'HASHEDGE_' + optionName.toUpperCase().replace(/-/g, '_');
}

/** Raw values by option name, e.g. from commander: strings, or true for a bare switch. */
export type RawOptions = Readonly<Record<string, string | boolean | undefined>>;

/** Options from a `--config` JSON file, with where they came from (for error messages). */
export interface ConfigFile {
  readonly path: string;
  readonly options: RawOptions;
}

/**
 * Reads a `--config` file: a JSON object keyed by option name (`"cache-size": "1GiB"`), values
 * as strings, numbers, booleans, or arrays for lists (`"peers": ["http://a:8080", ...]`). The
 * values then pass the same parsers as flags. Unknown keys are an error, not ignored: a typo
 * in a config file must not silently fall back to a default.
 */
export function readConfigFile(path: string): ConfigFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError(`--config ${path}: cannot read it as JSON (${reason}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`--config ${path}: expected a JSON object of options.`);
  const known = new Map<string, string>(OPTIONS.map((spec) => [spec.name, spec.name]));
  for (const spec of OPTIONS) known.set(spec.key, spec.name); // camelCase keys too
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const name = known.get(key);
    if (name === undefined) throw new ConfigError(`--config ${path}: unknown option "${key}" (options are named as flags, like "cache-size").`);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) options[name] = value.join(',');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') options[name] = String(value);
    else throw new ConfigError(`--config ${path}: "${key}" must be a string, number, boolean or list of strings.`);
  }
  return { path, options };
}

/**
 * Builds the frozen Config from flags, environment and an optional config file. Throws
 * ConfigError naming the first bad option, where it came from, and what was expected.
 */
export function resolveConfig(flags: RawOptions = {}, env: Readonly<Record<string, string | undefined>> = {}, file?: ConfigFile): Config {
  const out: Record<string, unknown> = {};
  /** Keys no flag, env var or file gave: their defaults. */
  const defaulted = new Set<keyof Config>();
  for (const spec of OPTIONS) {
    const flag = flags[spec.name];
    const fromEnv = env[envName(spec.name)];
    const fromFile = file?.options[spec.name];
    let text: string | undefined;
    let source: string;
    if (flag !== undefined) {
      text = typeof flag === 'boolean' ? String(flag) : flag;
      source = `--${spec.name}`;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      text = fromEnv;
      source = envName(spec.name);
    } else if (fromFile !== undefined) {
      text = String(fromFile);
      source = `"${spec.name}" in ${file!.path}`;
    } else {
      text = spec.default;
      source = `default of --${spec.name}`;
      defaulted.add(spec.key);
    }
    if (text === undefined) {
      out[spec.key] = undefined;
      continue;
    }
    const value = (spec.parse as (t: string) => unknown)(text);
    if (value === undefined) {
      throw new ConfigError(`${source}: expected ${spec.expected}, got ${shownValue(spec, text)}.`);
    }
    out[spec.key] = value;
  }
  out['adminHost'] ??= out['host'];
  if (out['selfAddress'] !== undefined) {
    if (out['self'] !== undefined) throw new ConfigError('--self and --self-address: give one, not both.');
    const dns = out['peersDns'] as Config['peersDns'];
    out['self'] = memberUrlOf(out['selfAddress'] as string, dns?.port ?? (out['adminPort'] as number | undefined) ?? (out['port'] as number));
  }
  // The bundled sample is for trying hashedge out (npm start); a production node (the Docker
  // image sets NODE_ENV=production) serving demo files and reporting ready is a misconfiguration.
  if (defaulted.has('origin') && env['NODE_ENV'] === 'production') {
    throw new ConfigError(`--origin: required when NODE_ENV=production (as in the Docker image): give --origin, ${envName('origin')} or "origin" in the --config file. Only outside production does it default to the bundled sample origin.`);
  }
  if (defaulted.has('maxObjectSize')) {
    // Unset, it follows the cache: a small --cache-size alone is a valid configuration.
    const cacheSize = out['cacheSize'] as number;
    const share = Math.floor(cacheSize / (out['workers'] as number));
    out['maxObjectSize'] = Math.min(out['maxObjectSize'] as number, Math.floor(cacheSize / 4), share);
  }
  const config = out as unknown as Config;
  if (config.maxObjectSize > config.cacheSize) {
    throw new ConfigError(`--max-object-size (${config.maxObjectSize} bytes) must not exceed --cache-size (${config.cacheSize} bytes): lower --max-object-size, raise --cache-size, or leave --max-object-size unset (it then follows --cache-size).`);
  }
  if (config.cacheSize < 1024 * 1024) {
    throw new ConfigError(`--cache-size: expected at least 1MiB, got ${config.cacheSize} bytes.`);
  }
  if (config.diskCache !== undefined && config.diskCacheSize < 1024 * 1024 * config.workers) {
    throw new ConfigError(`--disk-cache-size: expected at least 1MiB per worker, got ${config.diskCacheSize} bytes for ${config.workers}.`);
  }
  if (config.originTimeout <= 0) throw new ConfigError('--origin-timeout: expected a duration above 0.');
  if (config.peerTimeout <= 0) throw new ConfigError('--peer-timeout: expected a duration above 0.');
  if (config.peers.length > 0 && config.self === undefined) {
    throw new ConfigError('--self: required with --peers, so the node knows which member it is.');
  }
  // A node missing from its own list would build a ring the others do not share.
  if (config.peers.length > 0 && config.self !== undefined && !config.peers.includes(config.self)) {
    throw new ConfigError(`--self ${config.self} is not one of --peers (${config.peers.join(', ')}): list every node in --peers, this one included, written the same way on every node.`);
  }
  if (config.peersDns !== undefined && config.self === undefined) {
    throw new ConfigError('--self: required with --peers-dns, so the node knows which member it is.');
  }
  if (config.peersDns !== undefined && config.peers.length > 0) {
    throw new ConfigError('--peers and --peers-dns: give one way to find the cluster, not both.');
  }
  if (config.peersDns !== undefined && config.self !== undefined) {
    // Members found by DNS are http://<address>:<port>: self must have that form to be one.
    const self = new URL(config.self);
    const port = Number(self.port || (self.protocol === 'https:' ? 443 : 80));
    if (!isIP(self.hostname.replace(/^\[|\]$/g, '')) || port !== config.peersDns.port) {
      throw new ConfigError(`--self: with --peers-dns, expected http://<this node's IP>:${config.peersDns.port} (as the DNS records give it; in Kubernetes the pod IP), got ${JSON.stringify(config.self)}.`);
    }
  }
  if (config.adminPort !== undefined && config.adminPort !== 0 && config.adminPort === config.port) {
    throw new ConfigError(`--admin-port ${config.adminPort} is --port: give the admin listener a port of its own.`);
  }
  if (config.adminPort !== undefined && config.adminPort !== 0 && config.self !== undefined) {
    // Members reach each other on the admin listener (the peer route, probes, purge): a node is
    // named by its admin URL. A public URL here would make every peer request a 404.
    const port = Number(new URL(config.self).port || (config.self.startsWith('https:') ? 443 : 80));
    if (port !== config.adminPort) {
      throw new ConfigError(`--self ${config.self}: with --admin-port, members are named by their admin URL (the peer route is there), so expected port ${config.adminPort}; name every member in --peers or --peers-dns by its admin port too.`);
    }
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(`--tls-cert and --tls-key: give both (the certificate and its key), or neither.`);
  }
  if (config.tlsCert === undefined && (config.tlsPort !== undefined || config.hsts !== undefined)) {
    throw new ConfigError(`--${config.tlsPort !== undefined ? 'tls-port' : 'hsts'}: needs --tls-cert and --tls-key.`);
  }
  if (config.tlsCert !== undefined && config.tlsPort === undefined && config.adminPort === undefined && (config.peers.length > 0 || config.peersDns !== undefined)) {
    // Members reach each other over plain HTTP (the peer route, probes, purge).
    throw new ConfigError('--tls-cert in a cluster: members speak plain HTTP to each other, so keep a plain port for them: add --tls-port (TLS there, --port plain) or --admin-port (members are named by it).');
  }
  if (config.tlsPort !== undefined && config.tlsPort !== 0 && (config.tlsPort === config.port || config.tlsPort === config.adminPort)) {
    throw new ConfigError(`--tls-port ${config.tlsPort} is also --${config.tlsPort === config.port ? 'port' : 'admin-port'}: give TLS a port of its own.`);
  }
  if (config.peersDnsInterval < 1000) throw new ConfigError('--peers-dns-interval: expected at least 1s.');
  if (config.workers > 1) checkWorkers(config);
  return Object.freeze(config);
}

/** What --workers > 1 needs of the other options: a cache share per worker, and free peer ports. */
function checkWorkers(config: Config): void {
  const share = Math.floor(config.cacheSize / config.workers);
  if (share < 1024 * 1024 || share < config.maxObjectSize) {
    throw new ConfigError(`--cache-size ${config.cacheSize} bytes shared by --workers ${config.workers} gives ${share} bytes each, below 1MiB or --max-object-size (${config.maxObjectSize} bytes): raise --cache-size or lower --workers.`);
  }
  if (config.self !== undefined) {
    // In a cluster, worker i of node http://h:p is the member http://h:(p+1+i) (see cluster/members.ts).
    const self = new URL(config.self);
    const port = Number(self.port || (self.protocol === 'https:' ? 443 : 80));
    if (port + config.workers > 65535) throw new ConfigError(`--workers ${config.workers} with --self ${config.self}: worker peer ports ${port + 1}-${port + config.workers} exceed 65535.`);
    if (config.adminPort !== undefined && config.port > port && config.port <= port + config.workers) {
      throw new ConfigError(`--workers ${config.workers} with --self ${config.self}: worker peer ports ${port + 1}-${port + config.workers} include --port ${config.port}.`);
    }
  }
}

/** The README's options table, rendered from OPTIONS (the README embeds it verbatim). */
export function renderOptionsMarkdown(): string {
  const rows = OPTIONS.map((spec) => {
    // A `|` inside a table cell, even in code, must be escaped (GitHub still shows it unescaped in code).
    const flag = `\`--${spec.name}${spec.arg ? ' ' + spec.arg.replace(/\|/g, '\\|') : ''}\``;
    const def = spec.default === undefined ? '' : spec.key === 'origin' ? 'bundled `sample/`' : 'shownDefault' in spec ? `\`${spec.shownDefault}\`` : spec.default === '' ? 'none' : `\`${spec.default}\``;
    return `| ${flag} | \`${envName(spec.name)}\` | ${def} | ${spec.description} |`;
  });
  return ['| flag | env | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The machine's memory as this process may use it: os.totalmem(), or the cgroup v2 limit when lower. */
export function memoryLimit(readCgroupMax: () => string = () => readFileSync('/sys/fs/cgroup/memory.max', 'utf8')): { readonly bytes: number; readonly source: string } {
  const total = { bytes: totalmem(), source: "the machine's memory" };
  let text: string;
  try {
    text = readCgroupMax().trim();
  } catch {
    return total; // no cgroup v2 (macOS, cgroup v1): the machine's memory
  }
  const limit = /^\d+$/.test(text) ? Number(text) : undefined; // "max": no limit
  return limit !== undefined && limit < total.bytes ? { bytes: limit, source: 'the cgroup memory limit (/sys/fs/cgroup/memory.max)' } : total;
}

/** A warning when --cache-size is more than the memory the process may have: it is not refused (swap, overcommit), but will not fit. */
export function cacheSizeWarning(config: Pick<Config, 'cacheSize'>, memory: { readonly bytes: number; readonly source: string } = memoryLimit()): string | undefined {
  if (config.cacheSize <= memory.bytes) return undefined;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)}MiB`;
  return `--cache-size ${mib(config.cacheSize)} is more than ${memory.source}, ${mib(memory.bytes)}: the process will be killed or swap before the cache is full. Set --cache-size well below it (Node needs ~100MiB more; see Memory in the README).`;
}

/** Every HASHEDGE_* variable hashedge reads: the options', and HASHEDGE_CONFIG. */
export const ENV_NAMES: readonly string[] = Object.freeze([...OPTIONS.map((spec) => envName(spec.name)), 'HASHEDGE_CONFIG']);

/**
 * Warnings for HASHEDGE_* variables that are no option (a typo such as HASHEDGE_ORIGN would
 * otherwise leave the option at its default without a word), each naming the closest option
 * by edit distance when one is close.
 */
export function unknownEnvWarnings(env: Readonly<Record<string, string | undefined>>, known: readonly string[] = ENV_NAMES): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('HASHEDGE_') || known.includes(name)) continue;
    let closest: string | undefined;
    let best = Infinity;
    for (const candidate of known) {
      const d = editDistance(name.slice('HASHEDGE_'.length), candidate.slice('HASHEDGE_'.length));
      if (d < best) [closest, best] = [candidate, d];
    }
    const suffix = name.length - 'HASHEDGE_'.length;
    const close = closest !== undefined && best <= Math.max(2, Math.floor(suffix / 3));
    const flag = close && closest !== 'HASHEDGE_CONFIG' ? ` (--${closest!.slice('HASHEDGE_'.length).toLowerCase().replace(/_/g, '-')})` : '';
    warnings.push(`${name} is not a hashedge option and is ignored${close ? `: did you mean ${closest}${flag}?` : '.'}`);
  }
  return warnings;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
