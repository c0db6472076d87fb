/**
 * What a node knows of each other member's health, from two sources: liveness probes it sends
 * every --peer-probe-interval, and the fetches it makes. States, after memberlist's and
 * Consul's up / suspect / down, plus unknown before the first answer:
 *  - unknown: joined, not yet probed or fetched from; routed to (a member named by --peers or
 *             DNS is presumed to run, as groupcache and nginx upstreams presume; the first failed
 *             fetch or probe makes it suspect), but not shown or counted as up;
 *  - up:      answered a probe or a fetch; routed to;
 *  - suspect: a fetch or a probe failed; not routed to (a request must not pay
 *             --peer-timeout to find out again), probed at the next interval;
 *  - down:    a probe failed while suspect; not routed to, probed every interval.
 * A member leaves suspect or down only by answering a probe: a restarted node is used again
 * as soon as it is ready, and never before. Failures count once per state change, however many
 * requests fail at the same time (no back-off that doubles per concurrent request).
 */
export type PeerState = 'unknown' | 'up' | 'suspect' | 'down';

export interface PeerHealthOptions {
  /** Asks one member whether it is ready; resolves true/false, never rejects. */
  readonly probe: (peer: string) => Promise<boolean>;
  /** ms between probe rounds; 0: no timer (tests call probeAll()). */
  readonly intervalMs: number;
  /** Told of every state change (logs). */
  readonly onChange?: (peer: string, from: PeerState, to: PeerState) => void;
}

export class PeerHealth {
  readonly #options: PeerHealthOptions;
  readonly #states = new Map<string, PeerState>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(options: PeerHealthOptions) {
    this.#options = options;
  }

  /** Members to watch (self excluded by the caller); new ones start unknown, departed ones are forgotten. */
  setMembers(peers: Iterable<string>): void {
    const next = new Set(peers);
    for (const peer of this.#states.keys()) if (!next.has(peer)) this.#states.delete(peer);
    for (const peer of next) if (!this.#states.has(peer)) this.#states.set(peer, 'unknown');
  }

  state(peer: string): PeerState | undefined {
    return this.#states.get(peer);
  }

  /** Whether a request may be routed to peer now: up, or not yet heard of either way. */
  isRoutable(peer: string): boolean {
    const state = this.#states.get(peer);
    return state === 'up' || state === 'unknown';
  }

  /**
   * A fetch from peer failed through its own fault (not a failure it reported from its
   * origin): up or unknown -> suspect. Only a probe makes it down, so a burst of requests
   * failing together counts as one failure.
   */
  fetchFailed(peer: string): void {
    if (this.isRoutable(peer)) this.#set(peer, 'suspect');
  }

  /** A fetch from peer succeeded: it answers, whatever the last probe said. */
  fetchSucceeded(peer: string): void {
    this.#set(peer, 'up');
  }

  /** Probes every member once (one round at a time); resolves when all answered or timed out. */
  probeAll(): Promise<void> {
    this.#round ??= (async () => {
      try {
        await Promise.all([...this.#states.keys()].map(async (peer) => {
          if (await this.#options.probe(peer)) this.#set(peer, 'up');
          else this.#set(peer, this.isRoutable(peer) ? 'suspect' : 'down');
        }));
      } finally {
        this.#round = undefined;
      }
    })();
    return this.#round;
  }

  start(): void {
    if (this.#options.intervalMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.probeAll(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #set(peer: string, to: PeerState): void {
    const from = this.#states.get(peer);
    if (from === undefined || from === to) return;
    this.#states.set(peer, to);
    this.#options.onChange?.(peer, from, to);
  }
}
