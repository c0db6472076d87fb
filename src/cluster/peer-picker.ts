/**
 * The cluster as the group sees it (groupcache's PeerPicker): for a key, the member to ask,
 * if any, and how to ask it. The route is decided here once, by the group's load (cache/
 * group.ts), never again behind its back: what the owner answers, or that it failed, goes back
 * to the group, which loads from the origin itself in the same flight and says so.
 */
import type { PeerPicker as GroupPeerPicker } from '../cache/peers.js';
import type { OriginGetOptions, OriginObject } from '../origin/origin.js';
import type { PeerHealth } from './peer-health.js';
import type { PeerClient } from './peers.js';
import type { Ring } from './ring.js';

export interface PeerPickerOptions {
  readonly self: string;
  readonly peers: PeerClient;
  readonly health: PeerHealth;
  /** The current ring; a function so membership changes apply to the next load. */
  readonly ring: () => Ring;
  /** The ring before the last membership change, while its hand-over grace period lasts. */
  readonly previousRings: () => readonly Ring[];
}

export class PeerPicker implements GroupPeerPicker {
  readonly #options: PeerPickerOptions;

  constructor(options: PeerPickerOptions) {
    this.#options = options;
  }

  /** The key's owner on the current ring (this node when the ring is empty). */
  owner(key: string): string {
    return this.#options.ring().owner(key) ?? this.#options.self;
  }

  pickPeer(key: string): string | undefined {
    const owner = this.owner(key);
    return owner !== this.#options.self && this.#options.health.isRoutable(owner) ? owner : undefined;
  }

  fetch(peer: string, key: string, options: Pick<OriginGetOptions, 'signal'>): Promise<OriginObject | null> {
    return this.#options.peers.get(peer, key, options);
  }

  /** The newest previous ring's owner of key that is another member, not its current owner, and up. */
  previousOwner(key: string): string | undefined {
    const current = this.owner(key);
    for (const ring of this.#options.previousRings()) {
      const previous = ring.owner(key);
      if (previous !== undefined && previous !== this.#options.self && previous !== current && this.#options.health.isRoutable(previous)) return previous;
    }
    return undefined;
  }

  fetchCached(peer: string, key: string, options: Pick<OriginGetOptions, 'signal'>): Promise<OriginObject | null> {
    return this.#options.peers.get(peer, key, { ...options, onlyIfCached: true });
  }

  failed(peer: string): void {
    this.#options.health.fetchFailed(peer);
  }

  close(): void {
    this.#options.peers.close();
  }
}
