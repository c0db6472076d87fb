/** Real clusters for tests: edge nodes on real sockets, each knowing the others' URLs. */
import { createServer, type Server } from 'node:net';
import type { RawOptions } from '../../src/config.js';
import { Ring } from '../../src/cluster/ring.js';
import type { Edge } from '../../src/edge.js';
import type { Origin } from '../../src/origin/origin.js';
import { startTestEdge } from './edge.js';

/** A port nothing listens on right now (for members started next, or one that stays down). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A port free on every one of `hosts` (loopback addresses: 127.0.0.2 is loopback too on Linux),
 * for nodes that share one port as pods behind a headless Service do. Held while it is checked,
 * then released: the nodes start on it right after.
 */
export async function portFreeOnAll(hosts: readonly string[]): Promise<number> {
  for (;;) {
    const held: Server[] = [];
    try {
      for (const host of hosts) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(held[0] ? (held[0].address() as { port: number }).port : 0, host, resolve);
        });
        held.push(server);
      }
      return (held[0]!.address() as { port: number }).port;
    } catch {
      // Taken on one of the hosts: try another port.
    } finally {
      await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
}

export async function startCluster(n: number, origin: Origin, flags: RawOptions = {}): Promise<Edge[]> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  return Promise.all(ports.map((port, i) => startTestEdge({ port: String(port), self: urls[i], peers: urls.join(','), ...flags }, origin)));
}

/** A key `<prefix><i>-0492830483<ext>` whose owner on the nodes' ring is `owner`. */
export function keyOwnedBy(nodes: readonly Edge[], owner: Edge, prefix: string, ext = '.js'): string {
  const ring = new Ring(nodes.map((n) => n.url));
  for (let i = 0; i < 1000; i++) {
    const key = `${prefix}${i}-0492830483${ext}`;
    if (ring.owner(key) === owner.url) return key;
  }
  throw new Error(`no key with prefix ${prefix} is owned by ${owner.url}`);
}
