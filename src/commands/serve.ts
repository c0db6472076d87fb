/** `hashedge serve`: run one edge node until SIGTERM/SIGINT, then shut down gracefully. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { startEdge } from '../edge.js';
import { createLogger } from '../log.js';

export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const edge = await startEdge(config, { log });
  log.info({ event: 'listening', url: edge.url, origin: edge.origin.description, cacheSize: config.cacheSize });
  const example = await exampleAssetPath(config);
  process.stdout.write(`hashedge edge listening on ${edge.url} (origin ${edge.origin.description})\n`);
  if (example !== undefined) process.stdout.write(`Try: curl -i ${edge.url}/${example}\n`);
  process.stdout.write(`Status: ${edge.url}/_hashedge/stats\n`);

  const shutdown = (signal: string) => {
    log.info({ event: 'shutdown', signal });
    edge.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ event: 'shutdown_failed', err: String(err) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
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
