/**
 * A node's view of its cluster: the members (static --peers, or --peers-dns re-resolved on an
 * interval), the ring over them, their health (probed every --peer-probe-interval), the peer
 * client and the peer route's auth. A membership change swaps in a new ring; loads in flight
 * keep the owner they chose, later ones use the new ring, so no request is dropped. Emits
 * `members` (the new member list) on each change.
 */
import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { DnsDiscovery } from './dns-discovery.js';
import { PeerAuth } from './peer-auth.js';
import { PeerHealth } from './peer-health.js';
import type { ClusterMember, ClusterNode } from './members.js';
import { PeerPicker } from './peer-picker.js';
import { PeerClient } from './peers.js';
import { Ring } from './ring.js';

export type { ClusterMember, ClusterNode } from './members.js';

/** This node and the members it sees (null outside a cluster). */
export interface ClusterStatus {
  readonly self: string;
  /** The ring's members (with --workers, each worker of each node). */
  readonly members: ReadonlyArray<ClusterMember>;
  /** With --workers > 1: the members grouped into the nodes they belong to. */
  readonly nodes?: ReadonlyArray<ClusterNode>;
}

export class Cluster extends EventEmitter {
  readonly self: string;
  readonly auth: PeerAuth;
  /** Whom the group asks for a key (cache/peers.ts PeerPicker). */
  readonly picker: PeerPicker;
  /** Each other member's state: up, suspect or down. */
  readonly health: PeerHealth;
  readonly #log: Logger;
  readonly #discovery: DnsDiscovery | undefined;
  readonly #intervalMs: number;
  #ring: Ring;
  /** The ring before the last change, until its hand-over grace period ends (ms since epoch). */
  #previous: Array<{ ring: Ring; until: number }> = [];
  readonly #handoverGraceMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The last resolution queued (never rejects: failures are logged and the ring kept). */
  #refreshing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(config: Config, log: Logger) {
    super();
    this.self = config.self!;
    this.#log = log;
    this.#intervalMs = config.peersDnsInterval;
    this.#handoverGraceMs = config.handoverGrace;
    this.auth = new PeerAuth(config.peerSecret);
    let health: PeerHealth | undefined;
    const peers = new PeerClient({
      timeoutMs: config.peerTimeout,
      secret: config.peerSecret,
      onFailure: (peer) => health?.fetchFailed(peer),
      onSuccess: (peer) => health?.fetchSucceeded(peer),
    });
    this.health = health = new PeerHealth({
      probe: (peer) => peers.probe(peer),
      intervalMs: config.peerProbeInterval,
      onChange: (peer, from, to) => log[to === 'up' ? 'info' : 'warn']({ event: 'peer_state', peer, from, to }),
    });
    this.#ring = new Ring([this.self]);
    if (config.peersDns !== undefined) {
      this.#discovery = new DnsDiscovery({ ...config.peersDns, servers: config.dnsServers, workers: config.workers });
    }
    this.picker = new PeerPicker({ self: this.self, peers, health: this.health, ring: () => this.#ring, previousRings: () => this.#previousRings() });
  }

  /** Joins: static members at once; with DNS, after the first resolution (or alone if it fails). Starts probing. */
  static async join(config: Config, log: Logger): Promise<Cluster> {
    const cluster = new Cluster(config, log);
    if (cluster.#discovery === undefined) {
      await cluster.#setMembers(config.peers);
    } else {
      await cluster.refresh();
      cluster.#schedule();
    }
    cluster.health.start();
    return cluster;
  }

  /**
   * The rings before the last membership changes whose hand-over grace period lasts, newest
   * first: a key that moved twice (a node added, then another removed) may still sit with the
   * owner it had two rings ago.
   */
  #previousRings(): readonly Ring[] {
    const now = Date.now();
    if (this.#previous.some((p) => p.until <= now)) {
      this.#previous = this.#previous.filter((p) => p.until > now);
      this.health.setMembers(this.#known(this.#ring).filter((n) => n !== this.self));
    }
    return this.#previous.map((p) => p.ring);
  }

  /** Members of `ring` and of the previous rings still in their grace period. */
  #known(ring: Ring): string[] {
    return [...new Set([...ring.nodes, ...this.#previous.flatMap((p) => p.ring.nodes)])];
  }

  /** The members, self included, sorted. */
  get members(): readonly string[] {
    return this.#ring.nodes;
  }

  /** Each member: whether it is this node, its state (self is up), whether it is confirmed up, its ring share (0-1). */
  status(): Array<ClusterMember> {
    const shares = this.#ring.shares();
    return this.#ring.nodes.map((url) => {
      const state = url === this.self ? 'up' : (this.health.state(url) ?? 'unknown');
      return { url, self: url === this.self, state, healthy: state === 'up', share: shares.get(url) ?? 0 };
    });
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
    // Members that left stay known (health, route auth) while their copies may be handed over.
    // A node joining a cluster found by DNS (scaling out) had no ring before: the cluster's was
    // the one without it, so that is where its keys' copies are.
    if (this.#handoverGraceMs > 0) {
      const joining = this.#ring.nodes.length === 1 && this.#discovery !== undefined;
      const before = joining ? new Ring(next.nodes.filter((n) => n !== this.self)) : this.#ring;
      if (before.nodes.some((n) => n !== this.self)) this.#previous.unshift({ ring: before, until: Date.now() + this.#handoverGraceMs });
    }
    const known = this.#known(next);
    await this.auth.allowPeers(known);
    this.#ring = next;
    this.health.setMembers(known.filter((n) => n !== this.self));
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
    this.health.stop();
    this.picker.close();
  }
}
