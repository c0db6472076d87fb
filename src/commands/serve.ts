/**
 * `hashedge serve`: run one edge node until SIGTERM/SIGINT, then shut down gracefully: readiness
 * 503 while still serving for --shutdown-delay, then stop accepting and send every response in
 * flight (up to --shutdown-timeout), then exit 0. A second signal ends the process at once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { startEdge } from '../edge.js';
import { createLogger } from '../log.js';

export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  if (config.workers > 1) {
    // Loaded only here: a one-process node (the default) never touches node:cluster.
    const { default: cluster } = await import('node:cluster');
    if (cluster.isPrimary) {
      const { runPrimary } = await import('../workers/primary.js');
      runPrimary(config, log, { announce: (url, origin, adminUrl) => void announce(config, url, `origin ${origin}, ${config.workers} workers`, adminUrl) });
    } else {
      const { runWorker } = await import('../workers/worker.js');
      await runWorker(config, log);
    }
    return;
  }
  const edge = await startEdge(config, { log });
  log.info({ event: 'listening', url: edge.url, origin: edge.origin.description, cacheSize: config.cacheSize });

  const shutdown = (signal: string) => {
    log.info({ event: 'shutdown', signal, delayMs: config.shutdownDelay, timeoutMs: config.shutdownTimeout });
    edge.shutdown().then(
      () => process.exit(0),
      (err) => {
        log.error({ event: 'shutdown_failed', err: String(err) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  // certbot's deploy hook and most renewal tools send SIGHUP; the files are watched too.
  if (edge.tls !== undefined) process.on('SIGHUP', () => edge.reloadTls());
  // Only now: a supervisor may send SIGTERM as soon as it reads the first line, and a signal
  // that comes before its handler ends the process at once, without the graceful shutdown.
  await announce(config, edge.url, `origin ${edge.origin.description}`, edge.adminUrl);
}

/** The start-up lines (tests and the demo wait for the first). */
async function announce(config: Config, url: string, about: string, adminUrl: string | undefined): Promise<void> {
  const example = await exampleAssetPath(config);
  process.stdout.write(`hashedge edge listening on ${url} (${about})\n`);
  if (example !== undefined) process.stdout.write(`Try: curl -i ${url}/${example}\n`);
  process.stdout.write(`Status page: ${adminUrl ?? url}/_hashedge/\n`);
  process.stdout.write(`Stats (JSON): ${adminUrl ?? url}/_hashedge/stats\n`);
}

/** The first asset of a disk origin's manifest.json (as `hashedge upload` writes it), if any. */
export async function exampleAssetPath(config: Config): Promise<string | undefined> {
  if (config.origin.kind !== 'disk') return undefined;
  try {
    const manifest = JSON.parse(await readFile(join(config.origin.root, 'manifest.json'), 'utf8')) as { assets?: Record<string, { path?: string }> };
    const first = Object.values(manifest.assets ?? {})[0];
    return typeof first?.path === 'string' ? first.path : undefined;
  } catch {
    return undefined;
  }
}
