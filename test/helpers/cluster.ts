/** Real clusters for tests: edge nodes on real sockets, each knowing the others' URLs. */
import { createServer } from 'node:net';
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
