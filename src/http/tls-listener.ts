/**
 * The TLS listener: one port, ALPN `h2` and `http/1.1`. After the handshake an `h2` connection
 * becomes an HTTP/2 session (node:http2), anything else goes to the node's ordinary HTTP/1
 * server, so HTTP/1.1 over TLS is the plain listener's code exactly: the same handler, prepared
 * heads, timeouts (slowloris) and graceful drain (drain.ts).
 *
 * Why not http2.createSecureServer({ allowHTTP1: true }): its HTTP/1 side runs in the http2
 * server, without node:http's header and request timeouts or our response class, and its
 * 'request' event switches every HTTP/2 stream to the compatibility objects. Dispatching on
 * the negotiated protocol keeps each side the server it is best at (the same split node makes
 * inside allowHTTP1).
 *
 * HTTP/2 defences, each with a limit (H2_LIMITS) and a test (test/h2-defences.test.ts):
 * - concurrent streams: a SETTINGS value; streams over it get RST_STREAM REFUSED_STREAM while
 *   the client has not acknowledged it, and close the connection once it has (nghttp2);
 * - header list size: a SETTINGS value, enforced by node once the client has acknowledged our
 *   SETTINGS (RST_STREAM ENHANCE_YOUR_CALM); before that nghttp2's HPACK decoder still refuses
 *   a header block over 64 KiB (GOAWAY COMPRESSION_ERROR), so memory stays bounded;
 * - rapid reset (CVE-2023-44487): h2-reset-budget.ts closes the session;
 * - PING and SETTINGS floods from a client that does not read our ACKs: node closes the
 *   connection (its queue of unsent frames is bounded);
 * - empty DATA frames and other invalid frames: node closes the session after
 *   maxSessionInvalidFrames;
 * - idle: GOAWAY after the keep-alive timeout.
 * Shutdown sends GOAWAY and lets streams in flight finish.
 *
 * With --h2-lane, `h2` connections go to the HTTP/2 lane (h2-lane/connection.ts) instead: the
 * same limits and defences, written by hand; its connections drain and are cut with the rest.
 */
import { constants, createServer as createH2Server, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { trackConnections } from './drain.js';
import { H2_LIMITS, type H2Limits } from './h2-limits.js';
import { LaneConnection, type LaneConnectionHost } from './h2-lane/connection.js';
import type { AssetRequest, ResponseSink } from './response-plan.js';
import { ResetBudget } from './h2-reset-budget.js';
import type { TlsCredentials } from './tls.js';

export { H2_LIMITS, type H2Limits } from './h2-limits.js';

export interface TlsListenerOptions {
  readonly credentials: TlsCredentials;
  /** The HTTP/1 server TLS connections without `h2` are handed to (it never listens itself). */
  readonly http1: HttpServer;
  /** Every HTTP/2 stream. */
  readonly onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
  /** ms an HTTP/2 session may stay without frames before GOAWAY (the keep-alive timeout). */
  readonly idleTimeoutMs: number;
  /** ms a TLS handshake may take (slowloris before the first byte of HTTP). */
  readonly handshakeTimeoutMs: number;
  /**
   * With --h2-lane: every `h2` connection is served by the HTTP/2 lane (h2-lane/) instead of
   * node:http2; this answers its requests (false: not over HTTP/2, RST_STREAM HTTP_1_1_REQUIRED).
   * @default undefined (node:http2)
   */
  readonly lane?: (req: AssetRequest, res: ResponseSink) => boolean;
  /** Overrides of H2_LIMITS. @default H2_LIMITS */
  readonly limits?: Partial<H2Limits>;
  readonly log: Logger;
}

export interface TlsListener {
  readonly server: TlsServer;
  listen(port: number, host: string): Promise<void>;
  address(): AddressInfo;
  /**
   * Stops accepting; HTTP/2 sessions get GOAWAY and close once their streams are done,
   * HTTP/1 connections as drain.ts closes them. Resolves when every connection is closed.
   */
  drain(): Promise<void>;
  /** Destroys every connection still open. */
  cut(): void;
  /** Connections open. */
  open(): number;
}

export function createTlsListener(options: TlsListenerOptions): TlsListener {
  const { credentials, http1, log } = options;
  const limits: H2Limits = { ...H2_LIMITS, ...options.limits };
  const h2: Http2Server = createH2Server({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize, enablePush: false },
    maxHeaderListPairs: limits.maxHeaderListPairs,
    maxSessionInvalidFrames: limits.maxSessionInvalidFrames,
    maxSessionRejectedStreams: limits.maxSessionRejectedStreams,
    maxSessionMemory: limits.maxSessionMemoryMiB,
  });
  const budgets = new WeakMap<Http2Session, ResetBudget>();
  h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    // A stream reset by either side emits 'error'; unhandled, that would end the process.
    stream.on('error', ignore);
    const session = stream.session; // a closed stream no longer knows it
    stream.once('close', () => {
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR) return;
      if (session === undefined || session.destroyed || budgets.get(session)?.spend() !== false) return;
      log.warn({ event: 'h2_rapid_reset', client: session.socket?.remoteAddress });
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
    options.onStream(stream, headers);
  });
  // An idle session: GOAWAY, then closed (without this listener node destroys it with no GOAWAY).
  h2.setTimeout(options.idleTimeoutMs);
  h2.on('timeout', (session: Http2Session) => session.close());
  const sessions = new Set<Http2Session>();
  let draining = false;
  h2.on('session', (session: Http2Session) => {
    sessions.add(session);
    budgets.set(session, new ResetBudget());
    session.once('close', () => sessions.delete(session));
    // Floods and protocol errors end the session with GOAWAY; they are the client's, not ours.
    session.on('error', (err) => log.debug({ event: 'h2_session_error', code: (err as NodeJS.ErrnoException).code }));
    if (draining) session.close();
  });

  const server = createTlsServer({
    ...credentials.current,
    ALPNProtocols: ['h2', 'http/1.1'],
    handshakeTimeout: options.handshakeTimeoutMs,
  });
  credentials.onChange((context) => server.setSecureContext(context));
  const laneConnections = new Set<LaneConnection>();
  const lane = options.lane;
  const laneHost: LaneConnectionHost | undefined =
    lane === undefined
      ? undefined
      : {
          limits,
          idleTimeoutMs: options.idleTimeoutMs,
          request: lane,
          forget: (connection) => laneConnections.delete(connection),
          log,
        };
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol !== 'h2') {
      http1.emit('connection', socket);
    } else if (laneHost !== undefined) {
      const connection = new LaneConnection(socket, laneHost);
      laneConnections.add(connection);
      if (draining) connection.close();
    } else {
      h2.emit('connection', socket);
    }
  });
  server.on('tlsClientError', (err) => log.debug({ event: 'tls_handshake_failed', code: (err as NodeJS.ErrnoException).code }));
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const http1Connections = trackConnections(http1);

  return {
    server,
    listen: (port, host) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          // node:http starts checking its header and request timeouts on 'listening'; this
          // server is fed connections instead of listening itself.
          http1.emit('listening');
          resolve();
        });
      }),
    address: () => server.address() as AddressInfo,
    drain() {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close(); // GOAWAY; closes once its streams end
      for (const connection of laneConnections) connection.close(); // the same for the lane's
      return Promise.all([closed, http1Connections.drain()]).then(() => {});
    },
    cut() {
      for (const session of sessions) session.destroy();
      for (const connection of laneConnections) connection.destroy();
      http1Connections.cut();
      for (const socket of sockets) socket.destroy();
    },
    open: () => sockets.size,
  };
}

function ignore(): void {}
