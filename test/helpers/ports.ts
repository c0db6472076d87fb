/** Ports for tests of nodes whose workers take the ports after theirs (cluster/members.ts). */
import { createServer, type Server as NetServer } from 'node:net';

/**
 * A port p with p .. p+n-1 free on 127.0.0.1 (a node and its workers' peer ports), below the
 * ephemeral range (32768+ on Linux), where the client side of other tests' connections could
 * take one of them between this check and the node's start.
 */
export async function freePortRun(n: number, avoid: readonly number[] = []): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    if (Array.from({ length: n }, (_, i) => base + i).some((p) => avoid.includes(p))) continue;
    const held: NetServer[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(base + i, '127.0.0.1', resolve);
        });
        held.push(server);
      }
      return base;
    } catch {
      // One is taken: try another run.
    } finally {
      await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  }
}
