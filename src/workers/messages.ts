/**
 * The IPC between the primary of a multi-worker node (--workers > 1) and its workers, in the
 * order a worker starts:
 *
 *   worker  -> hello                       (its message listener is up: nothing sent is lost)
 *   primary -> assign {index, peer host/port, secret}
 *   worker  -> peer-listening {port}       (its own peer address is bound)
 *   primary -> members {self, members}     (once every worker has bound: all join one ring)
 *   worker  -> listening {url, ...}        (public port shared through node:cluster)
 *
 * and, at any time, a worker asks for the node's /metrics (metrics-request / metrics-reply),
 * for which the primary asks every listening worker for its registry (registry-request /
 * registry-reply), and for the node's /_hashedge/stats (stats-request / stats-reply), for which
 * the primary asks every listening worker for its snapshot (snapshot-request / snapshot-reply).
 * Every type is prefixed so other messages on the channel pass by.
 */
import type { WorkerMissing, WorkerPart } from '../stats/node-stats.js';
import type { StatsSnapshot } from '../stats/snapshot.js';


export interface Assign {
  readonly type: 'hashedge:assign';
  readonly index: number;
  /** Where the worker binds its peer listener; port 0: any (then reported back). */
  readonly peerHost: string;
  readonly peerPort: number;
  /** Bearer token of the peer route between this node's workers (and nodes, if given). */
  readonly peerSecret: string | undefined;
}

export interface Members {
  readonly type: 'hashedge:members';
  /** This worker's member URL. */
  readonly self: string;
  /** Every member known now (empty with --peers-dns: the workers resolve it themselves). */
  readonly members: readonly string[];
}

export interface MetricsReply {
  readonly type: 'hashedge:metrics-reply';
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

export interface RegistryRequest {
  readonly type: 'hashedge:registry-request';
  readonly id: number;
}

/** The primary's answer to a stats-request: what each worker answered, and who did not. */
export interface StatsReply {
  readonly type: 'hashedge:stats-reply';
  readonly id: number;
  readonly parts: readonly WorkerPart[];
  readonly missing: readonly WorkerMissing[];
  /** Since the primary started. */
  readonly uptimeSeconds: number;
}

export interface SnapshotRequest {
  readonly type: 'hashedge:snapshot-request';
  readonly id: number;
}

export type ToWorker = Assign | Members | MetricsReply | RegistryRequest | StatsReply | SnapshotRequest;

export type ToPrimary =
  | { readonly type: 'hashedge:hello' }
  | { readonly type: 'hashedge:peer-listening'; readonly port: number }
  | { readonly type: 'hashedge:listening'; readonly url: string; readonly adminUrl?: string; readonly origin: string }
  | { readonly type: 'hashedge:metrics-request'; readonly id: number }
  /** The worker's registry as prom-client's getMetricsAsJSON() gives it. */
  | { readonly type: 'hashedge:registry-reply'; readonly id: number; readonly metrics: unknown[] }
  | { readonly type: 'hashedge:stats-request'; readonly id: number }
  | { readonly type: 'hashedge:snapshot-reply'; readonly id: number; readonly snapshot: StatsSnapshot };

export function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}
