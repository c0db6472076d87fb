/**
 * Rapid reset (CVE-2023-44487): a client opens streams and resets them at once, so the server
 * starts work for each while the client's stream limit never binds. nghttp2 (node >= 20.8.1)
 * answers a burst of 1000 resets (then 33/s) with GOAWAY, but node keeps the connection open
 * after that GOAWAY, reading and ignoring whatever the client sends. This budget is the
 * edge's own: streams that close with a reset (sent by either side) spend a token, tokens come
 * back at a steady rate, and a session out of tokens is closed. Half nghttp2's burst, so it
 * acts while node still reports the streams.
 */

/** Resets allowed at once, then per second, per session. */
export const RESET_BUDGET = { burst: 500, perSecond: 33 } as const;

/**
 * RST_STREAM frames a session may receive at once, then per second, whatever their stream:
 * nghttp2's own limit (nghttp2_option_set_stream_reset_rate_limit's default, node:http2's since
 * node 20.8.1), applied by the HTTP/2 lane, which has no nghttp2 under it.
 */
export const RST_FRAME_BUDGET = { burst: 1000, perSecond: 33 } as const;

export class ResetBudget {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #clock: () => number;
  #tokens: number;
  #at: number;

  constructor(burst: number = RESET_BUDGET.burst, perSecond: number = RESET_BUDGET.perSecond, clock: () => number = Date.now) {
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock();
  }

  /** One reset; false once the budget is spent. */
  spend(): boolean {
    const now = this.#clock();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
