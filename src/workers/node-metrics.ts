/**
 * /metrics of a node with several workers. Each worker counts only what it served, and a
 * scrape reaches whichever worker node:cluster hands the connection to, so a per-worker answer
 * would make Prometheus see a different process on each scrape. Instead the worker that gets
 * the scrape asks the primary over IPC, and the primary gathers every listening worker's
 * registry and adds them up with prom-client's AggregatorRegistry.aggregate (the library's own
 * merge for node:cluster: it sums counters and histograms and applies each metric's
 * `aggregator`), so any scrape counts the whole node. The alternative, a metrics port served
 * by the primary, would need one more port and listener that Kubernetes annotations and
 * firewall rules must know about.
 *
 * The gathering is ours rather than AggregatorRegistry.clusterMetrics(), which asks every
 * connected worker and waits 5 s for all of them: a replacement worker still starting (its
 * registry not shared yet) never answers, nor does one that dies mid-scrape, and the scrape
 * failed. Here only workers that listen are asked, and one that exits is left out (its
 * counts went with it; its replacement starts from 0 either way). A live worker that does not
 * answer still fails the scrape (503): leaving it out would make the node's counters drop and
 * come back, which Prometheus reads as two resets.
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { EdgeError } from '../errors.js';
import { WorkerQuestions } from './ask.js';
import { isMessage, type MetricsReply, type RegistryRequest, type ToPrimary } from './messages.js';

/** How long a worker waits for the node's metrics: past the primary's wait for each worker. */
const SCRAPE_TIMEOUT_MS = 6_000;
/** How long the primary waits for one worker's registry. */
const REGISTRY_TIMEOUT_MS = 5_000;

/** In a worker: answers the primary's requests for `registry`. */
export function shareWithPrimary(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMessage<RegistryRequest>(message, 'hashedge:registry-request')) return;
    // A registry that fails to collect is not answered: the primary's timeout fails the scrape.
    registry.getMetricsAsJSON().then((metrics) => process.send!({ type: 'hashedge:registry-reply', id: message.id, metrics } satisfies ToPrimary), () => {});
  });
}

/** In a worker: the scrape function that asks the primary for the whole node's text. */
export function askPrimaryForMetrics(): () => Promise<string> {
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<MetricsReply>(message, 'hashedge:metrics-reply')) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.text !== undefined) waiter?.resolve(message.text);
    else waiter?.reject(unavailable(message.error ?? 'no answer'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(unavailable('timed out'));
      }, SCRAPE_TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      process.send!({ type: 'hashedge:metrics-request', id } satisfies ToPrimary);
    });
}

/** In the primary: asks workers for their registries and adds them up. */
export class NodeMetricsGatherer {
  readonly #questions = new WorkerQuestions<unknown[]>();

  /** A worker's registry-reply arrived. */
  received(id: number, metrics: unknown[]): void {
    this.#questions.received(id, metrics);
  }

  /** The node's /metrics text from `workers` (those listening now). */
  async gather(workers: readonly Worker[]): Promise<string> {
    // A worker that exits first is left out (undefined); one that does not answer fails the scrape.
    const replies = await Promise.all(workers.map((worker) => this.#questions.ask(worker, (id) => ({ type: 'hashedge:registry-request', id }), REGISTRY_TIMEOUT_MS)));
    const answered = replies.filter((r): r is unknown[] => r !== undefined);
    if (answered.length === 0) throw new Error('no worker is listening');
    return AggregatorRegistry.aggregate(answered as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }
}

function unavailable(reason: string): EdgeError {
  return new EdgeError('E_METRICS_UNAVAILABLE', 503, `The node's metrics could not be gathered from its workers (${reason}); retry the scrape.`, { expose: true });
}
