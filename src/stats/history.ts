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

/**
 * Several processes' histories (a node's workers) as one: at each whole interval that every
 * history covers, the sum of each one's latest sample at or before it. The workers sample on
 * their own timers, so their samples never share a timestamp; a counter between two samples
 * is known to be at least the earlier one, so within the covered span no worker is missing
 * and the sum is off by at most one interval's traffic per worker.
 */
export function sumHistories(histories: ReadonlyArray<readonly HistorySample[]>, intervalMs = 1000): HistorySample[] {
  const nonEmpty = histories.filter((h) => h.length > 0);
  if (nonEmpty.length === 0) return [];
  const from = Math.max(...nonEmpty.map((h) => h[0]!.t));
  const to = Math.min(...nonEmpty.map((h) => h.at(-1)!.t));
  const next = nonEmpty.map(() => 0);
  const out: HistorySample[] = [];
  for (let t = Math.ceil(from / intervalMs) * intervalMs; t <= to; t += intervalMs) {
    const sum = { t, requests: 0, bytesSent: 0, hit: 0, originErrors: 0 };
    nonEmpty.forEach((h, i) => {
      while (next[i]! + 1 < h.length && h[next[i]! + 1]!.t <= t) next[i]!++;
      const s = h[next[i]!]!;
      sum.requests += s.requests;
      sum.bytesSent += s.bytesSent;
      sum.hit += s.hit;
      sum.originErrors += s.originErrors;
    });
    out.push(sum);
  }
  return out;
}
