/**
 * `/metrics` in Prometheus text format (prom-client). Counters the hot path keeps as plain
 * numbers (Traffic, Group.stats) are read at scrape time through `collect`, so serving an
 * asset never touches a prom-client label map; only fetches (off the hot path) observe the
 * duration histogram directly.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Group } from '../cache/group.js';
import type { ClusterStatus } from '../cluster/cluster.js';
import type { Traffic } from './traffic.js';

export interface MetricSources {
  readonly group: Group;
  readonly traffic: Traffic;
  readonly clusterStatus: () => ClusterStatus | null;
  /** Peer client counters, in a cluster. */
  readonly isReady: () => boolean;
  /**
   * The /metrics text. @default this registry's. A worker of a multi-worker node passes the
   * whole node's instead (workers/node-metrics.ts), so a scrape counts every worker.
   */
  readonly scrape?: () => Promise<string>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #fetchSeconds: Histogram<'source' | 'result'>;
  readonly #scrape: (() => Promise<string>) | undefined;

  constructor(sources: MetricSources) {
    this.#scrape = sources.scrape;
    const registers = [this.registry];
    const { group, traffic } = sources;
    collectDefaultMetrics({ register: this.registry });

    new Counter({
      name: 'hashedge_requests_total', help: 'Asset responses by HTTP status and how the cache took part (hit, miss, collapsed, peer, uncached, none).', labelNames: ['status', 'cache'], registers,
      collect() {
        this.reset();
        for (const { status, cache, count } of traffic.counts()) this.inc({ status: String(status), cache }, count);
      },
    });
    counter('hashedge_response_bytes_total', 'Body bytes of asset responses (as announced in Content-Length).', () => traffic.bytesSent);
    counter('hashedge_fast_lane_hits_total', 'Hits the HTTP/1 fast lane answered before node:http (also counted in hashedge_requests_total).', () => traffic.laneHits);
    counter('hashedge_fast_lane_held_total', 'Requests the HTTP/1 fast lane held on its own connection while the asset handler answered them: misses, requests with Range, If-Range or a conditional, and OPTIONS (also counted, with their cache result, in hashedge_requests_total).', () => traffic.laneHeld);
    counter('hashedge_fast_lane_handovers_total', 'Connections the fast lane gave to node:http at the first request it did not take (anything but a GET/HEAD/OPTIONS in the strict shape it reads, e.g. another method, a body, a duplicate Range, an admin path).', () => traffic.laneHandovers);
    counterBy('hashedge_fast_lane_connections_total', 'Connections the HTTP/1 fast lane accepted, by how it read them: reads="buffer" into its own buffer (Node socket internals), reads="stream" through the socket\'s stream (this Node lacks those internals: correct, slower).',
      'reads', () => ({ buffer: traffic.laneReadsBuffer, stream: traffic.laneReadsStream }));
    counterBy('hashedge_fast_lane_writes_total', 'Hits the HTTP/1 fast lane wrote, by how: to="handle" straight to the socket\'s handle (Node stream internals), to="stream" through the socket\'s stream (this Node lacks those internals, or an earlier answer was still being sent: correct, slower).',
      'to', () => ({ handle: traffic.laneWritesHandle, stream: traffic.laneWritesStream }));
    this.#fetchSeconds = new Histogram({
      name: 'hashedge_fetch_duration_seconds', help: 'Time until the origin (source="origin") or a key\'s owner (source="peer") answered a load.',
      labelNames: ['source', 'result'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    });
    counter('hashedge_origin_fetches_total', 'Loads this node asked of the origin itself.', () => group.stats.originFetches);
    counter('hashedge_origin_errors_total', 'Loads that failed (502/504 to the client).', () => group.stats.originErrors);
    counter('hashedge_origin_error_hits_total', 'Requests answered with a failed load remembered for --origin-error-ttl, without asking the origin.', () => group.stats.errorHits);
    counter('hashedge_origin_not_found_total', 'Loads the origin answered 404.', () => group.stats.originNotFound);
    counter('hashedge_peer_fetches_total', 'Loads answered by the key\'s owner node.', () => group.stats.peerFetches - group.stats.peerFailures);
    counter('hashedge_peer_errors_total', 'Owner requests that failed through the owner\'s fault (the node then loaded from the origin and kept the key).', () => group.stats.peerFailures);
    counter('hashedge_handover_fetches_total', 'Keys this node took from their previous owner after a membership change instead of loading them from the origin.', () => group.stats.handovers);
    counter('hashedge_cache_evictions_total', 'Cached objects evicted to stay within the budget.', () => group.stats.evictions);
    counter('hashedge_cache_reclaim_gcs_total', 'Full garbage collections the cache asked for to give evicted bodies\' memory back (one per max(8 MiB, 5% of --cache-size) dropped).', () => group.reclaimer.collections);
    counter('hashedge_hot_admissions_total', 'Keys owned by other nodes admitted to the hot cache (at once while memory has room, else once requested twice within a minute).', () => group.stats.hotAdmissions);
    const byCache = (name: string, help: string, read: (c: { bytes: number; items: number; budgetBytes: number }) => number) =>
      new Gauge({
        name, help, labelNames: ['cache'], registers,
        collect() {
          this.set({ cache: 'main' }, read({ bytes: group.cacheBytes, items: group.cacheItems, budgetBytes: group.cacheBudget }));
          this.set({ cache: 'hot' }, read(group.hotCache));
        },
      });
    byCache('hashedge_cache_bytes', 'Bytes cached, every variant counted.', (c) => c.bytes);
    byCache('hashedge_cache_items', 'Objects cached.', (c) => c.items);
    byCache('hashedge_cache_budget_bytes', 'Bytes the cache may hold: main, --cache-size less the hot share; hot, its guaranteed share (it may borrow beyond it what main leaves free; main + hot stay within --cache-size).', (c) => c.budgetBytes);
    gauge('hashedge_cache_pending_variants', 'Cached objects waiting for or being given their brotli/gzip variants (0 once compression has caught up with fills).', () => group.pendingVariants);
    // Aggregators say how a node with --workers > 1 adds its workers' values up (default: sum,
    // right for every counter and cache gauge): the ring is one, and the node is ready when all are.
    // With --workers the ring's members are workers; people count nodes, so the node gauges do
    // (cluster/members.ts groups them) and the ring's own size has a gauge of its own.
    const nodes = () => {
      const status = sources.clusterStatus();
      return status === null ? undefined : (status.nodes ?? status.members);
    };
    gauge('hashedge_cluster_members', 'Nodes of the cluster, this one included (1 outside a cluster); with --workers, a node of n workers counts once.', () => nodes()?.length ?? 1, 'max');
    gauge('hashedge_cluster_healthy_members', 'Nodes that are up (this one included): answering probes and fetches; with --workers, every worker of the node.', () => nodes()?.filter((m) => m.healthy).length ?? 1, 'min');
    gauge('hashedge_cluster_ring_members', 'Members of the consistent-hash ring: the nodes, or with --workers n, n per node (1 outside a cluster).', () => sources.clusterStatus()?.members.length ?? 1, 'max');
    new Gauge({
      name: 'hashedge_cluster_member_up', help: '1 while a member is up, 0 while it is unknown (not yet probed), suspect or down (the last two are routed around), per member.', labelNames: ['member'], registers, aggregator: 'min',
      collect() {
        this.reset();
        for (const m of sources.clusterStatus()?.members ?? []) this.set({ member: m.url }, m.healthy ? 1 : 0);
      },
    });
    // The disk tier (--disk-cache); absent without one, so dashboards can tell "none" from "empty".
    const disk = group.disk;
    if (disk !== undefined) {
      const stat = disk.stats;
      gauge('hashedge_disk_bytes', 'Bytes the disk tier\'s files take (--disk-cache), each in whole file system blocks.', () => disk.status().bytes);
      gauge('hashedge_disk_objects', 'Objects in the disk tier.', () => disk.status().objects);
      gauge('hashedge_disk_budget_bytes', 'Bytes the disk tier may hold (--disk-cache-size).', () => disk.budgetBytes);
      gauge('hashedge_disk_write_queue_bytes', 'Bytes of filled objects waiting to be written to disk.', () => disk.status().queuedBytes);
      counter('hashedge_disk_hits_total', 'Keys memory lacked that were answered from disk: read whole (promoted to memory or not; see README) or, from 1 MiB, served from the file.', () => stat.hits);
      counter('hashedge_disk_writes_total', 'Objects written to the disk tier.', () => stat.writes);
      counter('hashedge_disk_writes_skipped_total', 'Objects not written: the write queue was full, or writing was paused after a failed write.', () => stat.writesSkipped);
      counter('hashedge_disk_write_errors_total', 'Writes that failed (disk full, read-only, I/O error); writing pauses for 30 s after one.', () => stat.writeErrors);
      counter('hashedge_disk_evictions_total', 'Files removed to hold --disk-cache-size.', () => stat.evictions);
      counter('hashedge_disk_verify_failures_total', 'Files that did not verify on read (short, garbled, SHA-256 mismatch): deleted, and the key loaded as a miss.', () => stat.verifyFailures);
      counter('hashedge_disk_read_errors_total', 'Disk reads that failed with an I/O error (read as a miss, or the response cut mid-stream).', () => stat.readErrors);
      counter('hashedge_disk_read_bytes_total', 'Bytes read from disk-tier files: whole reads, first-read verification, and the spans streamed to clients.', () => stat.bytesRead);
      new Gauge({
        name: 'hashedge_disk_state', help: '1 for the disk tier\'s state: ok, full (ENOSPC), read-only (EROFS, EACCES) or failing (another write error).', labelNames: ['state'], registers, aggregator: 'max',
        collect() {
          for (const state of ['ok', 'full', 'read-only', 'failing'] as const) this.set({ state }, disk.state === state ? 1 : 0);
        },
      });
    }
    gauge('hashedge_ready', '1 once the origin has answered, else 0.', () => (sources.isReady() ? 1 : 0), 'min');

    function counter(name: string, help: string, read: () => number): void {
      new Counter({
        name, help, registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
    /** A counter with one label, a series per key of what `read` gives. */
    function counterBy(name: string, help: string, label: string, read: () => Record<string, number>): void {
      new Counter({
        name, help, labelNames: [label], registers,
        collect() {
          this.reset();
          for (const [value, count] of Object.entries(read())) this.inc({ [label]: value }, count);
        },
      });
    }
    function gauge(name: string, help: string, read: () => number, aggregator: 'sum' | 'min' | 'max' = 'sum'): void {
      new Gauge({
        name, help, registers, aggregator,
        collect() {
          this.set(read());
        },
      });
    }
  }

  /** The text /metrics answers. */
  scrape(): Promise<string> {
    return this.#scrape?.() ?? this.registry.metrics();
  }

  /** For Group's onFetch. */
  readonly observeFetch = (source: 'origin' | 'peer', result: 'ok' | 'not-found' | 'error', seconds: number): void => {
    this.#fetchSeconds.observe({ source, result }, seconds);
  };
}
