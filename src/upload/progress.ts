/**
 * Progress of an upload, on stderr (stdout is kept for the summary). On a terminal: one bar,
 * redrawn in place at most every 100 ms, with files, bytes, rate and ETA; lines for failures
 * are printed above it. Otherwise (CI logs, pipes): one plain line per file as it finishes.
 * The clock is passed in, so rate and ETA can be tested.
 */
export type FileStatus = 'uploaded' | 'skipped' | 'failed' | 'planned';

export interface FileEvent {
  readonly source: string;
  readonly path: string;
  readonly size: number;
  readonly status: FileStatus;
  /** Why it failed (code and message). */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface UploadProgress {
  /** The plan is made: this many files and bytes will be looked at. */
  start(files: number, bytes: number): void;
  /** `bytes` more of file `source` were read and sent on. */
  transferred(source: string, bytes: number): void;
  /** A file is finished (uploaded, skipped, failed, or in a dry run, planned). */
  file(event: FileEvent): void;
  finish(): void;
}

export const silentProgress: UploadProgress = { start() {}, transferred() {}, file() {}, finish() {} };

export interface ProgressOptions {
  /** Draw a bar (a terminal) or write plain lines. */
  readonly tty: boolean;
  /** Terminal width. @default 80 */
  readonly columns?: number;
  /** Milliseconds, monotonic. @default performance.now */
  readonly clock?: () => number;
}

export function createProgress(out: NodeJS.WritableStream, options: ProgressOptions): UploadProgress {
  return options.tty ? new BarProgress(out, options) : new LineProgress(out);
}

const STATUS_WORDS: Readonly<Record<FileStatus, string>> = { uploaded: 'uploaded', skipped: 'skipped ', failed: 'FAILED  ', planned: 'would upload' };

function fileLine(e: FileEvent): string {
  const name = e.path === e.source ? e.source : `${e.source} -> ${e.path}`;
  const note = e.status === 'skipped' ? ', already there' : '';
  const why = e.error ? `: ${e.error.code} ${e.error.message}` : '';
  return `${STATUS_WORDS[e.status]} ${name} (${formatBytes(e.size)}${note})${why}`;
}

class LineProgress implements UploadProgress {
  readonly #out: NodeJS.WritableStream;
  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }
  start(files: number, bytes: number): void {
    this.#out.write(`${files} ${files === 1 ? 'file' : 'files'}, ${formatBytes(bytes)}\n`);
  }
  transferred(): void {}
  file(event: FileEvent): void {
    this.#out.write(fileLine(event) + '\n');
  }
  finish(): void {}
}

const BAR_WIDTH = 24;

class BarProgress implements UploadProgress {
  readonly #out: NodeJS.WritableStream;
  readonly #columns: number;
  readonly #clock: () => number;
  #startedAt = 0;
  #lastDraw = -Infinity;
  #files = 0;
  #bytes = 0;
  #filesDone = 0;
  /** Bytes of finished files plus bytes moved of files in transfer. */
  #bytesDone = 0;
  /** Bytes actually moved (not skipped): the rate. */
  #bytesMoved = 0;
  /** Bytes moved so far of each file not finished yet. */
  readonly #inFlight = new Map<string, number>();
  #inFlightBytes = 0;

  constructor(out: NodeJS.WritableStream, options: ProgressOptions) {
    this.#out = out;
    this.#columns = Math.max(20, options.columns ?? 80);
    this.#clock = options.clock ?? (() => performance.now());
  }

  start(files: number, bytes: number): void {
    this.#files = files;
    this.#bytes = bytes;
    this.#startedAt = this.#clock();
    this.#draw(true);
  }

  transferred(source: string, bytes: number): void {
    this.#bytesMoved += bytes;
    this.#inFlight.set(source, (this.#inFlight.get(source) ?? 0) + bytes);
    this.#inFlightBytes += bytes;
    this.#draw(false);
  }

  file(event: FileEvent): void {
    this.#filesDone++;
    // What was counted in flight for this file is replaced by its whole size.
    this.#inFlightBytes -= this.#inFlight.get(event.source) ?? 0;
    this.#inFlight.delete(event.source);
    this.#bytesDone += event.size;
    if (event.status === 'failed') this.#out.write(`\r\x1b[K${fileLine(event)}\n`);
    this.#draw(false);
  }

  finish(): void {
    this.#draw(true);
    this.#out.write('\n');
  }

  #draw(force: boolean): void {
    const now = this.#clock();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#out.write(`\r\x1b[K${this.line(now)}`);
  }

  /** The bar's text at time `now` (ms). */
  line(now: number): string {
    const done = Math.min(this.#bytes, this.#bytesDone + this.#inFlightBytes);
    const seconds = (now - this.#startedAt) / 1000;
    const rate = seconds > 0 ? this.#bytesMoved / seconds : 0;
    const remaining = this.#bytes - done;
    const eta = remaining === 0 ? '0s' : rate > 0 ? formatSeconds(remaining / rate) : '--';
    const stats = ` ${this.#filesDone}/${this.#files} files  ${formatBytes(done)}/${formatBytes(this.#bytes)}  ${formatBytes(rate)}/s  ETA ${eta}`;
    const fraction = this.#bytes > 0 ? done / this.#bytes : this.#files > 0 ? this.#filesDone / this.#files : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    // Never wider than the terminal: a wrapped line could not be redrawn in place.
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]${stats}`.slice(0, this.#columns - 1);
  }
}

/** IEC units, as people read them: `632 B`, `1.5 KiB`, `16.0 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
