/**
 * /_hashedge/stats of a node with several workers, over IPC as /metrics is (node-metrics.ts):
 * the worker that takes the request asks the primary, the primary asks every listening worker
 * for its snapshot and sends back what came, and the asking worker adds them up
 * (stats/node-stats.ts). Unlike a scrape, a worker that does not answer within
 * WORKER_TIMEOUT_MS does not fail the answer: the page must not hang on a stuck worker, and it
 * names the worker and why its figures are missing. If the primary itself does not answer,
 * the worker answers with its own figures and says so.
 */
import type { Worker } from 'node:cluster';
import { mergeNodeStats, WORKER_TOP_KEYS, type NodeStats, type WorkerMissing, type WorkerPart } from '../stats/node-stats.js';
import type { StatsSnapshot, WorkerIdentity } from '../stats/snapshot.js';
import { WorkerQuestions } from './ask.js';
import { isMessage, type SnapshotRequest, type StatsReply, type ToPrimary } from './messages.js';

/** How long the primary waits for one worker's snapshot. */
const WORKER_TIMEOUT_MS = 1_000;
/** How long a worker waits for the primary's answer: past its wait for the workers. */
const PRIMARY_TIMEOUT_MS = 3_000;

/** In a worker: answers the primary's snapshot requests with `snapshot(topKeys)`. */
export function shareSnapshotsWithPrimary(snapshot: (topKeys: number) => StatsSnapshot): void {
  process.on('message', (message: unknown) => {
    if (!isMessage<SnapshotRequest>(message, 'hashedge:snapshot-request')) return;
    process.send!({ type: 'hashedge:snapshot-reply', id: message.id, snapshot: snapshot(WORKER_TOP_KEYS) } satisfies ToPrimary);
  });
}

export interface NodeStatsOptions {
  readonly answering: WorkerIdentity;
  /** The node's name (its --self in a cluster, else its public URL). */
  readonly node: () => string;
  /** This worker's own snapshot, for when the primary does not answer. */
  readonly own: (topKeys: number) => StatsSnapshot;
}

/** In a worker: the /_hashedge/stats answer of the whole node. */
export function askPrimaryForStats(options: NodeStatsOptions): () => Promise<NodeStats> {
  const pending = new Map<number, (reply: StatsReply | undefined) => void>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<StatsReply>(message, 'hashedge:stats-reply')) return;
    pending.get(message.id)?.(message);
  });
  const gathered = () =>
    new Promise<StatsReply | undefined>((resolve) => {
      const id = next++;
      const done = (reply: StatsReply | undefined) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), PRIMARY_TIMEOUT_MS);
      pending.set(id, done);
      process.send!({ type: 'hashedge:stats-request', id } satisfies ToPrimary);
    });
  return async () => {
    const { answering } = options;
    const reply = await gathered();
    if (reply !== undefined && reply.parts.length > 0) {
      return mergeNodeStats({ node: options.node(), answering, uptimeSeconds: reply.uptimeSeconds, parts: reply.parts, missing: reply.missing });
    }
    const own = options.own(WORKER_TOP_KEYS);
    const others = Array.from({ length: answering.count }, (_, index) => index).filter((i) => i !== answering.index);
    return mergeNodeStats({
      node: options.node(), answering, uptimeSeconds: own.uptimeSeconds,
      parts: [{ index: answering.index, pid: answering.pid, snapshot: own }],
      missing: others.map((index) => ({ index, pid: null, reason: `the node's primary process did not answer within ${PRIMARY_TIMEOUT_MS} ms` })),
    });
  };
}

/** A worker slot as the primary sees it. */
export interface SlotView {
  readonly index: number;
  readonly worker: Worker | undefined;
  readonly listening: boolean;
}

/** In the primary: every worker's snapshot, or why there is none. */
export class NodeStatsGatherer {
  readonly #questions = new WorkerQuestions<StatsSnapshot>();

  /** A worker's snapshot-reply arrived. */
  received(id: number, snapshot: StatsSnapshot): void {
    this.#questions.received(id, snapshot);
  }

  async gather(slots: readonly SlotView[]): Promise<{ parts: WorkerPart[]; missing: WorkerMissing[] }> {
    const parts: WorkerPart[] = [];
    const missing: WorkerMissing[] = [];
    await Promise.all(
      slots.map(async ({ index, worker, listening }) => {
        const pid = worker?.process.pid ?? null;
        if (worker === undefined) return missing.push({ index, pid, reason: 'not running: it exited and is being restarted' });
        // One still starting has not counted anything yet; it is named so the totals are not taken for the node's.
        if (!listening) return missing.push({ index, pid, reason: 'starting' });
        try {
          const snapshot = await this.#questions.ask(worker, (id) => ({ type: 'hashedge:snapshot-request', id }), WORKER_TIMEOUT_MS);
          if (snapshot === undefined) missing.push({ index, pid, reason: 'exited while asked' });
          else parts.push({ index, pid: pid!, snapshot });
        } catch {
          missing.push({ index, pid, reason: `did not answer within ${WORKER_TIMEOUT_MS} ms` });
        }
        return undefined;
      }),
    );
    return { parts, missing };
  }
}
