/**
 * `hashedge health`: asks a node on this machine for its liveness route and exits 0 if it
 * answers 200, else 1 (the Dockerfile's HEALTHCHECK). It takes serve's options and resolves
 * them the same way (flags, HASHEDGE_* env vars, --config / HASHEDGE_CONFIG), so it finds the
 * port however it was set: the admin port with --admin-port (the public port then answers the
 * health routes too, but the admin one is what must be alive for peers and scrapes), else --port.
 */
import { isIP } from 'node:net';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';

export const HEALTH_PATH = '/_hashedge/health/live';

/** The liveness URL of the node `config` describes, as seen from this machine. */
export function healthUrl(config: Config): string {
  const port = config.adminPort ?? config.port;
  if (port === 0) throw new ConfigError('hashedge health: the port is 0 (a free one picked at start), so it cannot be found: set --port (or --admin-port).');
  const address = config.adminPort !== undefined ? config.adminHost : config.host;
  // A wildcard listens on loopback too.
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '[::1]' : isIP(address) === 6 ? `[${address}]` : address;
  return `http://${host}:${port}${HEALTH_PATH}`;
}

/** Whether the node answers its liveness route with 200 within `timeoutMs`; says why not on stderr. */
export async function health(config: Config, timeoutMs = 3_000): Promise<boolean> {
  const url = healthUrl(config);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    if (res.status === 200) return true;
    process.stderr.write(`hashedge health: ${url} answered ${res.status}\n`);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    process.stderr.write(`hashedge health: ${url}: ${cause}\n`);
  }
  return false;
}
