/**
 * Node's stream_wrap binding, which the lane's reads (read-buffer.ts) and writes
 * (handle-writer.ts) use to reach a socket's libuv handle the way net.js itself does. Reached
 * through process.binding(), which Node 20 and 26 allow without a warning; undocumented, so each
 * user checks the parts it needs on a real socket and falls back to the socket's stream without.
 */

/** The binding's parts the lane uses. */
export interface StreamWrapBinding {
  /** A write request (C++ calls its oncomplete when a queued write is done). */
  readonly WriteWrap: new () => object;
  /** What the last read or write left for JavaScript to read: bytes read or an error, write queued or not. */
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kLastWriteWasAsync: number;
}

/** The stream_wrap binding, if this Node has the parts used here and lets it be reached without a warning. */
export function streamWrapBinding(): StreamWrapBinding | undefined {
  // process.binding() warns (DEP0111) under --pending-deprecation: an operator asked to see such uses.
  const pending = process.execArgv.includes('--pending-deprecation') || (process.env.NODE_OPTIONS ?? '').includes('--pending-deprecation') || process.env.NODE_PENDING_DEPRECATION === '1';
  const binding = (process as { binding?: (name: string) => unknown }).binding;
  if (pending || typeof binding !== 'function') return undefined;
  let wrap: Partial<StreamWrapBinding> | undefined;
  try {
    wrap = binding.call(process, 'stream_wrap') as Partial<StreamWrapBinding>;
  } catch {
    return undefined; // e.g. the permission model refuses process.binding()
  }
  if (typeof wrap?.WriteWrap !== 'function' || !(wrap.streamBaseState instanceof Int32Array)) return undefined;
  if (typeof wrap.kLastWriteWasAsync !== 'number' || typeof wrap.kReadBytesOrError !== 'number') return undefined;
  return wrap as StreamWrapBinding;
}
