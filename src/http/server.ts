/**
 * The node:http servers of one edge node. Paths under /_hashedge/ go to the Express admin app;
 * every other request takes the asset fast path, which never enters Express.
 *
 * One port (the default): that server answers everything. With --admin-port, two servers: the
 * public one answers assets and the two health routes a load balancer checks, and 404 for every
 * other /_hashedge/ path and /metrics; the admin one answers /metrics, /_hashedge/ (status
 * page, stats, purge, health) and the peer route, and no assets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants as h2, type IncomingHttpHeaders as H2Headers, type ServerHttp2Stream } from 'node:http2';
import { PEER_PATH } from '../cluster/peers.js';
import type { AddressInfo } from 'node:net';
import type { ImmutabilityPolicy } from '../asset/immutability.js';
import type { Group } from '../cache/group.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CacheResult, Traffic } from '../stats/traffic.js';
import type { Metrics } from '../stats/metrics.js';
import { createAdminApp } from './admin.js';
import { createAssetHandler, type AssetHandler } from './asset.js';
import { H2Response } from './h2-response.js';
import { HeaderPolicy } from './headers.js';
import { FastLane, type LaneAccess } from './fast-lane/lane.js';
import { H1Response } from './h1-response.js';
import type { AssetRequest, ResponseSink } from './response-plan.js';
import { sendError } from './respond.js';
import { EdgeError } from '../errors.js';

export const ADMIN_PREFIX = '/_hashedge';
/** Prometheus' conventional path (not a content-hashed name, so no asset can have it). */
export const METRICS_PATH = '/metrics';
/** What the public port still answers with --admin-port: a load balancer's health checks. */
export const PUBLIC_HEALTH_PATHS: readonly string[] = ['/_hashedge/health/ready', '/_hashedge/health/live'];

/** Timeouts of the listening socket. Slow clients cannot hold a connection open forever. */
export const SERVER_TIMEOUTS = {
  /** Idle keep-alive; above common load balancer idle timeouts (60 s) so the LB closes first. */
  keepAliveTimeoutMs: 65_000,
  /** Time to receive a request's headers (slowloris). */
  headersTimeoutMs: 20_000,
  /** Time to receive a whole request. */
  requestTimeoutMs: 30_000,
  /**
   * How often node:http looks for connections past the two timeouts above (its own default):
   * a slow client is cut between headersTimeoutMs and headersTimeoutMs + this.
   */
  checkIntervalMs: 30_000,
} as const;

export type ServerTimeouts = { readonly [K in keyof typeof SERVER_TIMEOUTS]: number };

export interface EdgeServerOptions {
  readonly config: Config;
  readonly group: Group;
  /** Decides, per key, whether it is immutable and why. */
  readonly immutability: ImmutabilityPolicy;
  /** Settles once the origin's build manifests were first read. */
  readonly manifestsRead?: Promise<void>;
  /** The owner side of the peer protocol, in a cluster. */
  readonly peerRoute?: (req: IncomingMessage, res: ServerResponse) => void;
  readonly isReady: () => boolean;
  /** Shutdown has started (readiness says so). */
  readonly isStopping?: () => boolean;
  readonly traffic: Traffic;
  /** The /_hashedge/stats answer (stats/snapshot.ts; with --workers, the node's: stats/node-stats.ts). */
  readonly stats: () => Promise<unknown>;
  readonly metrics: Metrics;
  /** Purge broadcast: this node's name and the other members now. */
  readonly purge: { readonly self: () => string; readonly peers: () => readonly string[] };
  /** Where access lines go, when --access-log is on. */
  readonly accessLog?: Logger;
  /** Overrides of SERVER_TIMEOUTS (tests: a slowloris test cannot wait 20 s). @default SERVER_TIMEOUTS */
  readonly timeouts?: Partial<ServerTimeouts>;
  readonly log: Logger;
}

/** The servers of one node: `admin` only with --admin-port (else `server` answers everything). */
export interface EdgeServers {
  /** The public port: assets (and, without --admin-port, everything else). */
  readonly server: Server;
  /** The admin port's server (--admin-port): /metrics, /_hashedge/*, the peer route. */
  readonly admin: Server | undefined;
  /**
   * With --tls-cert: what the TLS listener (tls-listener.ts) hands its connections to. `http1`
   * answers as `server` does, with Strict-Transport-Security when --hsts is set; `onStream`
   * answers HTTP/2 streams for assets.
   */
  readonly tls:
    | {
        readonly http1: Server;
        readonly onStream: (stream: ServerHttp2Stream, headers: H2Headers) => void;
        /** With --h2-lane: the lane's requests (false: not served over HTTP/2). */
        readonly lane?: (req: AssetRequest, res: ResponseSink) => boolean;
      }
    | undefined;
  /** The fast lane in front of the public plain HTTP/1.1 server (--fast-lane), where it could be installed. */
  readonly lane: FastLane | undefined;
}

export function createEdgeServers(options: EdgeServerOptions): EdgeServers {
  const { config, group, log } = options;
  // The plain listener's policy is shared with the fast lane: both send the same prepared heads.
  const plainHeaders = new HeaderPolicy({ corsOrigin: config.corsOrigin, unhashedTtl: config.unhashedTtl });
  const assetHandler = (hsts: number | undefined): AssetHandler => createAssetHandler({
    group,
    headers: hsts === undefined ? plainHeaders : new HeaderPolicy({ corsOrigin: config.corsOrigin, unhashedTtl: config.unhashedTtl, hsts }),
    immutability: options.immutability,
    ...(options.manifestsRead ? { manifestsRead: options.manifestsRead } : {}),
    negativeTtl: config.negativeTtl,
    traffic: options.traffic,
    ...(options.accessLog ? { onResponse: accessLogger(options.accessLog) } : {}),
    log,
  });
  const assets = assetHandler(undefined);
  const admin = createAdminApp({
    group,
    isReady: options.isReady,
    ...(options.isStopping ? { isStopping: options.isStopping } : {}),
    stats: options.stats,
    metrics: options.metrics,
    purge: { ...options.purge, adminToken: config.adminToken, peerTimeoutMs: config.peerTimeout },
    log,
  });
  const timeouts: ServerTimeouts = { ...SERVER_TIMEOUTS, ...options.timeouts };
  const create = (handler: (req: IncomingMessage, res: H1Response) => void): Server =>
    createServer<typeof IncomingMessage, typeof H1Response>(
      {
        ServerResponse: H1Response,
        keepAliveTimeout: timeouts.keepAliveTimeoutMs,
        headersTimeout: timeouts.headersTimeoutMs,
        requestTimeout: timeouts.requestTimeoutMs,
        connectionsCheckingInterval: timeouts.checkIntervalMs,
      },
      handler,
    );
  // Hits of plain GET/HEAD requests answered before node:http parses them (fast-lane/lane.ts).
  const withLane = (server: Server): FastLane | undefined =>
    config.fastLane
      ? FastLane.install(server, {
          group,
          policy: plainHeaders,
          traffic: options.traffic,
          isAssetTarget: (url) => !isMetricsPath(url) && !isAdminPath(url),
          ...(options.accessLog ? { onResponse: laneAccessLogger(options.accessLog) } : {}),
          // Misses: the public server's own asset handler, timed for the access log from here.
          serveMiss: (req, res) => {
            if (options.accessLog !== undefined) requestStarts.set(req, performance.now());
            assets(req, res);
          },
        })
      : undefined;
  const peerRoute = options.peerRoute;
  const isPeer = (url: string) => peerRoute !== undefined && url.startsWith(PEER_PATH);

  /** With --tls-cert: the TLS listener's HTTP/1 server (as the public one) and HTTP/2 streams. */
  const tls = (publicServer: (assets: AssetHandler) => Server): EdgeServers['tls'] => {
    if (config.tlsCert === undefined) return undefined;
    const tlsAssets = config.hsts === undefined ? assets : assetHandler(config.hsts);
    const timed = options.accessLog !== undefined;
    return { http1: publicServer(tlsAssets), onStream: h2Streams(tlsAssets, timed), ...(config.h2Lane ? { lane: h2LaneRequests(tlsAssets, timed) } : {}) };
  };

  if (config.adminPort === undefined) {
    // One port for everything, as before --admin-port existed.
    const publicServer = (assets: AssetHandler) => create((req, res) => {
      if (options.accessLog !== undefined) requestStarts.set(req, performance.now());
      const url = req.url ?? '/';
      if (isPeer(url)) peerRoute!(req, res);
      else if (isMetricsPath(url) || isAdminPath(url)) admin(req, res);
      else assets(req, res);
    });
    const server = publicServer(assets);
    return { server, admin: undefined, tls: tls(publicServer), lane: withLane(server) };
  }
  const publicServer = (assets: AssetHandler) => create((req, res) => {
    if (options.accessLog !== undefined) requestStarts.set(req, performance.now());
    const url = req.url ?? '/';
    if (isAdminPath(url)) {
      if (PUBLIC_HEALTH_PATHS.includes(url.split('?', 1)[0]!)) admin(req, res);
      else notHere(req, res);
    } else if (isMetricsPath(url)) {
      notHere(req, res);
    } else {
      assets(req, res);
    }
  });
  // The admin app answers 404 for anything else, assets included.
  const adminServer = create((req, res) => {
    if (isPeer(req.url ?? '/')) peerRoute!(req, res);
    else admin(req, res);
  });
  const server = publicServer(assets);
  return { server, admin: adminServer, tls: tls(publicServer), lane: withLane(server) };
}

/**
 * HTTP/2 streams: assets only. Everything else (status page, stats, purge, health, /metrics, the
 * peer route) is Express or node:http code that HTTP/2 streams cannot enter, so it is refused
 * with RST_STREAM HTTP_1_1_REQUIRED (RFC 9113 §8.1.1), on which browsers and curl retry the
 * request over HTTP/1.1 on the same TLS port.
 */
function h2Streams(assets: AssetHandler, timed: boolean): (stream: ServerHttp2Stream, headers: H2Headers) => void {
  return (stream, headers) => {
    const url = headers[':path'] ?? '/';
    if (isAdminPath(url) || isMetricsPath(url)) {
      stream.close(h2.NGHTTP2_HTTP_1_1_REQUIRED);
      return;
    }
    const req = { method: headers[':method'], url, headers };
    if (timed) requestStarts.set(req, performance.now());
    assets(req, new H2Response(stream));
  };
}

/** The HTTP/2 lane's requests (h2-lane/): the same split as h2Streams, the refusal left to the lane. */
function h2LaneRequests(assets: AssetHandler, timed: boolean): (req: AssetRequest, res: ResponseSink) => boolean {
  return (req, res) => {
    const url = req.url ?? '/';
    if (isAdminPath(url) || isMetricsPath(url)) return false;
    if (timed) requestStarts.set(req, performance.now());
    assets(req, res);
    return true;
  };
}

function isMetricsPath(url: string): boolean {
  // (as isAdminPath: `url.startsWith(METRICS_PATH + '?')` made a string per request)
  return url.startsWith(METRICS_PATH) && (url.length === METRICS_PATH.length || url.charCodeAt(METRICS_PATH.length) === 63 /* ? */);
}

function isAdminPath(url: string): boolean {
  return url.startsWith(ADMIN_PREFIX) && (url.length === ADMIN_PREFIX.length || url.charCodeAt(ADMIN_PREFIX.length) === 47 /* / */ || url.charCodeAt(ADMIN_PREFIX.length) === 63 /* ? */);
}

/** An admin or peer path asked of the public port with --admin-port: as if it did not exist. */
function notHere(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  sendError(res, new EdgeError('E_NOT_FOUND', 404, 'No such route.', { expose: true }), req.method === 'HEAD');
}

/** One JSON line per asset response, written when its status is decided (like nginx's $upstream_cache_status, with the cache result). */
function accessLogger(log: Logger): (req: AssetRequest, res: ResponseSink, status: number, cache: CacheResult, bytes: number) => void {
  return (req, res, status, cache, bytes) => {
    log.info({
      event: 'access',
      method: req.method,
      path: req.url,
      status,
      cache,
      bytes,
      ms: Math.round((performance.now() - (requestStarts.get(req) ?? performance.now())) * 10) / 10,
      client: res.clientAddress,
      ua: req.headers['user-agent'],
      proto: res.protocol,
    });
  };
}

/** The access line of a hit the fast lane answered: the same fields as accessLogger's. */
function laneAccessLogger(log: Logger): (access: LaneAccess) => void {
  return (a) => {
    log.info({ event: 'access', method: a.method, path: a.path, status: a.status, cache: 'hit', bytes: a.bytes, ms: a.ms, client: a.client, ua: a.ua, proto: 'http/1.1' });
  };
}

/** When each request arrived (only tracked with --access-log). */
const requestStarts = new WeakMap<AssetRequest, number>();

export function listenAddress(server: Server): AddressInfo {
  return server.address() as AddressInfo;
}
