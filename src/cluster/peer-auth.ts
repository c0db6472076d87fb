/**
 * Who may use the peer route: with --peer-secret, whoever presents it (compared in constant
 * time); without it, only connections from the addresses the peer URLs resolve to.
 */
import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import { BearerToken } from '../bearer.js';

export class PeerAuth {
  readonly #secret: BearerToken | undefined;
  #addresses = new Set<string>();

  constructor(secret: string | undefined) {
    this.#secret = secret === undefined ? undefined : new BearerToken(secret);
  }

  /** Resolves every peer URL's host to the addresses its requests will come from. */
  async allowPeers(peerUrls: readonly string[]): Promise<void> {
    const addresses = new Set<string>();
    for (const url of peerUrls) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      try {
        for (const { address } of await lookup(host, { all: true })) addresses.add(normalise(address));
      } catch {
        // An unresolvable peer cannot connect either; it is allowed once it resolves.
      }
    }
    this.#addresses = addresses;
  }

  allows(req: IncomingMessage): boolean {
    if (this.#secret !== undefined) return this.#secret.matches(req.headers.authorization);
    const remote = req.socket.remoteAddress;
    return remote !== undefined && this.#addresses.has(normalise(remote));
  }
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) -> `10.0.0.1`. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
