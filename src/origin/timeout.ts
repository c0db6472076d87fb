/**
 * Time limits around any Origin, so each origin stays simple. Like nginx's proxy_read_timeout,
 * the limit applies to waiting for the origin: to the answer, then to every silence between
 * body chunks. Time the consumer spends not reading (a slow client, backpressure) does not count.
 */
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { OriginTimeoutError } from '../errors.js';
import type { ByteRange, Origin, OriginObject } from './origin.js';

export interface TimedGetOptions {
  readonly timeoutMs: number;
  readonly range?: ByteRange;
}

export async function getWithTimeout(origin: Origin, key: string, options: TimedGetOptions): Promise<OriginObject | null> {
  const controller = new AbortController();
  // Made when the time is up, not per get: an Error captures a stack trace (1.5% of a miss's CPU).
  let timeoutError: OriginTimeoutError | undefined;
  const timedOut = () => (timeoutError ??= new OriginTimeoutError(options.timeoutMs));
  const timer = setTimeout(() => controller.abort(timedOut()), options.timeoutMs);
  let object: OriginObject | null;
  try {
    object = await origin.get(key, { signal: controller.signal, ...(options.range ? { range: options.range } : {}) });
  } catch (err) {
    throw controller.signal.aborted ? timedOut() : err;
  } finally {
    clearTimeout(timer);
  }
  if (object === null) return null;
  const guard = new IdleGuard(options.timeoutMs, () => {
    controller.abort(timedOut());
    return timedOut();
  });
  const source = object.body;
  pipeline(source, guard, (err) => {
    if (err && !guard.destroyed) guard.destroy(err);
  });
  return { ...object, body: guard };
}

/** Passes bytes through; fails with the timeout error when the source stays silent too long. */
class IdleGuard extends Transform {
  readonly #timer: NodeJS.Timeout;

  constructor(timeoutMs: number, onTimeout: () => Error) {
    super({ highWaterMark: 64 * 1024 });
    const check = () => {
      // The consumer is behind: the origin is not the one keeping us waiting.
      if (this.readableLength > 0 || this.writableNeedDrain) {
        this.#timer.refresh();
        return;
      }
      this.destroy(onTimeout());
    };
    this.#timer = setTimeout(check, timeoutMs);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#timer.refresh();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.#timer);
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    callback(err);
  }
}
