/**
 * One edge node, assembled: origin -> group -> HTTP server, listening. The library entry point
 * that `hashedge serve` and the tests use.
 */
import type { Server } from 'node:http';
import { ImmutabilityPolicy } from './asset/immutability.js';
import { ManifestEvidence } from './asset/manifest-evidence.js';
import { Group } from './cache/group.js';
import { DiskTier, type WriteFile } from './cache/disk/tier.js';
import type { Config } from './config.js';
import { createEdgeServers, listenAddress, SERVER_TIMEOUTS, type ServerTimeouts } from './http/server.js';
import { trackConnections } from './http/drain.js';
import { TlsCredentials } from './http/tls.js';
import { createTlsListener, type H2Limits, type TlsListener } from './http/tls-listener.js';
import { createLogger, silentLogger, type Logger } from './log.js';
import { createOrigin } from './origin/create.js';
import type { Origin } from './origin/origin.js';
import { getWithTimeout } from './origin/timeout.js';
import { Cluster } from './cluster/cluster.js';
import { createPeerRoute } from './http/peer-route.js';
import { History } from './stats/history.js';
import { Traffic } from './stats/traffic.js';
import { Metrics } from './stats/metrics.js';
import { takeSnapshot, type StatsSnapshot, type WorkerIdentity } from './stats/snapshot.js';
import { groupByNode, type NodeMembers } from './cluster/members.js';

/** Interval between readiness probes of the origin until it first answers. */
const READY_PROBE_INTERVAL_MS = 2_000;
/** A key no asset has (keys cannot start with a dot), so a probe never fills the cache. */
const READY_PROBE_KEY = '.hashedge-readiness-probe';

export interface Edge {
  /** Base URL, e.g. http://127.0.0.1:8080 (https:// with --tls-cert and no --tls-port) */
  readonly url: string;
  readonly port: number;
  /** The HTTP/1 server of --port (with TLS on --port: the one TLS connections without h2 are handed to). */
  readonly server: Server;
  /** The TLS listener's base URL (https://): --port's, or --tls-port's; undefined without --tls-cert. */
  readonly tlsUrl: string | undefined;
  readonly tlsPort: number | undefined;
  /** The certificate in use, re-read on file changes and reloadTls() (emits `reload`, `reload-failed`). */
  readonly tls: TlsCredentials | undefined;
  /** Reads --tls-cert and --tls-key again now (SIGHUP); false if they do not load (the old pair stays). */
  reloadTls(): boolean;
  /**
   * The admin listener's base URL with --admin-port (/metrics, /_hashedge/*, the peer route);
   * undefined without it (then `url` serves those too).
   */
  readonly adminUrl: string | undefined;
  readonly adminPort: number | undefined;
  /** The admin listener's server with --admin-port. */
  readonly adminServer: Server | undefined;
  readonly group: Group;
  /** What the origin's build manifests list as immutable (re-read every 30 s). */
  readonly manifests: ManifestEvidence;
  readonly traffic: Traffic;
  readonly metrics: Metrics;
  readonly origin: Origin;
  /** Membership and ring, when the node is part of a cluster (--peers or --peers-dns). */
  readonly cluster: Cluster | undefined;
  /** This process's own figures (what /_hashedge/stats answers without --workers); `topKeys` @default 10 */
  snapshot(topKeys?: number): StatsSnapshot;
  /** The origin has answered and the node is not shutting down (readiness). */
  isReady(): boolean;
  /**
   * Graceful shutdown as on SIGTERM: readiness turns 503 at once while the node keeps serving
   * for --shutdown-delay (so load balancers stop sending it requests), then close().
   */
  shutdown(): Promise<void>;
  /**
   * Readiness 503, then stops accepting, lets every response in flight be sent (bounded by
   * --shutdown-timeout, then cut), releases the origin. No lame-duck period (and it ends one
   * that shutdown() started): see shutdown().
   */
  close(): Promise<void>;
}

export interface EdgeDependencies {
  readonly log?: Logger;
  /** An origin to use instead of the one the config names (tests: slow, failing, counting). */
  readonly origin?: Origin;
  /** Where --access-log lines go. @default JSON lines on stdout */
  readonly accessLog?: Logger;
  /** Overrides of the listening socket's timeouts (tests: slowloris in milliseconds). @default SERVER_TIMEOUTS */
  readonly serverTimeouts?: Partial<ServerTimeouts>;
  /** This worker, in a node with --workers > 1 (shown by /_hashedge/stats). */
  readonly worker?: WorkerIdentity;
  /** The /metrics text instead of this process's registry (a worker: the whole node's). */
  readonly scrapeMetrics?: () => Promise<string>;
  /** The /_hashedge/stats answer instead of this process's snapshot (a worker: the whole node's). */
  readonly nodeStats?: () => Promise<unknown>;
  /** Ring members -> the nodes they belong to (a worker: workers' members under their node). */
  readonly groupNodes?: (members: readonly string[]) => NodeMembers[];
  /** How the disk tier writes a file (tests: one that fails with ENOSPC). @default node:fs */
  readonly diskWriteFile?: WriteFile;
  /** Overrides of the HTTP/2 limits (tests: a small stream limit). @default H2_LIMITS */
  readonly h2Limits?: Partial<H2Limits>;
}

export async function startEdge(config: Config, deps: EdgeDependencies = {}): Promise<Edge> {
  const log = deps.log ?? silentLogger;
  // Read first: a certificate that does not load stops the start-up before anything runs.
  const tls = config.tlsCert !== undefined ? new TlsCredentials({ certFile: config.tlsCert, keyFile: config.tlsKey!, log }) : undefined;
  const origin = deps.origin ?? (await createOrigin(config));
  const clustered = config.peers.length > 0 || config.peersDns !== undefined;
  // Opened first: a directory another process holds refuses the start before anything listens.
  const disk = config.diskCache === undefined ? undefined : await DiskTier.open({ dir: config.diskCache, budgetBytes: config.diskCacheSize, maxObjectBytes: config.maxObjectSize, log, ...(deps.diskWriteFile ? { writeFile: deps.diskWriteFile } : {}) });
  const cluster = clustered ? await Cluster.join(config, log) : undefined;
  let metrics: Metrics | undefined;
  // Read from the origin itself, never through peers; requests wait for the first read only
  // for keys nothing else vouches for.
  const manifests = new ManifestEvidence({ origin, timeoutMs: config.originTimeout, log });
  manifests.start();
  const immutability = new ImmutabilityPolicy({
    immutable: config.immutable, mutable: config.mutable, presets: config.presets, manifests,
    allowUnhashed: config.allowUnhashed, originStoresCacheControl: origin.storesCacheControl ?? false,
  });
  const group = new Group({
    onFetch: (source, result, seconds) => metrics?.observeFetch(source, result, seconds),
    ...(cluster ? { peers: cluster.picker } : {}),
    origin,
    cacheSize: config.cacheSize,
    hotCacheSize: cluster ? Math.floor(config.cacheSize * config.hotCacheShare) : 0,
    maxObjectSize: config.maxObjectSize,
    originTimeout: config.originTimeout,
    negativeTtl: config.negativeTtl,
    errorTtl: config.originErrorTtl,
    unhashedTtl: config.unhashedTtl,
    serveMutable: config.allowUnhashed,
    brotliQuality: config.brotliQuality,
    verifyNames: config.verifyNames,
    log,
    ...(disk ? { disk } : {}),
  });

  let ready = false;
  /** Set once shutdown starts: readiness answers 503 from then on. */
  let stopping = false;
  const isReady = () => ready && !stopping;
  let probeTimer: NodeJS.Timeout | undefined;
  const probe = async () => {
    try {
      const object = await getWithTimeout(origin, READY_PROBE_KEY, { timeoutMs: config.originTimeout });
      object?.body.destroy();
      ready = true;
      log.info({ event: 'origin_ready', origin: origin.description });
    } catch (err) {
      log.warn({ event: 'origin_unready', origin: origin.description, err: String((err as Error).message ?? err) });
      probeTimer = setTimeout(probe, READY_PROBE_INTERVAL_MS);
      probeTimer.unref();
    }
  };
  void probe();

  const peerRoute = cluster ? createPeerRoute({ group, auth: cluster.auth, immutability, log }) : undefined;
  let url = '';
  const purge = { self: () => cluster?.self ?? url, peers: () => cluster?.members ?? [] };
  const accessLog = config.accessLog ? (deps.accessLog ?? createLogger('info', process.stdout)) : undefined;
  const traffic = new Traffic();
  const history = new History({ read: () => ({ requests: traffic.requests, bytesSent: traffic.bytesSent, hit: traffic.toJSON().byCache.hit, originErrors: group.stats.originErrors }) });
  history.start();
  const clusterStatus = () => {
    if (cluster === undefined) return null;
    const members = cluster.status();
    const { groupNodes } = deps;
    return { self: cluster.self, members, ...(groupNodes ? { nodes: groupByNode(members, groupNodes(members.map((m) => m.url))) } : {}) };
  };
  metrics = new Metrics({ group, traffic, clusterStatus, isReady, ...(deps.scrapeMetrics ? { scrape: deps.scrapeMetrics } : {}) });
  const startedAt = Date.now();
  const snapshot = (topKeys?: number) =>
    takeSnapshot({ node: purge.self, worker: deps.worker, originDescription: origin.description, startedAt, isReady, group, traffic, history, clusterStatus }, topKeys);
  const stats = deps.nodeStats ?? (async () => snapshot());
  const { server, admin: adminServer, tls: tlsServers, lane } = createEdgeServers({ config, group, immutability, manifestsRead: manifests.firstRead, ...(peerRoute ? { peerRoute } : {}), isReady, isStopping: () => stopping, traffic, stats, metrics, purge, log, ...(accessLog ? { accessLog } : {}), ...(deps.serverTimeouts ? { timeouts: deps.serverTimeouts } : {}) });
  const listen = (srv: Server, port: number, host: string) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  const timeouts = { ...SERVER_TIMEOUTS, ...deps.serverTimeouts };
  const tlsListener: TlsListener | undefined = tls === undefined || tlsServers === undefined ? undefined : createTlsListener({
    credentials: tls,
    ...tlsServers,
    idleTimeoutMs: timeouts.keepAliveTimeoutMs,
    handshakeTimeoutMs: timeouts.headersTimeoutMs,
    ...(deps.h2Limits ? { limits: deps.h2Limits } : {}),
    log,
  });
  // With --tls-cert and no --tls-port, --port speaks TLS and the plain server listens nowhere.
  const plainListens = tlsListener === undefined || config.tlsPort !== undefined;
  const started: Array<{ close(): unknown }> = [];
  try {
    if (plainListens) {
      await listen(server, config.port, config.host);
      started.push(server);
    }
    if (tlsListener !== undefined) {
      await tlsListener.listen(config.tlsPort ?? config.port, config.host);
      started.push(tlsListener.server);
    }
    if (adminServer !== undefined) await listen(adminServer, config.adminPort!, config.adminHost);
  } catch (err) {
    for (const one of started) one.close();
    throw err;
  }
  tls?.watch();
  const tlsPort = tlsListener?.address().port;
  const port = plainListens ? listenAddress(server).port : tlsPort!;
  const hostOf = (address: string) => (address === '0.0.0.0' || address === '::' ? 'localhost' : address.includes(':') ? `[${address}]` : address);
  const adminPort = adminServer === undefined ? undefined : listenAddress(adminServer).port;
  const adminUrl = adminPort === undefined ? undefined : `http://${hostOf(config.adminHost)}:${adminPort}`;

  const connections = trackConnections(server, lane);
  const adminConnections = adminServer === undefined ? undefined : trackConnections(adminServer);

  let closing: Promise<void> | undefined;
  let shuttingDown: Promise<void> | undefined;
  let lameDuck: { timer: NodeJS.Timeout; end: () => void } | undefined;
  const tlsUrl = tlsPort === undefined ? undefined : `https://${hostOf(config.host)}:${tlsPort}`;
  url = plainListens ? `http://${hostOf(config.host)}:${port}` : tlsUrl!;
  const close = () => {
    stopping = true;
    if (lameDuck !== undefined) {
      clearTimeout(lameDuck.timer);
      lameDuck.end(); // close() during the lame-duck period ends it
    }
    closing ??= (async () => {
      clearTimeout(probeTimer);
      manifests.stop();
      history.stop();
      log.info({ event: 'draining', timeoutMs: config.shutdownTimeout });
      // Both listeners drain alike: a peer's or a scrape's response in flight is sent too.
      tls?.close();
      // HTTP/2 sessions get GOAWAY and finish their streams.
      const drained = Promise.all([connections.drain(), adminConnections?.drain(), tlsListener?.drain()]);
      const grace = setTimeout(() => {
        log.warn({ event: 'shutdown_cut', connections: connections.open() + (adminConnections?.open() ?? 0) + (tlsListener?.open() ?? 0) });
        connections.cut();
        adminConnections?.cut();
        tlsListener?.cut();
      }, config.shutdownTimeout);
      await drained;
      clearTimeout(grace);
      await cluster?.close();
      await origin.close();
      // What is queued is written, and the directory's lock given up, for the next start.
      await disk?.close();
    })();
    return closing;
  };
  return {
    url,
    port,
    server,
    tlsUrl,
    tlsPort,
    tls,
    reloadTls: () => tls?.reload() ?? false,
    adminUrl,
    adminPort,
    adminServer,
    group,
    manifests,
    traffic,
    metrics,
    origin,
    cluster,
    snapshot,
    isReady,
    shutdown() {
      stopping = true;
      shuttingDown ??= new Promise<void>((end) => {
        if (closing !== undefined) return end();
        log.info({ event: 'lame_duck', delayMs: config.shutdownDelay });
        lameDuck = { timer: setTimeout(end, config.shutdownDelay), end };
      }).then(close);
      return shuttingDown;
    },
    close,
  };
}
