/** Streaming a Fill (an object still arriving from its origin) to an HTTP response or HTTP/2 stream. */
import type { Writable } from 'node:stream';
import type { Fill } from '../cache/fill.js';

/** What a fill is written to: an HTTP/1 response or an HTTP/2 stream (destroy() cuts it). */
type Sink = Pick<Writable, 'write' | 'end' | 'destroy' | 'destroyed' | 'on' | 'off'>;

/** Streams bytes [start, end] of a fill to res as they arrive, honouring res's backpressure. */
export async function pumpFill(fill: Fill, res: Sink, start: number, end: number): Promise<void> {
  let offset = 0;
  for (let index = 0; offset <= end; ) {
    const chunk = fill.chunk(index);
    if (chunk === undefined) {
      if (fill.error !== undefined) {
        res.destroy(); // headers are out: cutting the connection is the only signal left
        return;
      }
      if (fill.finished) break; // cannot happen (a finished fill holds every chunk); never spin
      await fill.progress();
      if (res.destroyed) return;
      continue;
    }
    if (offset + chunk.length > start) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.length, end - offset + 1);
      if (!res.write(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to))) {
        await drained(res);
        if (res.destroyed) return;
      }
    }
    offset += chunk.length;
    index++;
  }
  res.end();
}

function drained(res: Sink): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
