/**
 * The ring members of a node that runs several workers (--workers n): worker i of the node
 * http://h:p is the member http://h:(p+1+i). --peers, --self and DNS records keep naming
 * nodes by their public URL; every node derives the same members from them, as long as every
 * node runs the same --workers (the ring is a pure function of its member list). The public
 * port p itself is no member: node:cluster hands its connections to any worker, while a peer
 * request must reach the owner worker.
 */

/** The member URLs of node `nodeUrl` with `workers` workers; with one worker, the node itself. */
export function workerMembers(nodeUrl: string, workers: number): string[] {
  if (workers <= 1) return [nodeUrl];
  const url = new URL(nodeUrl);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return Array.from({ length: workers }, (_, i) => `${url.protocol}//${url.hostname}:${port + 1 + i}`);
}
