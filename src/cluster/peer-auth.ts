/**
 * Who may use the peer route: with --peer-secret, whoever presents it (compared in constant
 * time); without it, only connections from the addresses the peer URLs resolve to.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';

export class PeerAuth {
  readonly #secretDigest: Buffer | undefined;
  #addresses = new Set<string>();

  constructor(secret: string | undefined) {
    this.#secretDigest = secret === undefined ? undefined : digest(`Bearer ${secret}`);
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
    if (this.#secretDigest !== undefined) {
      const given = req.headers.authorization;
      // Both sides hashed to a fixed length, so the comparison time says nothing of the secret.
      return given !== undefined && timingSafeEqual(digest(given), this.#secretDigest);
    }
    const remote = req.socket.remoteAddress;
    return remote !== undefined && this.#addresses.has(normalise(remote));
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) -> `10.0.0.1`. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
