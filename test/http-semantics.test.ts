/**
 * HTTP caching semantics of a cached asset, to the letter of RFC 9110: conditional requests
 * (§13), ranges (§14: single, suffix, open, clamped, multipart, coalesced, If-Range, the range
 * cap) and content-coding variants (§12.5.3), through one real edge node over a disk origin,
 * over plain HTTP/1.1. The cases are in helpers/semantics-cases.ts; tls-semantics.test.ts runs
 * them over HTTP/2 and HTTP/1.1 over TLS.
 */
import { request } from './helpers/http.js';
import { defineSemanticsCases } from './helpers/semantics-cases.js';

defineSemanticsCases({ name: 'plain HTTP/1.1', flags: () => ({}), request: (url, options) => request(url, options) });
