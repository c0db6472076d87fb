/**
 * One worker of a node started with --workers n > 1: an ordinary edge (startEdge) whose ring
 * member is its own peer address, with 1/n of the cache, sharing the public port with its
 * siblings through node:cluster. The primary tells it which member it is (messages.ts).
 */
import type { Config } from '../config.js';
import { startEdge } from '../edge.js';
import { withFields, type Logger } from '../log.js';
import { isMessage, type Assign, type Members, type ToPrimary, type ToWorker } from './messages.js';
import { askPrimaryForMetrics, shareWithPrimary } from './node-metrics.js';
import { askPrimaryForStats, shareSnapshotsWithPrimary } from './node-stats.js';
import { nodesOfMembers, type NodeMembers } from '../cluster/members.js';
import type { Edge } from '../edge.js';
import { PeerListener } from './peer-listener.js';

export async function runWorker(config: Config, baseLog: Logger): Promise<void> {
  const assign = await exchange<Assign>({ type: 'hashedge:hello' }, 'hashedge:assign');
  const log = withFields(baseLog, { worker: assign.index });
  const peers = await PeerListener.listen(assign.peerHost, assign.peerPort);
  const { self, members } = await exchange<Members>({ type: 'hashedge:peer-listening', port: peers.port }, 'hashedge:members');

  // The node stays within --cache-size: each worker holds its share (the hot share inside it).
  const workerConfig: Config = Object.freeze({ ...config, cacheSize: Math.floor(config.cacheSize / config.workers), self, peers: members, peerSecret: assign.peerSecret });
  // The node as people see it: named by its --self in a cluster, else by the public URL its
  // workers share; its members grouped by node (alone, all of them are this node's, in worker order).
  const inCluster = config.peers.length > 0 || config.peersDns !== undefined;
  let edge: Edge | undefined; // set once started; nothing below asks for it before
  const nodeUrl = () => config.self ?? edge?.url ?? '';
  const groupNodes = inCluster
    ? (urls: readonly string[]) => nodesOfMembers(urls, config.workers)
    : (): NodeMembers[] => [{ url: nodeUrl(), members }];
  const worker = { index: assign.index, pid: process.pid, count: config.workers };
  const nodeStats = askPrimaryForStats({ answering: worker, node: nodeUrl, own: (topKeys) => edge!.snapshot(topKeys) });
  const started = await startEdge(workerConfig, { log, worker, scrapeMetrics: askPrimaryForMetrics(), nodeStats, groupNodes });
  edge = started;
  shareWithPrimary(started.metrics.registry);
  shareSnapshotsWithPrimary(started.snapshot);
  // The peer route is on the admin listener when there is one (--admin-port), else on the public one.
  peers.attach(started.adminServer ?? started.server);
  log.info({ event: 'worker_listening', url: started.url, self, pid: process.pid });
  send({ type: 'hashedge:listening', url: started.url, ...(started.adminUrl !== undefined ? { adminUrl: started.adminUrl } : {}), origin: started.origin.description });

  // The primary sends SIGTERM to each worker; a terminal's Ctrl-C sends SIGINT to all at once.
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ event: 'shutdown', signal, delayMs: config.shutdownDelay, timeoutMs: config.shutdownTimeout });
    // Lame duck first (readiness 503, still serving, peers included), then both listeners close.
    const peersClosed = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownDelay)).then(() => peers.close());
    Promise.all([peersClosed, started.shutdown()]).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ event: 'shutdown_failed', err: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The primary passes SIGHUP on: read --tls-cert and --tls-key again.
  if (edge.tls !== undefined) process.on('SIGHUP', () => edge.reloadTls());
}

function send(message: ToPrimary): void {
  process.send!(message);
}

/** Sends `message` and resolves with the primary's next message of type `type`. */
function exchange<T extends ToWorker>(message: ToPrimary, type: T['type']): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (reply: unknown) => {
      if (!isMessage<T>(reply, type)) return;
      process.off('message', onMessage);
      resolve(reply);
    };
    process.on('message', onMessage);
    send(message);
  });
}
