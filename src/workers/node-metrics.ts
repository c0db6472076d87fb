/**
 * /metrics of a node with several workers. Each worker counts only what it served, and a
 * scrape reaches whichever worker node:cluster hands the connection to, so a per-worker answer
 * would make Prometheus see a different process on each scrape. Instead the worker that gets
 * the scrape asks the primary over IPC, and the primary gathers every worker's registry with
 * prom-client's AggregatorRegistry (the library's own way for node:cluster: it sums counters
 * and histograms, and applies each metric's `aggregator`), so any scrape counts the whole node.
 * The alternative, a metrics port served by the primary, would need one more port and
 * listener that Kubernetes annotations and firewall rules must know about.
 */
import { AggregatorRegistry, type Registry } from 'prom-client';
import { EdgeError } from '../errors.js';
import { isMessage, type MetricsReply, type ToPrimary } from './messages.js';

/** How long a worker waits for the node's metrics (prom-client's own gathering gives up after 5 s). */
const SCRAPE_TIMEOUT_MS = 6_000;

/** In a worker: lets the primary read `registry` (prom-client answers its requests). */
export function shareWithPrimary(registry: Registry): void {
  new AggregatorRegistry(); // installs prom-client's worker-side listener
  AggregatorRegistry.setRegistries(registry);
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

/** In the primary: the aggregated text of every worker connected now. */
export function nodeMetricsInPrimary(): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  return () => aggregator.clusterMetrics();
}

function unavailable(reason: string): EdgeError {
  return new EdgeError('E_METRICS_UNAVAILABLE', 503, `The node's metrics could not be gathered from its workers (${reason}); retry the scrape.`, { expose: true });
}
