/**
 * /_hashedge/stats of a node with several workers (--workers > 1): the workers' snapshots added
 * up into the node's figures, each worker's own figures listed, and the workers that did not
 * answer named. Without this, each answer was one worker's counters under a worker's internal
 * address, and the page said nothing of the others.
 *
 * Counters, cache fill and history sum; top keys sum per key (each worker gives more keys than
 * are shown, so a key popular across workers but in no worker's top 10 still shows); the
 * cluster is the answering worker's ring with each member's state the worst any worker sees
 * (as /metrics takes the minimum of hashedge_cluster_member_up).
 */
import { dirname } from 'node:path';
import type { GroupStats } from '../cache/group.js';
import type { DiskStatus } from '../cache/disk/tier.js';
import type { ClusterMember, ClusterStatus } from '../cluster/cluster.js';
import { groupByNode } from '../cluster/members.js';
import type { PeerState } from '../cluster/peer-health.js';
import { sumHistories } from './history.js';
import type { CacheFill, StatsSnapshot, TrafficCounts, WorkerIdentity } from './snapshot.js';

/** Keys each worker gives for the node's top keys (its Space-Saving sketch holds 64). */
export const WORKER_TOP_KEYS = 64;
/** Keys the node's answer lists. */
const NODE_TOP_KEYS = 10;

/** A worker's snapshot, as its primary gathered it. */
export interface WorkerPart {
  readonly index: number;
  readonly pid: number;
  readonly snapshot: StatsSnapshot;
}

/** A worker whose figures are not in the node's: not running, starting, or too slow to answer. */
export interface WorkerMissing {
  readonly index: number;
  /** null while no process holds the slot (restarting after an exit). */
  readonly pid: number | null;
  readonly reason: string;
}

/** One worker's own figures in the node's answer. */
export type WorkerFigures =
  | {
      index: number;
      pid: number;
      answered: true;
      /** Its ring member (its own peer address). */
      member: string | null;
      ready: boolean;
      uptimeSeconds: number;
      cache: CacheFill;
      disk: DiskStatus | null;
      traffic: TrafficCounts;
      counters: GroupStats;
    }
  | { index: number; pid: number | null; answered: false; reason: string };

export interface NodeStats extends StatsSnapshot {
  /** The worker that answered this request; every other figure is the node's. */
  worker: WorkerIdentity;
  /** Each worker, by index: its own figures, or why it is not counted. */
  workers: WorkerFigures[];
}

export interface NodeStatsInput {
  /** The node's name: its --self in a cluster, else its public URL. */
  readonly node: string;
  readonly answering: WorkerIdentity;
  /** Since the node (its primary) started. */
  readonly uptimeSeconds: number;
  /** At least the answering worker's own. */
  readonly parts: readonly WorkerPart[];
  readonly missing: readonly WorkerMissing[];
  /** ms since epoch. @default Date.now() */
  readonly now?: number;
}

export function mergeNodeStats(input: NodeStatsInput): NodeStats {
  const { parts } = input;
  const own = parts.find((p) => p.index === input.answering.index) ?? parts[0]!;
  const snapshots = parts.map((p) => p.snapshot);
  const now = input.now ?? Date.now();
  const intervalMs = snapshots.find((s) => s.history !== null)?.history?.intervalMs ?? 1000;
  const histories = snapshots.flatMap((s) => (s.history ? [s.history.samples] : []));
  const figures: WorkerFigures[] = [
    ...parts.map((p): WorkerFigures => ({
      index: p.index, pid: p.pid, answered: true, member: p.snapshot.cluster?.self ?? null, ready: p.snapshot.ready,
      uptimeSeconds: p.snapshot.uptimeSeconds, cache: p.snapshot.cache, disk: p.snapshot.disk, traffic: p.snapshot.traffic, counters: p.snapshot.counters,
    })),
    ...input.missing.map((m): WorkerFigures => ({ index: m.index, pid: m.pid, answered: false, reason: m.reason })),
  ].sort((a, b) => a.index - b.index);
  return {
    node: input.node,
    worker: input.answering,
    origin: own.snapshot.origin,
    uptimeSeconds: input.uptimeSeconds,
    ready: snapshots.every((s) => s.ready),
    cache: sumCache(snapshots.map((s) => s.cache)),
    disk: sumDisk(snapshots.flatMap((s) => (s.disk ? [s.disk] : []))),
    traffic: sumTraffic(snapshots.map((s) => s.traffic)),
    counters: sumRecords(snapshots.map((s) => s.counters)),
    cluster: mergeCluster(own.snapshot.cluster, snapshots.map((s) => s.cluster)),
    topKeys: sumTopKeys(snapshots.map((s) => s.topKeys)),
    history: histories.length === 0 ? null : { now, intervalMs, samples: sumHistories(histories, intervalMs) },
    workers: figures,
  };
}

function sumRecords<T extends object>(records: readonly T[]): T {
  const sum: Record<string, number> = {};
  for (const record of records) {
    for (const [k, v] of Object.entries(record)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  }
  return sum as T;
}

function sumCache(caches: readonly CacheFill[]): CacheFill {
  const { hot: _hot, ...main } = sumRecords(caches);
  return { ...main, hot: sumRecords(caches.map((c) => c.hot)) };
}

/**
 * The workers' disk tiers as one: sizes and counters summed, in the directory that holds their
 * sub-directories, in the worst state any of them is in (a full disk shows).
 */
function sumDisk(disks: readonly DiskStatus[]): DiskStatus | null {
  if (disks.length === 0) return null;
  const { dir: _dir, state: _state, ...sums } = sumRecords(disks);
  const notOk = disks.find((d) => d.state !== 'ok');
  return { ...sums, dir: dirname(disks[0]!.dir), state: notOk?.state ?? 'ok' } as DiskStatus;
}

function sumTraffic(traffic: readonly TrafficCounts[]): TrafficCounts {
  return {
    requests: traffic.reduce((n, t) => n + t.requests, 0),
    bytesSent: traffic.reduce((n, t) => n + t.bytesSent, 0),
    byStatus: sumRecords(traffic.map((t) => t.byStatus)),
    byCache: sumRecords(traffic.map((t) => t.byCache)),
    // sumRecords sums the numbers (hits, held, handovers); the nested connections as sumCache does hot.
    fastLane: { ...sumRecords(traffic.map((t) => t.fastLane)), connections: sumRecords(traffic.map((t) => t.fastLane.connections)), writes: sumRecords(traffic.map((t) => t.fastLane.writes)) },
  };
}

function sumTopKeys(lists: ReadonlyArray<ReadonlyArray<{ key: string; requests: number }>>): Array<{ key: string; requests: number }> {
  const counts = new Map<string, number>();
  for (const list of lists) for (const { key, requests } of list) counts.set(key, (counts.get(key) ?? 0) + requests);
  return [...counts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, NODE_TOP_KEYS)
    .map(([key, requests]) => ({ key, requests }));
}

const SEVERITY: Record<PeerState, number> = { up: 0, unknown: 1, suspect: 2, down: 3 };

/** The answering worker's ring, each member as unhealthy as any worker sees it. */
function mergeCluster(own: ClusterStatus | null, views: ReadonlyArray<ClusterStatus | null>): ClusterStatus | null {
  if (own === null) return null;
  const worst = new Map<string, PeerState>();
  for (const view of views) {
    for (const m of view?.members ?? []) {
      const seen = worst.get(m.url);
      if (seen === undefined || SEVERITY[m.state] > SEVERITY[seen]) worst.set(m.url, m.state);
    }
  }
  const members: ClusterMember[] = own.members.map((m) => {
    const state = worst.get(m.url) ?? m.state;
    return { ...m, state, healthy: state === 'up' };
  });
  if (own.nodes === undefined) return { self: own.self, members };
  return { self: own.self, members, nodes: groupByNode(members, own.nodes.map((n) => ({ url: n.url, members: n.workers.map((w) => w.url) }))) };
}
