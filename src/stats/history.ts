/**
 * The node's own short history of its counters, one sample a second for the last five minutes
 * (300 small objects), so the status page and /_hashedge/stats can say what happened in the
 * last minute even to a page opened after a burst (a page that computed rates from its own
 * polls alone showed 0 then). Sampled by a timer, not on the request path: the asset path
 * keeps bumping plain counters only.
 */

/** Cumulative counters at one moment. */
export interface HistorySample {
  /** ms since epoch. */
  readonly t: number;
  readonly requests: number;
  readonly bytesSent: number;
  /** Responses answered from this node's memory. */
  readonly hit: number;
  readonly originErrors: number;
}

export interface HistoryOptions {
  /** Reads the counters now. */
  readonly read: () => Omit<HistorySample, 't'>;
  /** ms between samples. @default 1000 */
  readonly intervalMs?: number;
  /** Samples kept, oldest dropped first. @default 300 (five minutes at one a second) */
  readonly length?: number;
  /** ms since epoch; injectable for tests. @default Date.now */
  readonly clock?: () => number;
}

export class History {
  readonly intervalMs: number;
  readonly #options: HistoryOptions;
  readonly #length: number;
  readonly #clock: () => number;
  readonly #samples: HistorySample[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: HistoryOptions) {
    this.#options = options;
    this.intervalMs = options.intervalMs ?? 1000;
    this.#length = options.length ?? 300;
    this.#clock = options.clock ?? Date.now;
  }

  /** Takes a sample now (the timer calls this; tests may too). */
  sample(): void {
    this.#samples.push({ t: this.#clock(), ...this.#options.read() });
    if (this.#samples.length > this.#length) this.#samples.shift();
  }

  /** The samples kept, oldest first. */
  samples(): readonly HistorySample[] {
    return this.#samples;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
