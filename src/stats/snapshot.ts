/**
 * What GET /_hashedge/stats answers for one process: the node's identity, its cache, its
 * counters, its view of the cluster, its top keys and per-second history. A node of several
 * workers adds its workers' snapshots up (stats/node-stats.ts).
 */
import type { Group, GroupStats } from '../cache/group.js';
import type { TierUsage } from '../cache/store.js';
import type { ClusterStatus } from '../cluster/cluster.js';
import type { History, HistorySample } from './history.js';
import type { Traffic } from './traffic.js';

/** Which worker of a multi-worker node (--workers > 1) this is. */
export interface WorkerIdentity {
  /** 0 to count - 1; a replaced worker keeps its index (and ring member). */
  readonly index: number;
  readonly pid: number;
  /** Workers of the node (--workers). */
  readonly count: number;
}

export interface CacheFill extends TierUsage {
  /** Objects waiting for their brotli/gzip variants. */
  pendingVariants: number;
  hot: TierUsage;
}

export type TrafficCounts = ReturnType<Traffic['toJSON']>;

export interface HistoryWindow {
  /** ms since epoch when this answer was made. */
  now: number;
  intervalMs: number;
  /** Cumulative samples, oldest first. */
  samples: readonly HistorySample[];
}

export interface StatsSnapshot {
  /** The node's name: its --self in a cluster, else its public URL. */
  node: string;
  /** The worker that answered (--workers > 1), else null. */
  worker: WorkerIdentity | null;
  origin: string;
  uptimeSeconds: number;
  ready: boolean;
  cache: CacheFill;
  traffic: TrafficCounts;
  counters: GroupStats;
  cluster: ClusterStatus | null;
  topKeys: Array<{ key: string; requests: number }>;
  history: HistoryWindow | null;
}

export interface SnapshotSources {
  readonly node: () => string;
  readonly worker?: WorkerIdentity | undefined;
  readonly originDescription: string;
  /** ms since epoch. */
  readonly startedAt: number;
  readonly isReady: () => boolean;
  readonly group: Group;
  readonly traffic: Traffic;
  readonly history?: History | undefined;
  readonly clusterStatus: () => ClusterStatus | null;
}

/** This process's figures now; `topKeys`: how many of the most requested keys. @default 10 */
export function takeSnapshot(sources: SnapshotSources, topKeys = 10): StatsSnapshot {
  const { group, traffic, history } = sources;
  const now = Date.now();
  return {
    node: sources.node(),
    worker: sources.worker ?? null,
    origin: sources.originDescription,
    uptimeSeconds: Math.round((now - sources.startedAt) / 1000),
    ready: sources.isReady(),
    cache: { bytes: group.cacheBytes, budgetBytes: group.cacheBudget, items: group.cacheItems, pendingVariants: group.pendingVariants, hot: { ...group.hotCache } },
    traffic: traffic.toJSON(),
    counters: { ...group.stats },
    cluster: sources.clusterStatus(),
    topKeys: traffic.topKeys(topKeys),
    history: history ? { now, intervalMs: history.intervalMs, samples: history.samples() } : null,
  };
}
