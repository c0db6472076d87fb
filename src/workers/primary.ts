/**
 * The primary of a node started with --workers n > 1: it forks n workers (node:cluster, which
 * shares the public port among them round-robin, the Linux default), gives each its ring
 * member, answers their /metrics and /_hashedge/stats requests, replaces a worker that dies,
 * and on SIGTERM/SIGINT has every worker drain and exit. It serves no request itself.
 *
 * Members: alone (no --peers/--peers-dns), worker i listens on 127.0.0.1 on a port it picks
 * and the primary sends every worker the full list once all have bound, so all join one ring.
 * In a cluster, worker i of node http://h:p is http://h:(p+1+i) (cluster/members.ts), which
 * every node derives alike. A replaced worker takes the same index and member address back,
 * so the ring does not move.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { workerMembers } from '../cluster/members.js';
import type { Logger } from '../log.js';
import { NODE_WARNING_GIVEN, warnIfS3SdkDropsThisNode } from '../origin/s3-node-warning.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { NodeMetricsGatherer } from './node-metrics.js';
import { NodeStatsGatherer } from './node-stats.js';

/** Restart back-off of a worker that died: doubles from the first to the last. */
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying starts its back-off over. */
const STABLE_AFTER_MS = 60_000;
/** On shutdown, how long past --shutdown-delay + --shutdown-timeout workers may take to exit before they are killed. */
const SHUTDOWN_MARGIN_MS = 5_000;

interface Slot {
  readonly index: number;
  readonly peerHost: string;
  /** 0 until the first worker of this slot reports the port it bound (alone); fixed in a cluster. */
  peerPort: number;
  /** Its member URL, once known. */
  self: string | undefined;
  worker: Worker | undefined;
  /** The current worker has bound its peer port and waits for the member list. */
  awaitingMembers: boolean;
  listening: boolean;
  startedAt: number;
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface PrimaryOptions {
  /** Called once, when every worker listens: print the start-up lines. */
  readonly announce: (url: string, origin: string, adminUrl: string | undefined) => void;
}

export function runPrimary(config: Config, log: Logger, options: PrimaryOptions): void {
  const n = config.workers;
  const inCluster = config.peers.length > 0 || config.peersDns !== undefined;
  const selves = inCluster ? workerMembers(config.self!, n) : undefined;
  const slots: Slot[] = Array.from({ length: n }, (_, index) => ({
    index,
    // Alone, the peer listeners are for this machine only; in a cluster other nodes reach them
    // (on the admin address with --admin-port: the peer route is an admin route then).
    peerHost: inCluster ? (config.adminPort !== undefined ? config.adminHost : config.host) : '127.0.0.1',
    peerPort: selves ? Number(new URL(selves[index]!).port) : 0,
    self: selves?.[index],
    worker: undefined,
    awaitingMembers: false,
    listening: false,
    startedAt: 0,
    failures: 0,
    restartTimer: undefined,
  }));
  // Workers of one node prove themselves to each other with a secret nobody else has. Between
  // nodes, the operator's --peer-secret (or the peer addresses) as without workers.
  const peerSecret = config.peerSecret ?? (inCluster ? undefined : randomBytes(32).toString('base64url'));
  const nodeMetrics = new NodeMetricsGatherer();
  const nodeStats = new NodeStatsGatherer();
  let announced = false;
  let stopping: { code: number } | undefined;

  const members = (): string[] | undefined => {
    if (config.peersDns !== undefined) return []; // each worker resolves and expands it (dns-discovery.ts)
    if (inCluster) return config.peers.flatMap((node) => workerMembers(node, n));
    return slots.every((s) => s.self !== undefined) ? slots.map((s) => s.self!) : undefined;
  };

  const fork = (slot: Slot) => {
    slot.restartTimer = undefined;
    const worker = cluster.fork(NODE_WARNING_GIVEN); // the primary gives the AWS SDK's Node warning, once
    Object.assign(slot, { worker, awaitingMembers: false, listening: false, startedAt: Date.now() });
    worker.on('message', (message: unknown) => onMessage(slot, worker, message as ToPrimary));
  };

  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };

  const onMessage = (slot: Slot, worker: Worker, message: ToPrimary) => {
    if (typeof message?.type !== 'string' || !message.type.startsWith('hashedge:')) return; // other messages pass by
    switch (message.type) {
      case 'hashedge:hello':
        send(worker, { type: 'hashedge:assign', index: slot.index, peerHost: slot.peerHost, peerPort: slot.peerPort, peerSecret });
        return;
      case 'hashedge:peer-listening':
        slot.peerPort = message.port;
        slot.self ??= `http://127.0.0.1:${message.port}`;
        slot.awaitingMembers = true;
        sendMembers();
        return;
      case 'hashedge:listening':
        // The worker logged worker_listening itself (with its url and member): not again here.
        slot.listening = true;
        if (!announced && slots.every((s) => s.listening)) {
          announced = true;
          log.info({ event: 'listening', url: message.url, origin: message.origin, cacheSize: config.cacheSize, workers: n });
          options.announce(message.url, message.origin, message.adminUrl);
        }
        return;
      case 'hashedge:registry-reply':
        nodeMetrics.received(message.id, message.metrics);
        return;
      case 'hashedge:metrics-request':
        // Listening workers only: one still starting has not shared its registry (and counted nothing).
        nodeMetrics.gather(slots.flatMap((s) => (s.listening && s.worker !== undefined ? [s.worker] : []))).then(
          (text) => send(worker, { type: 'hashedge:metrics-reply', id: message.id, text }),
          (err: unknown) => send(worker, { type: 'hashedge:metrics-reply', id: message.id, error: String((err as Error).message ?? err) }),
        );
        return;
      case 'hashedge:snapshot-reply':
        nodeStats.received(message.id, message.snapshot);
        return;
      case 'hashedge:stats-request':
        // Never rejects: a worker that is down or slow is listed as missing, not waited for.
        void nodeStats.gather(slots).then(({ parts, missing }) =>
          send(worker, { type: 'hashedge:stats-reply', id: message.id, parts, missing, uptimeSeconds: Math.round(process.uptime()) }));
        return;
    }
  };

  /** Once every member is known, tells each worker waiting for it (all at start; a replaced one later). */
  const sendMembers = () => {
    const list = members();
    if (list === undefined) return;
    for (const slot of slots) {
      if (!slot.awaitingMembers || slot.worker === undefined) continue;
      slot.awaitingMembers = false;
      send(slot.worker, { type: 'hashedge:members', self: slot.self!, members: list });
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.find((s) => s.worker === worker);
    if (slot === undefined) return;
    slot.worker = undefined;
    slot.listening = false;
    slot.awaitingMembers = false;
    const pid = worker.process.pid;
    if (stopping !== undefined) {
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') stopping.code = 1;
      if (slots.every((s) => s.worker === undefined)) process.exit(stopping.code);
      return;
    }
    if (!announced) {
      // A worker that cannot start (port in use, origin unreachable) will not start on retry
      // either: stop the node with the worker's error (on stderr) instead of looping.
      log.error({ event: 'worker_failed_to_start', worker: slot.index, pid, code, signal });
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    if (Date.now() - slot.startedAt >= STABLE_AFTER_MS) slot.failures = 0;
    slot.failures++;
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (slot.failures - 1));
    log.error({ event: 'worker_exited', worker: slot.index, pid, code, signal, restartInMs: delay });
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  });

  const shutdown = (signal: string) => {
    if (stopping !== undefined) return;
    stopping = { code: 0 };
    log.info({ event: 'shutdown', signal, workers: slots.filter((s) => s.worker).length });
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.worker?.process.kill('SIGTERM'); // each goes lame duck and drains as a lone node does (http/drain.ts)
    }
    if (slots.every((s) => s.worker === undefined)) process.exit(0);
    setTimeout(() => {
      const left = slots.filter((s) => s.worker !== undefined);
      log.error({ event: 'shutdown_timeout', workers: left.map((s) => s.worker!.process.pid) });
      for (const slot of left) slot.worker!.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownDelay + config.shutdownTimeout + SHUTDOWN_MARGIN_MS);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP: every worker reads --tls-cert and --tls-key again (the primary serves nothing).
  process.on('SIGHUP', () => {
    for (const slot of slots) slot.worker?.process.kill('SIGHUP');
  });

  // The AWS SDK's warning about this Node comes from here, before any worker, and from no worker.
  const warned = config.origin.kind === 's3' ? warnIfS3SdkDropsThisNode() : Promise.resolve();
  void warned.catch((err: unknown) => log.warn({ event: 'node_warning_failed', err: String(err) })).then(() => {
    for (const slot of slots) fork(slot);
  });
}
