/** Starts a real edge node on port 0 for a test, with config overrides and an injected origin. */
import { resolveConfig, type RawOptions } from '../../src/config.js';
import { startEdge, type Edge } from '../../src/edge.js';
import type { Origin } from '../../src/origin/origin.js';

/**
 * Flags for tests about what the next request does once a failure is gone: failed loads are
 * not remembered (--origin-error-ttl 0), so it asks again at once. What remembering does is
 * tested on its own (edge-miss.test.ts).
 */
export const RETRY_AT_ONCE: RawOptions = { 'origin-error-ttl': '0' };

export async function startTestEdge(flags: RawOptions = {}, origin?: Origin): Promise<Edge> {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', ...flags }, {});
  return startEdge(config, origin ? { origin } : {});
}
