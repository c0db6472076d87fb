/**
 * Structured logs: one JSON line per event (pino), with `event` naming what happened.
 * The Logger type is the small surface the code uses, so tests can pass a silent one.
 */
import { pino } from 'pino';

export interface Logger {
  debug(fields: Record<string, unknown>): void;
  info(fields: Record<string, unknown>): void;
  warn(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { service: 'hashedge' }, timestamp: pino.stdTimeFunctions.isoTime }, destination as pino.DestinationStream);
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** `log` with `fields` added to every line (a worker's index, say). */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (f) => log.debug({ ...fields, ...f }),
    info: (f) => log.info({ ...fields, ...f }),
    warn: (f) => log.warn({ ...fields, ...f }),
    error: (f) => log.error({ ...fields, ...f }),
  };
}
