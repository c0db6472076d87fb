/**
 * HTTP/2 limits per connection, the same for node:http2 sessions (tls-listener.ts) and the
 * HTTP/2 lane's connections (h2-lane/connection.ts).
 */

/** HTTP/2 limits per session. */
export const H2_LIMITS = {
  /** Streams a client may have open at once (nginx's http2_max_concurrent_streams). */
  maxConcurrentStreams: 128,
  /** Bytes of a request's header list, decoded (node:http's default header limit, 16 KiB). */
  maxHeaderListSize: 16 * 1024,
  /** Header fields of a request. */
  maxHeaderListPairs: 128,
  /** Invalid or empty frames a session may send before it is closed (node's default). */
  maxSessionInvalidFrames: 1000,
  /** Streams of a session refused (over the stream limit) before it is closed (node's default). */
  maxSessionRejectedStreams: 100,
  /** MiB a session may hold in nghttp2's buffers before new streams are refused (node's default). */
  maxSessionMemoryMiB: 10,
} as const;

export type H2Limits = { readonly [K in keyof typeof H2_LIMITS]: number };
