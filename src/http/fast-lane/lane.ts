/**
 * The fast lane: a plain HTTP/1.1 listener's connections are accepted here instead of by
 * node:http; cache hits of the one common request shape (a GET/HEAD of an asset with no
 * conditional or Range: head-parser.ts) are answered directly. The other requests the parser
 * accepts (a miss, a GET/HEAD with Range, If-Range or a conditional, cached or not, and an
 * OPTIONS, a CORS preflight or not) are held: node:http's own asset handler answers them and
 * the lane writes its plan in node:http's bytes (miss-response.ts), so a browser's
 * revalidation, a media player's Range or a cross-origin page's preflight does not cost the
 * connection. A target node:http would not give the asset handler (admin, /metrics, the peer
 * route: `isAssetTarget`) is handed over, whatever the method. At the first request that is
 * anything else the connection is handed to node:http for good (handover.ts). node:http's
 * per-request objects (IncomingMessage, ServerResponse, header objects, llhttp callbacks) were
 * most of a small hit's cost (bench/RESULTS.md); the lane answers such a hit with a parse of a
 * few hundred bytes and one write.
 *
 * What counts is counted the same: traffic counters, top keys, the access log, Cache-Status,
 * Age; its connections are drained on shutdown like node:http's (drain.ts asks `owns` and
 * `settle`), and its timeouts are the server's own (keepAliveTimeout, headersTimeout,
 * requestTimeout, connectionsCheckingInterval), read from the server it is installed on.
 */
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseAssetPath } from '../../asset/key.js';
import type { Group } from '../../cache/group.js';
import type { Traffic } from '../../stats/traffic.js';
import type { HeaderPolicy } from '../headers.js';
import { chooseRepresentation } from '../negotiate.js';
import type { AssetRequest, ResponseSink } from '../response-plan.js';
import { LaneConnection, type LaneHost } from './connection.js';
import { handOver, handOverAtEnd, type ConnectionListener } from './handover.js';
import type { LaneRequest } from './head-parser.js';
import { HandleWriter, StreamOutput, type HitOutput } from './handle-writer.js';
import { HitWriter, keepAliveLines } from './hit-writer.js';
import type { CloseMode, MissResponse } from './miss-response.js';
import { ReadBuffer } from './read-buffer.js';

/**
 * The event the server emits (with the AssetRequest) when the lane takes a request it hands to
 * the asset handler (a miss, a conditional, a Range, an OPTIONS), as node:http emits 'request' for the
 * requests it parses.
 */
export const LANE_REQUEST = 'hashedge:lane-request';

/** One hit the lane answered, for the access log. */
export interface LaneAccess {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  /** ms from the head read to the response written. */
  readonly ms: number;
  readonly client: string | undefined;
  readonly ua: string | undefined;
}

export interface FastLaneOptions {
  readonly group: Group;
  /** The same policy as the asset handler's, so both send the same prepared heads. */
  readonly policy: HeaderPolicy;
  readonly traffic: Traffic;
  /** Whether node:http would send this target to the asset handler (not admin, /metrics, the peer route). */
  readonly isAssetTarget: (target: string) => boolean;
  /** Told of each hit the lane answers (the access log). */
  readonly onResponse?: (access: LaneAccess) => void;
  /**
   * node:http's asset handler (the same function, counters and access log), for the requests the
   * lane takes but does not answer from memory itself (misses, requests with Range, If-Range
   * or a conditional, and OPTIONS): the lane holds the connection and writes the answer as node:http would
   * (miss-response.ts). Without it, such a request hands the connection over.
   */
  readonly serveMiss?: (req: AssetRequest, res: ResponseSink) => void;
  readonly clock?: () => number;
}

export class FastLane implements LaneHost {
  readonly wantUserAgent: boolean;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveLines: string;
  readonly clock: () => number;
  readonly #server: Server;
  readonly #nodeListener: ConnectionListener;
  readonly #options: FastLaneOptions;
  readonly #writer: HitWriter;
  readonly #connections = new Map<Socket, LaneConnection>();
  readonly #checker: NodeJS.Timeout;
  /** One buffer every connection reads into (read-buffer.ts); undefined where Node has not the shape. */
  #reads: ReadBuffer | undefined;
  /** Where hits are written: the socket's handle (handle-writer.ts), or its stream where Node has not the shape. */
  #output: HitOutput;
  #probed = false;

  /**
   * Puts the lane in front of `server`'s own connection handling. Undefined where it cannot be:
   * node:http's 'connection' listener is not the only one, a response limit that node:http
   * counts per connection is set, or the CORS policy is an allow-list (hits then depend on
   * the request's Origin, which only asset.ts handles).
   */
  static install(server: Server, options: FastLaneOptions): FastLane | undefined {
    const listeners = server.listeners('connection');
    if (listeners.length !== 1 || (server.maxRequestsPerSocket ?? 0) > 0 || options.policy.corsPerRequest) return undefined;
    return new FastLane(server, listeners[0] as ConnectionListener, options);
  }

  private constructor(server: Server, nodeListener: ConnectionListener, options: FastLaneOptions) {
    this.#server = server;
    this.#nodeListener = nodeListener;
    this.#options = options;
    this.clock = options.clock ?? Date.now;
    this.wantUserAgent = options.onResponse !== undefined;
    this.keepAliveTimeoutMs = server.keepAliveTimeout;
    this.keepAliveLines = keepAliveLines(server.keepAliveTimeout);
    this.#writer = new HitWriter({ policy: options.policy, keepAliveTimeoutMs: server.keepAliveTimeout });
    this.#output = new StreamOutput(options.traffic);
    server.removeListener('connection', nodeListener);
    server.on('connection', (socket: Socket) => {
      if (!this.#probed) {
        // The first accepted socket shows whether this Node has what read-buffer.ts and handle-writer.ts rely on.
        this.#probed = true;
        this.#reads = ReadBuffer.open(socket);
        this.#output = HandleWriter.open(socket, options.traffic) ?? this.#output;
      }
      const connection = new LaneConnection(socket, this);
      if (connection.ownReads) options.traffic.laneReadsBuffer++;
      else options.traffic.laneReadsStream++;
      this.#connections.set(socket, connection);
    });
    // node:http's slowloris check, for the heads the lane is receiving.
    const interval = (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval ?? 30_000;
    this.#checker = setInterval(() => this.#checkTimeouts(), interval).unref();
    server.once('close', () => clearInterval(this.#checker));
  }

  /** Whether the lane owns this connection now (not handed over, not closed). */
  owns(socket: Socket): boolean {
    return this.#connections.has(socket);
  }

  /** Shutdown: the connection ends once what it owes is sent (LaneConnection.settle). */
  settle(socket: Socket): void {
    this.#connections.get(socket)?.settle();
  }

  get reads(): ReadBuffer | undefined {
    return this.#reads;
  }

  /** Connections the lane owns now. */
  get size(): number {
    return this.#connections.size;
  }

  route(req: LaneRequest): string | undefined {
    if (!this.#options.isAssetTarget(req.target)) return undefined;
    try {
      return parseAssetPath(req.target).key;
    } catch {
      // An OPTIONS is answered whatever its path (asset.ts plans it before reading the key), and
      // never from the cache: held with no key. (Here, not first: a hit's way pays no test for it.)
      if (req.method === 'OPTIONS') return '';
      return undefined; // node:http's asset handler answers the refusal
    }
  }

  answer(connection: LaneConnection, req: LaneRequest, key: string, close: CloseMode, now: number): boolean {
    // Range, If-Range, a conditional: the asset handler's (a 304, 412, 206, 416 or 200), via serveMiss.
    if (req.held !== undefined) return false;
    const { group, traffic, onResponse } = this.#options;
    const started = onResponse === undefined ? 0 : performance.now();
    const blob = group.peek(key);
    if (blob === undefined) return false;
    traffic.countKey(key);
    const isHead = req.method === 'HEAD';
    const bytes = this.#writer.write(this.#output, connection, blob, chooseRepresentation(blob, req.acceptEncoding), isHead, close, now);
    traffic.record(200, 'hit', bytes);
    traffic.laneHits++;
    if (onResponse !== undefined) {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      onResponse({ method: req.method, path: req.target, status: 200, bytes, ms, client: connection.socket.remoteAddress, ua: req.userAgent });
    }
    return true;
  }

  serveMiss(req: LaneRequest, res: MissResponse): boolean {
    const serve = this.#options.serveMiss;
    if (serve === undefined) return false;
    // What the asset handler reads of a request the lane accepts, under node's names: Range,
    // If-Range and the conditionals, an OPTIONS's Origin, Access-Control-Request-Method and
    // -Headers (the parser's fresh object, each at most once), Accept-Encoding, and User-Agent for
    // the access log. The debug header is handed over; CORS per Origin keeps the lane off
    // (install()), so a GET's Origin is not read.
    const headers: IncomingHttpHeaders = req.held ?? {};
    if (req.acceptEncoding !== undefined) headers['accept-encoding'] = req.acceptEncoding;
    if (req.userAgent !== undefined) headers['user-agent'] = req.userAgent;
    const request: AssetRequest = { method: req.method, url: req.target, headers };
    // node:http's 'request' is not emitted for it (there is no IncomingMessage); this is its twin,
    // for whoever waits on requests being taken (tests, diagnostics).
    this.#options.traffic.laneHeld++;
    this.#server.emit(LANE_REQUEST, request);
    serve(request, res);
    return true;
  }

  handOver(connection: LaneConnection, unread: Buffer | undefined, atEnd: boolean, ownReads: boolean): void {
    this.#connections.delete(connection.socket);
    this.#options.traffic.laneHandovers++;
    if (atEnd) handOverAtEnd(this.#server, this.#nodeListener, connection.socket, unread!);
    else handOver(this.#server, this.#nodeListener, connection.socket, unread, ownReads);
  }

  forget(connection: LaneConnection): void {
    this.#connections.delete(connection.socket);
  }

  #checkTimeouts(): void {
    const server = this.#server;
    // The shorter of the two: a GET has no body, so its request is its head.
    const limits = [server.headersTimeout, server.requestTimeout].filter((ms) => Number.isFinite(ms) && ms > 0);
    if (limits.length === 0) return;
    const deadline = this.clock() - Math.min(...limits);
    for (const connection of this.#connections.values()) {
      if (connection.receivingSince !== 0 && connection.receivingSince < deadline) connection.timeOut();
    }
  }
}
