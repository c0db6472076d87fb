/**
 * The requesting side of the peer protocol: asks a key's owner for it over a keep-alive agent,
 * and remembers owners that failed so requests go to the origin during a back-off period
 * instead of waiting on a dead peer each time.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { EdgeError } from '../errors.js';
import type { OriginGetOptions, OriginObject } from '../origin/origin.js';

export const HOP_HEADER = 'x-hashedge-hop';
export const PEER_PATH = '/_hashedge/peer/';
/** The owner's SHA-256 of the body, when it has the whole object: the asking node checks it. */
export const PEER_SHA256_HEADER = 'x-hashedge-sha256';

/** Back-off after a peer failure: doubles from the first to the last, reset on success. */
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

export class PeerError extends EdgeError {
  constructor(message: string, cause?: unknown) {
    super('E_PEER', 502, message, { cause, expose: false });
  }
}

export interface PeerClientOptions {
  /** ms the owner may take to send its response headers. */
  readonly timeoutMs: number;
  readonly secret: string | undefined;
  readonly clock?: () => number;
}

export class PeerClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });
  readonly #options: PeerClientOptions;
  readonly #clock: () => number;
  readonly #failures = new Map<string, { count: number; until: number }>();

  constructor(options: PeerClientOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Whether peer is outside its back-off period. */
  healthy(peer: string): boolean {
    const failure = this.#failures.get(peer);
    return failure === undefined || failure.until <= this.#clock();
  }

  markFailed(peer: string): void {
    const count = (this.#failures.get(peer)?.count ?? 0) + 1;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (count - 1));
    this.#failures.set(peer, { count, until: this.#clock() + backoff });
  }

  /** Drops what is remembered of peers that left the cluster. */
  forget(peers: Iterable<string>): void {
    for (const peer of peers) this.#failures.delete(peer);
  }

  /**
   * The owner's copy of key (null: the owner's origin has none). Rejects with PeerError.
   * Whole objects only: ranges are of uncached objects, which the caller asks of the origin.
   */
  async get(peer: string, key: string, options: Pick<OriginGetOptions, 'signal'>): Promise<OriginObject | null> {
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(this.#options.timeoutMs)]);
    const url = new URL(PEER_PATH + encodeURIComponent(key), peer);
    const headers: Record<string, string> = { [HOP_HEADER]: '1' };
    if (this.#options.secret !== undefined) headers.authorization = `Bearer ${this.#options.secret}`;
    let res: IncomingMessage;
    try {
      res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(url, { agent: this.#agent, headers, signal }, resolve);
        req.on('error', reject);
        req.end();
      });
    } catch (err) {
      this.markFailed(peer);
      throw new PeerError(`Peer ${peer} did not answer.`, err);
    }
    if (res.statusCode === 404) {
      res.resume();
      this.#failures.delete(peer);
      return null;
    }
    const size = Number(res.headers['content-length']);
    if (res.statusCode !== 200 || !Number.isSafeInteger(size)) {
      res.destroy();
      this.markFailed(peer);
      throw new PeerError(`Peer ${peer} answered ${res.statusCode}.`);
    }
    this.#failures.delete(peer);
    const lastModified = res.headers['last-modified'] ? new Date(res.headers['last-modified']) : undefined;
    const sha256 = res.headers[PEER_SHA256_HEADER];
    return { body: res, size, contentType: res.headers['content-type'], lastModified, ...(typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? { sha256 } : {}) };
  }

  close(): void {
    this.#agent.destroy();
  }
}
