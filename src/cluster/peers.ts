/**
 * The requesting side of the peer protocol: asks a key's owner for it over a keep-alive agent,
 * and probes a member's readiness. It tells its caller when a peer failed through its own fault
 * (peer-health.ts keeps the states); a peer reporting its origin's failure is not at fault.
 */
import { createHash } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { BUFFER_WHOLE_BYTES } from '../cache/group.js';
import { EdgeError, type ErrorCode } from '../errors.js';
import type { OriginGetOptions, OriginObject } from '../origin/origin.js';

export const HOP_HEADER = 'x-hashedge-hop';
export const PEER_PATH = '/_hashedge/peer/';
/** The owner's SHA-256 of the body, when it has the whole object: the asking node checks it. */
export const PEER_SHA256_HEADER = 'x-hashedge-sha256';
/** The Cache-Control the origin stored with the object, passed on as evidence of immutability. */
export const PEER_CACHE_CONTROL_HEADER = 'x-hashedge-origin-cache-control';

/**
 * What probes ask of a member: its liveness route (http/admin.ts), 200 while the process
 * serves. Not readiness, which also waits for the member's origin (and turns 503 while it
 * drains): a member whose origin is down still answers its peers, with the origin's error,
 * which is better than every node asking that origin itself.
 */
export const PROBE_PATH = '/_hashedge/health/live';

/** The peer itself failed: no answer, a bad answer, a cut or corrupt body. The caller loads from the origin. */
export class PeerError extends EdgeError {
  constructor(message: string, cause?: unknown) {
    super('E_PEER', 502, message, { cause, expose: false });
  }
}

/**
 * The owner answered, and its answer is that its origin failed (502/504 with an E_ORIGIN*
 * code): the asking node answers the same and does not load from the origin itself, which
 * would only add load to a failing origin, nor count it against the owner.
 */
export class OwnerOriginError extends EdgeError {}

export interface PeerClientOptions {
  /**
   * ms the owner may take to send its response headers and, for objects up to
   * BUFFER_WHOLE_BYTES, its whole body (larger bodies are then bound by the caller's signal).
   * Probes get the same time.
   */
  readonly timeoutMs: number;
  readonly secret: string | undefined;
  /** Told when a peer failed through its own fault, including mid-body (PeerHealth.fetchFailed). */
  readonly onFailure?: (peer: string) => void;
  /** Told when a peer answered a fetch (PeerHealth.fetchSucceeded). */
  readonly onSuccess?: (peer: string) => void;
}

export class PeerClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });
  readonly #options: PeerClientOptions;

  constructor(options: PeerClientOptions) {
    this.#options = options;
  }

  /** Whether peer answers its liveness route with 200 within the timeout. Never rejects. */
  async probe(peer: string): Promise<boolean> {
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(new URL(PROBE_PATH, peer), { agent: this.#agent, signal: AbortSignal.timeout(this.#options.timeoutMs) }, resolve);
        req.on('error', reject);
        req.end();
      });
      res.resume();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  #failed(peer: string): void {
    this.#options.onFailure?.(peer);
  }

  /**
   * The owner's copy of key (null: the owner's origin has none). Rejects with PeerError.
   * Whole objects only: ranges are of uncached objects, which the caller asks of the origin.
   */
  async get(peer: string, key: string, options: Pick<OriginGetOptions, 'signal'> & { readonly onlyIfCached?: boolean }): Promise<OriginObject | null> {
    // Fix: the timeout used to be an AbortSignal.timeout() tied to the request for its whole
    // life, so it also cut a large body still streaming after --peer-timeout (every transfer
    // from the owner longer than 2 s by default). Now it bounds the answer only: the headers,
    // and the body of an object read whole here (see #readWhole). After that the caller's
    // signal (its --origin-timeout idle guard) governs, as it does for an origin body.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new PeerError(`Peer ${peer} did not answer within ${this.#options.timeoutMs} ms.`)), this.#options.timeoutMs);
    try {
      return await this.#get(peer, key, AbortSignal.any([options.signal, timeout.signal]), options.signal, options.onlyIfCached ?? false);
    } finally {
      clearTimeout(timer);
    }
  }

  async #get(peer: string, key: string, signal: AbortSignal, callerSignal: AbortSignal, onlyIfCached: boolean): Promise<OriginObject | null> {
    const url = new URL(PEER_PATH + encodeURIComponent(key), peer);
    const headers: Record<string, string> = { [HOP_HEADER]: '1' };
    // A hand-over (RFC 9111's only-if-cached): its copy if it has one, never a load; 404 if not.
    if (onlyIfCached) headers['cache-control'] = 'only-if-cached';
    if (this.#options.secret !== undefined) headers.authorization = `Bearer ${this.#options.secret}`;
    let res: IncomingMessage;
    try {
      res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(url, { agent: this.#agent, headers, signal }, resolve);
        req.on('error', reject);
        req.end();
      });
    } catch (err) {
      this.#failed(peer);
      throw new PeerError(`Peer ${peer} did not answer.`, err);
    }
    if (res.statusCode === 404) {
      res.resume();
      this.#options.onSuccess?.(peer);
      return null;
    }
    const code = res.headers['x-hashedge-error'];
    if ((res.statusCode === 502 || res.statusCode === 504) && typeof code === 'string' && /^E_ORIGIN[A-Z_]*$/.test(code)) {
      res.resume();
      this.#options.onSuccess?.(peer);
      throw new OwnerOriginError(code as ErrorCode, res.statusCode, res.statusCode === 504 ? 'The origin did not answer in time.' : 'The origin request failed.');
    }
    const size = Number(res.headers['content-length']);
    if (res.statusCode !== 200 || !Number.isSafeInteger(size)) {
      res.destroy();
      this.#failed(peer);
      throw new PeerError(`Peer ${peer} answered ${res.statusCode}.`);
    }
    const lastModified = res.headers['last-modified'] ? new Date(res.headers['last-modified']) : undefined;
    const header = res.headers[PEER_SHA256_HEADER];
    const sha256 = typeof header === 'string' && /^[0-9a-f]{64}$/.test(header) ? header : undefined;
    const cacheControl = res.headers[PEER_CACHE_CONTROL_HEADER];
    const meta = {
      size, contentType: res.headers['content-type'], lastModified,
      ...(sha256 !== undefined ? { sha256 } : {}),
      ...(typeof cacheControl === 'string' ? { cacheControl } : {}),
    };
    if (size <= BUFFER_WHOLE_BYTES) return { body: await this.#readWhole(peer, res, size, sha256), ...meta };
    // Fix: a large body the owner cuts short (reset, closed early) or leaves silent (the caller
    // aborts its signal) used to leave the owner trusted, so each next request for the key was
    // cut the same way; it is made suspect now. A body the consumer drops (a HEAD, a client
    // gone) is not the owner's fault: the pass-through closes while the response is still open
    // (this listener runs before the pipeline's own, which then destroys the response: Node 22+
    // reports that as the response's ECONNRESET too, so the error code alone cannot tell).
    const body = new PassThrough();
    let dropped = false;
    body.once('close', () => {
      if (!res.destroyed) dropped = true;
    });
    pipeline(res, body, (err) => {
      if (err && !dropped && ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || callerSignal.aborted)) this.#failed(peer);
    });
    this.#options.onSuccess?.(peer);
    return { body, ...meta };
  }

  /**
   * Fix: an object up to BUFFER_WHOLE_BYTES is read whole here, within the peer timeout. The
   * group buffers it whole before answering anyway, so this costs no latency, and a body cut
   * short, stalled or not matching the owner's SHA-256 becomes a PeerError, on which the
   * caller falls back to the origin. It used to reach the group as a failed fill: a 502 the
   * origin could have answered (and the owner stayed trusted). The hash is computed twice
   * (here and in the fill) for such objects: at most 1 MiB, ~2 ms.
   */
  async #readWhole(peer: string, res: IncomingMessage, size: number, sha256: string | undefined): Promise<Readable> {
    let body: Buffer;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      body = Buffer.concat(chunks);
    } catch (err) {
      this.#failed(peer);
      throw new PeerError(`Peer ${peer} cut its answer short.`, err);
    }
    if (body.length !== size || (sha256 !== undefined && createHash('sha256').update(body).digest('hex') !== sha256)) {
      this.#failed(peer);
      throw new PeerError(`Peer ${peer} sent a body that does not match its Content-Length or SHA-256.`);
    }
    this.#options.onSuccess?.(peer);
    return Readable.from(size > 0 ? [body] : []);
  }

  close(): void {
    this.#agent.destroy();
  }
}
