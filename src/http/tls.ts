/**
 * The node's certificate and key (--tls-cert, --tls-key): read at start-up, and read again when
 * either file changes or on reload() (SIGHUP), then handed to the listener with
 * tls.Server.setSecureContext(): connections already open keep the context they were made
 * with, the next handshake gets the new one. Nothing is dropped.
 *
 * Why the directories are watched, not the files: cert-manager (a Kubernetes Secret volume)
 * replaces a `..data` symlink, and certbot and most deploy tools write a new file and rename it
 * over the old one. A watch on the old file's inode would see neither. A change that leaves a
 * pair that does not load (the key written before the certificate, a half-written file) keeps
 * the last good pair and logs `tls_reload_failed`; the next change tries again.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';

export interface TlsCredentialOptions {
  /** PEM certificate, its chain after it (--tls-cert). */
  readonly certFile: string;
  /** PEM private key (--tls-key). */
  readonly keyFile: string;
  readonly log: Logger;
  /**
   * ms to wait after a file event before reading: a renewal writes both files, often as
   * several events; one read after they settle.
   * @default 100
   */
  readonly settleMs?: number;
}

/** Emits `reload` (a new pair is in use) and `reload-failed` (Error; the old pair stays). */
export class TlsCredentials extends EventEmitter {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #log: Logger;
  readonly #settleMs: number;
  #current: SecureContextOptions;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(options: SecureContextOptions) => void>();

  /** Reads and checks the pair now; throws ConfigError naming the option at fault. */
  constructor(options: TlsCredentialOptions) {
    super();
    this.#certFile = resolve(options.certFile);
    this.#keyFile = resolve(options.keyFile);
    this.#log = options.log;
    this.#settleMs = options.settleMs ?? 100;
    this.#current = this.#read();
  }

  /** The pair in use: `cert` and `key` for tls.createServer() or setSecureContext(). */
  get current(): SecureContextOptions {
    return this.#current;
  }

  /** Calls `apply` with every new pair from now on (the listener's setSecureContext). */
  onChange(apply: (options: SecureContextOptions) => void): void {
    this.#listeners.add(apply);
  }

  /** Starts watching both files' directories. */
  watch(): void {
    for (const dir of new Set([dirname(this.#certFile), dirname(this.#keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#soon());
        watcher.on('error', (err) => this.#log.warn({ event: 'tls_watch_failed', dir, err: String(err) }));
        this.#watchers.push(watcher);
      } catch (err) {
        // Reload on SIGHUP still works.
        this.#log.warn({ event: 'tls_watch_failed', dir, err: String(err) });
      }
    }
  }

  /** Reads both files again now (SIGHUP); keeps the current pair if they do not load. */
  reload(): boolean {
    clearTimeout(this.#timer);
    let next: SecureContextOptions;
    try {
      next = this.#read();
    } catch (err) {
      this.#log.warn({ event: 'tls_reload_failed', err: (err as Error).message });
      this.emit('reload-failed', err);
      return false;
    }
    if (next.cert!.toString() === this.#current.cert!.toString() && next.key!.toString() === this.#current.key!.toString()) return true;
    this.#current = next;
    for (const apply of this.#listeners) apply(next);
    this.#log.info({ event: 'tls_reloaded', cert: this.#certFile });
    this.emit('reload');
    return true;
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.length = 0;
  }

  #soon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.reload(), this.#settleMs);
    this.#timer.unref();
  }

  /** Both files, checked to load together (a key that does not match its certificate throws here). */
  #read(): SecureContextOptions {
    const cert = readPem(this.#certFile, 'tls-cert');
    const key = readPem(this.#keyFile, 'tls-key');
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw new ConfigError(`--tls-cert ${this.#certFile} and --tls-key ${this.#keyFile} do not load as a pair: ${(err as Error).message}.`);
    }
    return { cert, key };
  }
}

function readPem(path: string, option: string): Buffer {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`--${option} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
  if (!text.includes('-----BEGIN ')) throw new ConfigError(`--${option} ${path}: expected a PEM file (-----BEGIN ...).`);
  return text;
}
