/**
 * The loader of a clustered node, behind the same Origin interface as a disk or bucket: a key
 * this node owns is loaded from the origin; any other key is asked of its owner, and if the
 * owner is down, slow or failing, loaded from the origin directly (a client never sees an
 * error the origin could have answered).
 */
import type { Logger } from '../log.js';
import type { ClusterRouter } from '../cache/group.js';
import type { Origin, OriginGetOptions, OriginObject } from '../origin/origin.js';
import type { PeerClient } from './peers.js';
import type { Ring } from './ring.js';

export interface ClusterOriginOptions {
  readonly self: string;
  readonly origin: Origin;
  readonly peers: PeerClient;
  /** The current ring; a function so membership changes apply to the next load. */
  readonly ring: () => Ring;
  readonly log: Logger;
}

export class ClusterOrigin implements ClusterRouter {
  readonly description: string;
  readonly storesCacheControl: boolean;
  readonly #options: ClusterOriginOptions;
  /** Loads answered by an owner peer, and fallbacks to the origin after a peer failed. */
  readonly stats = { peerLoads: 0, peerFailures: 0 };

  constructor(options: ClusterOriginOptions) {
    this.#options = options;
    this.description = options.origin.description;
    this.storesCacheControl = options.origin.storesCacheControl ?? false;
  }

  owner(key: string): string {
    return this.#options.ring().owner(key) ?? this.#options.self;
  }

  routesToPeer(key: string): boolean {
    const owner = this.owner(key);
    return owner !== this.#options.self && this.#options.peers.healthy(owner);
  }

  async get(key: string, options: OriginGetOptions): Promise<OriginObject | null> {
    const { self, origin, peers, log } = this.#options;
    const owner = this.owner(key);
    // A range is only asked for objects too large to cache: the owner would hold no copy.
    if (owner === self || options.range !== undefined || !peers.healthy(owner)) return origin.get(key, options);
    try {
      const object = await peers.get(owner, key, options);
      this.stats.peerLoads++;
      return object;
    } catch (err) {
      options.signal.throwIfAborted();
      this.stats.peerFailures++;
      log.warn({ event: 'peer_failed', peer: owner, key, err: String((err as Error).message) });
      return origin.get(key, options);
    }
  }

  async close(): Promise<void> {
    this.#options.peers.close();
    await this.#options.origin.close();
  }
}
