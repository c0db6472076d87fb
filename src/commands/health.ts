/**
 * `hashedge health`: asks a node on this machine for its liveness route and exits 0 if it
 * answers 200, else 1 (the Dockerfile's HEALTHCHECK). It takes serve's options and resolves
 * them the same way (flags, HASHEDGE_* env vars, --config / HASHEDGE_CONFIG), so it finds the
 * port however it was set: the admin port with --admin-port (the public port then answers the
 * health routes too, but the admin one is what must be alive for peers and scrapes), else --port.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
  // --tls-cert with no --tls-port: --port speaks TLS (the admin port never does).
  const scheme = config.adminPort === undefined && config.tlsCert !== undefined && config.tlsPort === undefined ? 'https' : 'http';
  return `${scheme}://${host}:${port}${HEALTH_PATH}`;
}

/** Whether the node answers its liveness route with 200 within `timeoutMs`; says why not on stderr. */
export async function health(config: Config, timeoutMs = 3_000): Promise<boolean> {
  const url = healthUrl(config);
  try {
    const status = await liveStatus(url, timeoutMs);
    if (status === 200) return true;
    process.stderr.write(`hashedge health: ${url} answered ${status}\n`);
  } catch (err) {
    const cause = (err as NodeJS.ErrnoException).code ?? (err as Error).name;
    process.stderr.write(`hashedge health: ${url}: ${cause}\n`);
  }
  return false;
}

/**
 * The status of a GET of `url`. Over https the certificate is not verified: this asks a node on
 * this machine whether it is alive, and its certificate names the public host, not localhost.
 */
function liveStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const options = { signal: AbortSignal.timeout(timeoutMs), rejectUnauthorized: false };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
