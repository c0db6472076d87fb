/**
 * Everything under /_hashedge/ that is not the asset path: health probes, status JSON (and,
 * later, the dashboard, metrics, purge and the peer route). Express is fine here: these routes
 * are not hot, and compression is done per request by the `compression` middleware.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import compression from 'compression';
import { fileURLToPath } from 'node:url';
import type { Group } from '../cache/group.js';
import { EdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { createPurgeRouter, type PurgeOptions } from './purge.js';
import type { Metrics } from '../stats/metrics.js';

export interface AdminOptions {
  readonly group: Group;
  /** Whether the origin has answered once and the node is not shutting down (readiness). */
  readonly isReady: () => boolean;
  /** Whether shutdown has started: readiness is 503 `stopping` from then on. */
  readonly isStopping?: () => boolean;
  /**
   * The /_hashedge/stats answer: this process's snapshot (stats/snapshot.ts) or, in a worker of
   * a node with --workers > 1, the whole node's (stats/node-stats.ts).
   */
  readonly stats: () => Promise<unknown>;
  readonly metrics: Metrics;
  readonly purge: Omit<PurgeOptions, 'group' | 'log'>;
  readonly log: Logger;
}

export function createAdminApp(options: AdminOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(compression());
  app.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });

  // The dashboard: public/ (index.html at /_hashedge/; /_hashedge redirects there). Resolved
  // from this module, so it works from src/ (tsx) and dist/. no-cache, not no-store: the
  // browser revalidates the files on each load and sees a new version at once.
  app.use('/_hashedge', express.static(fileURLToPath(new URL('../../public', import.meta.url)), {
    index: 'index.html',
    setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
  }));
  app.use(createPurgeRouter({ ...options.purge, group: options.group, log: options.log }));
  app.get('/_hashedge/health/live', (_req, res) => {
    res.json({ status: 'live' });
  });
  app.get('/_hashedge/health/ready', (_req, res) => {
    const ready = options.isReady();
    // While shutting down, 503 first (the lame-duck period, --shutdown-delay), so load
    // balancers stop sending requests before the node stops accepting them.
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : options.isStopping?.() ? 'stopping' : 'starting' });
  });
  app.get('/metrics', (_req, res, next) => {
    const { metrics } = options;
    metrics.scrape().then((text) => res.type(metrics.registry.contentType).send(text), next);
  });
  app.get('/_hashedge/stats', (_req, res, next) => {
    options.stats().then((stats) => res.json(stats), next);
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'E_NOT_FOUND', message: 'No such admin route.' } });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const edge = err instanceof EdgeError ? err : undefined;
    const status = edge?.status || (err as { status?: number }).status || 500;
    if (status >= 500) options.log.error({ event: 'admin_error', err: String(err) });
    res.status(status).json({ error: { code: edge?.code ?? 'E_ADMIN', message: edge?.expose ? edge.message : status < 500 ? 'Bad request.' : 'Internal error.' } });
  });
  return app;
}
