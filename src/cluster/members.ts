/**
 * The ring members of a node that runs several workers (--workers n): worker i of the node
 * http://h:p is the member http://h:(p+1+i). --peers, --self and DNS records keep naming
 * nodes by their public URL; every node derives the same members from them, as long as every
 * node runs the same --workers (the ring is a pure function of its member list). The public
 * port p itself is no member: node:cluster hands its connections to any worker, while a peer
 * request must reach the owner worker.
 *
 * The way back, members -> nodes, is for people (the status page, /_hashedge/stats, the
 * hashedge_cluster_members gauge count nodes, not workers): the same rule read backwards.
 */
import type { PeerState } from './peer-health.js';

/** One member as the status page, /_hashedge/stats and /metrics show it. */
export interface ClusterMember {
  url: string;
  self: boolean;
  state: PeerState;
  healthy: boolean;
  /** Share of the ring (0-1). */
  share: number;
}

/** A node of several workers (--workers), its workers' members under it. */
export interface ClusterNode {
  /** The node's URL as --peers and --self name it. */
  url: string;
  /** The node this answer comes from. */
  self: boolean;
  /** up: every worker is; unknown: the rest not yet heard from; down: every worker suspect or down; degraded: in between. */
  state: PeerState | 'degraded';
  healthy: boolean;
  /** Its workers' shares of the ring together (0-1). */
  share: number;
  /** Its members, worker 0 first (`index`: the worker's index on its node). */
  workers: Array<ClusterMember & { index: number }>;
}

/** The member URLs of node `nodeUrl` with `workers` workers; with one worker, the node itself. */
export function workerMembers(nodeUrl: string, workers: number): string[] {
  if (workers <= 1) return [nodeUrl];
  const url = new URL(nodeUrl);
  const port = Number(url.port || defaultPort(url));
  return Array.from({ length: workers }, (_, i) => `${url.protocol}//${url.hostname}:${port + 1 + i}`);
}

/** A node and its members, worker 0 first. */
export interface NodeMembers {
  readonly url: string;
  readonly members: readonly string[];
}

/**
 * The nodes behind ring members derived by workerMembers(): per host, the member ports in
 * order, taken `workers` at a time; each run p+1 .. p+n is the node http://h:p. Exact when every
 * node runs the same --workers (which the ring already requires): two nodes on one host cannot
 * have overlapping runs, since their workers would bind the same ports.
 */
export function nodesOfMembers(members: readonly string[], workers: number): NodeMembers[] {
  if (workers <= 1) return members.map((url) => ({ url, members: [url] }));
  const byHost = new Map<string, Array<{ port: number; url: string }>>();
  for (const member of members) {
    const url = new URL(member);
    const host = `${url.protocol}//${url.hostname}`;
    const list = byHost.get(host) ?? [];
    list.push({ port: Number(url.port || defaultPort(url)), url: member });
    byHost.set(host, list);
  }
  const nodes: NodeMembers[] = [];
  for (const [host, list] of byHost) {
    list.sort((a, b) => a.port - b.port);
    for (let i = 0; i < list.length; i += workers) {
      const run = list.slice(i, i + workers);
      nodes.push({ url: `${host}:${run[0]!.port - 1}`, members: run.map((m) => m.url) });
    }
  }
  return nodes.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

/**
 * Members as nodes with their workers under them. A node is up when all its workers are,
 * unknown when none failed but some are not yet heard from, down when all failed, else
 * degraded; its ring share is its workers' together.
 */
export function groupByNode(members: readonly ClusterMember[], nodes: readonly NodeMembers[]): ClusterNode[] {
  const byUrl = new Map(members.map((m) => [m.url, m]));
  return nodes.map((node) => {
    const workers = node.members.flatMap((url, index) => {
      const member = byUrl.get(url);
      return member === undefined ? [] : [{ ...member, index }];
    });
    const up = workers.filter((w) => w.healthy).length;
    const failed = workers.filter((w) => w.state === 'suspect' || w.state === 'down').length;
    return {
      url: node.url,
      self: workers.some((w) => w.self),
      state: up === workers.length ? 'up' : failed === 0 ? 'unknown' : failed === workers.length ? 'down' : 'degraded',
      healthy: up === workers.length,
      share: workers.reduce((sum, w) => sum + w.share, 0),
      workers,
    };
  });
}

function defaultPort(url: URL): number {
  return url.protocol === 'https:' ? 443 : 80;
}
