/**
 * The node:http server of one edge node. Paths under /_hashedge/ go to the Express admin app;
 * every other request takes the asset fast path, which never enters Express.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PEER_PATH } from '../cluster/peers.js';
import type { AddressInfo } from 'node:net';
import type { Group } from '../cache/group.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createAdminApp } from './admin.js';
import { createAssetHandler } from './asset.js';
import { HeaderPolicy } from './headers.js';

export const ADMIN_PREFIX = '/_hashedge';

/** Timeouts of the listening socket. Slow clients cannot hold a connection open forever. */
export const SERVER_TIMEOUTS = {
  /** Idle keep-alive; above common load balancer idle timeouts (60 s) so the LB closes first. */
  keepAliveTimeoutMs: 65_000,
  /** Time to receive a request's headers (slowloris). */
  headersTimeoutMs: 20_000,
  /** Time to receive a whole request. */
  requestTimeoutMs: 30_000,
} as const;

export interface EdgeServerOptions {
  readonly config: Config;
  readonly group: Group;
  /** The owner side of the peer protocol, in a cluster. */
  readonly peerRoute?: (req: IncomingMessage, res: ServerResponse) => void;
  readonly originDescription: string;
  readonly isReady: () => boolean;
  /** Purge broadcast: this node's name and the other members now. */
  readonly purge: { readonly self: () => string; readonly peers: () => readonly string[] };
  readonly log: Logger;
}

export function createEdgeServer(options: EdgeServerOptions): Server {
  const { config, group, log } = options;
  const assets = createAssetHandler({
    group,
    headers: new HeaderPolicy({ corsOrigin: config.corsOrigin, unhashedTtl: config.unhashedTtl }),
    allowUnhashed: config.allowUnhashed,
    negativeTtl: config.negativeTtl,
    log,
  });
  const admin = createAdminApp({
    group,
    originDescription: options.originDescription,
    isReady: options.isReady,
    startedAt: Date.now(),
    purge: { ...options.purge, adminToken: config.adminToken, peerTimeoutMs: config.peerTimeout },
    log,
  });
  const server = createServer(
    {
      keepAliveTimeout: SERVER_TIMEOUTS.keepAliveTimeoutMs,
      headersTimeout: SERVER_TIMEOUTS.headersTimeoutMs,
      requestTimeout: SERVER_TIMEOUTS.requestTimeoutMs,
    },
    (req, res) => {
      const url = req.url ?? '/';
      if (options.peerRoute !== undefined && url.startsWith(PEER_PATH)) {
        options.peerRoute(req, res);
      } else if (url.startsWith(ADMIN_PREFIX) && (url.length === ADMIN_PREFIX.length || url.charCodeAt(ADMIN_PREFIX.length) === 47 /* / */ || url.charCodeAt(ADMIN_PREFIX.length) === 63 /* ? */)) {
        admin(req, res);
      } else {
        assets(req, res);
      }
    },
  );
  return server;
}

export function listenAddress(server: Server): AddressInfo {
  return server.address() as AddressInfo;
}
