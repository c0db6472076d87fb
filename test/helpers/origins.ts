/**
 * Origins for tests, behind the real Origin interface: they count requests, can hold an answer
 * until the test opens a gate (so tests synchronise on events, never on sleeps), fail, hang,
 * or send a body slower or shorter than announced.
 */
import { Readable } from 'node:stream';
import { MANIFEST_KEYS } from '../../src/asset/manifest-evidence.js';
import type { Origin, OriginGetOptions, OriginObject } from '../../src/origin/origin.js';

const EDGE_OWN_KEYS: ReadonlySet<string> = new Set(['.hashedge-readiness-probe', ...MANIFEST_KEYS]);

/** Whether key is one an edge reads for itself: the readiness probe and the build manifests. */
export function isEdgeOwnKey(key: string): boolean {
  return EDGE_OWN_KEYS.has(key);
}

/** A promise the test resolves when it wants the origin to go on. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
}

export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'error' }
  /** Never answers; honours the abort signal. */
  | { kind: 'hang' }
  /** Announces the full size, sends `bytes`, then ends. */
  | { kind: 'truncate'; bytes: number };

export class TestOrigin implements Origin {
  readonly description = 'test-origin';
  /** Like S3: objects may carry a stored Cache-Control (put's meta.cacheControl). */
  storesCacheControl = false;
  readonly objects = new Map<string, { body: Buffer; contentType?: string; lastModified?: Date; sha256?: string; cacheControl?: string }>();
  readonly requests: string[] = [];
  /** Called with each request; resolves when it may answer. */
  gate: Gate | undefined;
  behaviour: Behaviour = { kind: 'ok' };
  /** Bytes per pushed chunk. */
  chunkSize = 64 * 1024;
  /** When set, the body sends its first chunk, then waits for this gate before the rest. */
  midBodyGate: Gate | undefined;
  /** Bytes handed to bodies so far (for backpressure assertions). */
  bytesProduced = 0;
  /** Resolves the next time a request arrives. */
  #arrivals: Array<() => void> = [];

  put(key: string, body: Buffer | string, meta: { contentType?: string; lastModified?: Date; sha256?: string; cacheControl?: string } = {}): Buffer {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.objects.set(key, { body: bytes, ...meta });
    return bytes;
  }

  /** Requests for assets, without the ones the edge makes for itself (probe, manifests). */
  get assetRequests(): string[] {
    return this.requests.filter((k) => !isEdgeOwnKey(k));
  }

  count(key: string): number {
    return this.requests.filter((k) => k === key).length;
  }

  /**
   * Resolves once `n` requests have arrived: for `key`, or for any key (the edge's readiness
   * probe included, so tests waiting for their own request should name its key).
   */
  async arrived(n: number, key?: string): Promise<void> {
    const count = () => (key === undefined ? this.requests.length : this.count(key));
    while (count() < n) await new Promise<void>((resolve) => this.#arrivals.push(resolve));
  }

  async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    this.requests.push(key);
    for (const wake of this.#arrivals.splice(0)) wake();
    if (this.gate) await this.gate.opened;
    const behaviour = this.behaviour;
    if (behaviour.kind === 'hang') {
      await new Promise((_resolve, reject) => options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true }));
    }
    // Like a library error: its text names internals that must never reach a client.
    if (behaviour.kind === 'error') throw new Error('connect ECONNREFUSED 10.0.0.7:9000 (test origin failure)');
    const object = this.objects.get(key);
    if (object === undefined) return null;
    const start = options.range?.start ?? 0;
    const end = options.range?.end ?? object.body.length - 1;
    const limit = behaviour.kind === 'truncate' ? Math.min(end + 1, start + behaviour.bytes) : end + 1;
    return { body: this.#body(object.body, start, limit), size: object.body.length, contentType: object.contentType, lastModified: object.lastModified, ...(object.sha256 ? { sha256: object.sha256 } : {}), ...(object.cacheControl ? { cacheControl: object.cacheControl } : {}) };
  }

  /** A pull-based body: bytes are produced only as the consumer reads (backpressure visible). */
  #body(bytes: Buffer, start: number, limit: number): Readable {
    let offset = start;
    let first = true;
    const origin = this;
    return new Readable({
      highWaterMark: this.chunkSize,
      read() {
        if (offset >= limit) {
          this.push(null);
          return;
        }
        const next = Math.min(limit, offset + origin.chunkSize);
        const chunk = bytes.subarray(offset, next);
        offset = next;
        origin.bytesProduced += chunk.length;
        if (!first && origin.midBodyGate) {
          void origin.midBodyGate.opened.then(() => this.push(chunk));
          return;
        }
        first = false;
        this.push(chunk);
      },
    });
  }

  async close(): Promise<void> {}
}
