/**
 * A node's view of its cluster: the members (static --peers, or --peers-dns re-resolved on an
 * interval), the ring over them, the peer client and the peer route's auth. A membership
 * change swaps in a new ring; loads in flight keep the owner they chose, later ones use the
 * new ring, so no request is dropped. Emits `members` (the new member list) on each change.
 */
import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Origin } from '../origin/origin.js';
import { ClusterOrigin } from './cluster-origin.js';
import { DnsDiscovery } from './dns-discovery.js';
import { PeerAuth } from './peer-auth.js';
import { PeerClient } from './peers.js';
import { Ring } from './ring.js';

export class Cluster extends EventEmitter {
  readonly self: string;
  readonly auth: PeerAuth;
  readonly origin: ClusterOrigin;
  readonly #peers: PeerClient;
  readonly #log: Logger;
  readonly #discovery: DnsDiscovery | undefined;
  readonly #intervalMs: number;
  #ring: Ring;
  #timer: NodeJS.Timeout | undefined;
  /** The last resolution queued (never rejects: failures are logged and the ring kept). */
  #refreshing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(config: Config, origin: Origin, log: Logger, clock: (() => number) | undefined) {
    super();
    this.self = config.self!;
    this.#log = log;
    this.#intervalMs = config.peersDnsInterval;
    this.auth = new PeerAuth(config.peerSecret);
    this.#peers = new PeerClient({ timeoutMs: config.peerTimeout, secret: config.peerSecret, ...(clock ? { clock } : {}) });
    this.#ring = new Ring([this.self]);
    if (config.peersDns !== undefined) {
      this.#discovery = new DnsDiscovery({ ...config.peersDns, servers: config.dnsServers, workers: config.workers });
    }
    this.origin = new ClusterOrigin({ self: this.self, origin, peers: this.#peers, ring: () => this.#ring, log });
  }

  /**
   * Joins: static members at once; with DNS, after the first resolution (or alone if it fails).
   * @param clock ms since epoch for the peer back-off; injectable for tests. @default Date.now
   */
  static async join(config: Config, origin: Origin, log: Logger, clock?: () => number): Promise<Cluster> {
    const cluster = new Cluster(config, origin, log, clock);
    if (cluster.#discovery === undefined) {
      await cluster.#setMembers(config.peers);
    } else {
      await cluster.refresh();
      cluster.#schedule();
    }
    return cluster;
  }

  /** The members, self included, sorted. */
  get members(): readonly string[] {
    return this.#ring.nodes;
  }

  /** Each member: whether it is this node, whether it is outside a failure back-off, its ring share (0-1). */
  status(): Array<{ url: string; self: boolean; healthy: boolean; share: number }> {
    const shares = this.#ring.shares();
    return this.#ring.nodes.map((url) => ({ url, self: url === this.self, healthy: url === this.self || this.#peers.healthy(url), share: shares.get(url) ?? 0 }));
  }

  /** Resolves --peers-dns now and applies the answer; resolutions run one after another. */
  refresh(): Promise<void> {
    this.#refreshing = this.#refreshing
      .then(() => this.#resolveOnce())
      .catch((err: unknown) => this.#log.error({ event: 'peers_dns_failed', err: String(err) }));
    return this.#refreshing;
  }

  async #resolveOnce(): Promise<void> {
    const discovery = this.#discovery;
    if (discovery === undefined) return;
    let members: string[];
    try {
      members = await discovery.resolve();
    } catch (err) {
      // Keep the ring we have: a DNS outage must not split the cluster into lone nodes.
      this.#log.warn({ event: 'peers_dns_failed', name: discovery.description, code: (err as NodeJS.ErrnoException).code, members: this.members.length });
      return;
    }
    await this.#setMembers(members);
  }

  async #setMembers(peers: readonly string[]): Promise<void> {
    // Self is always a member (a pod not yet in its Service's answer still owns its share).
    const next = new Ring([...peers, this.self]);
    const before = new Set(this.#ring.nodes);
    const added = next.nodes.filter((n) => !before.has(n));
    const removed = this.#ring.nodes.filter((n) => !next.nodes.includes(n));
    if (added.length === 0 && removed.length === 0) return;
    await this.auth.allowPeers(next.nodes);
    this.#ring = next;
    this.#peers.forget(removed);
    this.#log.info({ event: 'cluster', self: this.self, members: next.nodes, added, removed });
    this.emit('members', next.nodes);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.refresh().finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#discovery?.close();
    await this.origin.close();
  }
}
