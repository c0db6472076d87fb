/**
 * A hit's bytes go from the lane straight to the socket's libuv handle, as net.Socket's own
 * _writeGeneric() passes them on, instead of through the socket's Writable stream.
 *
 * Why hand-written: Writable.write() costs, per call, its state checks and buffering, a write
 * request object, the onwrite callback, a nextTick for afterWrite and a refresh of the socket's
 * timer; for a small hit that was ~2,400 of ~14,700 instructions in all (callgrind,
 * bench/RESULTS.md, "Hits written to the socket's handle"). A hit is one buffer (or head and body)
 * written once, which the kernel nearly always takes whole at once: the handle's writeBuffer()
 * (or writev()) tries the write system call itself and says whether anything was left queued.
 * node:http writes through the stream; net has no public way to skip it.
 *
 * What the stream did that this keeps:
 *  - order: bytes already in the stream (a held request's answer still being sent) go first; a
 *    write is made to the handle only while the stream holds nothing (writableLength 0), and
 *    anything written after it, by the stream or here, queues behind it in the handle (libuv
 *    writes a stream's requests in order; its shutdown, from socket.end(), waits for them);
 *  - backpressure: a write the kernel did not take whole stays queued in the handle (its buffers
 *    kept alive by the request), the owner counts it (`queuedWrites`) and stops answering until
 *    writeDone(), as it stops at writableNeedDrain for the stream;
 *  - errors: a failed write destroys the socket with the system error, as net does;
 *  - the socket's timer: refreshed when a queued write completes (the read just before a hit
 *    refreshed it already).
 * Not kept: socket.bytesWritten does not count these bytes (nothing in hashedge reads it).
 *
 * Undocumented Node internals (the stream_wrap binding's WriteWrap and its write-result state,
 * reached through process.binding, which Node 20 and 26 allow without a warning), so guarded as
 * read-buffer.ts is: `open()` checks the shape on a real socket and gives undefined otherwise (or
 * under --pending-deprecation, where process.binding() warns); the lane then writes through the
 * stream as before. traffic.fastLane.writes counts hits by the way they went.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Traffic } from '../../stats/traffic.js';
import { streamWrapBinding, type StreamWrapBinding } from './stream-wrap.js';

/** A connection the lane writes hits to. */
export interface WriteOwner {
  readonly socket: Socket;
  /**
   * The socket's handle as it was when the connection began (socket._handle: net's getter is a
   * megamorphic load, ~180 instructions a hit). A handle net has closed since (the socket
   * destroyed) refuses the write with an error, and destroying a destroyed socket does nothing.
   */
  readonly handle: unknown;
  /** Writes the handle still holds: the kernel's send buffer had no room for all of them. */
  queuedWrites: number;
  /** A queued write is done (its bytes are with the kernel): queuedWrites is one less. */
  writeDone(): void;
}

/** How the lane's hit writer sends bytes. */
export interface HitOutput {
  write(owner: WriteOwner, bytes: Buffer): void;
  /** Head and body as one write (writev: the body is not copied). */
  writev(owner: WriteOwner, head: Buffer, body: Buffer): void;
}

/** Through the socket's Writable stream: where Node lacks the handle's shape, and behind bytes the stream holds. */
export class StreamOutput implements HitOutput {
  readonly #traffic: Traffic;

  constructor(traffic: Traffic) {
    this.#traffic = traffic;
  }

  write(owner: WriteOwner, bytes: Buffer): void {
    this.#traffic.laneWritesStream++;
    owner.socket.write(bytes);
  }

  writev(owner: WriteOwner, head: Buffer, body: Buffer): void {
    this.#traffic.laneWritesStream++;
    const socket = owner.socket;
    socket.cork();
    socket.write(head);
    socket.write(body);
    socket.uncork();
  }
}

/** A libuv stream handle's write methods (node's stream_base). */
interface StreamHandle {
  writeBuffer(req: object, data: Uint8Array): number;
  writev(req: object, chunks: Uint8Array[], allBuffers: boolean): number;
}

/** A write request: C++ calls oncomplete on it (with it as `this`) when a queued write is done. */
interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  owner: WriteOwner | undefined;
  /** What the handle writes from, kept alive until it is done. */
  data: Buffer | Buffer[] | undefined;
}

type Handled = Socket & { _handle?: StreamHandle | null; _unrefTimer?: () => void };

export class HandleWriter implements HitOutput {
  readonly #binding: StreamWrapBinding;
  readonly #stream: StreamOutput;
  readonly #traffic: Traffic;
  /**
   * The request for the next write. A write the kernel takes whole never touches it (C++ wraps
   * the object only for a write it queues), so it is reused until one is queued.
   */
  #request: WriteRequest;

  /** A HandleWriter if this Node has what it relies on (checked on `socket`, an accepted one), else undefined. */
  static open(socket: Socket, traffic: Traffic): HandleWriter | undefined {
    const binding = streamWrapBinding();
    const handle = (socket as Handled)._handle;
    if (binding === undefined || handle == null || typeof handle.writeBuffer !== 'function' || typeof handle.writev !== 'function') return undefined;
    return new HandleWriter(binding, traffic);
  }

  private constructor(binding: StreamWrapBinding, traffic: Traffic) {
    this.#binding = binding;
    this.#traffic = traffic;
    this.#stream = new StreamOutput(traffic);
    this.#request = this.#newRequest();
  }

  write(owner: WriteOwner, bytes: Buffer): void {
    const handle = owner.handle as StreamHandle | null;
    if (owner.socket.writableLength !== 0 || handle == null) return this.#stream.write(owner, bytes);
    this.#traffic.laneWritesHandle++;
    this.#dispatched(owner, handle.writeBuffer(this.#request, bytes), bytes);
  }

  writev(owner: WriteOwner, head: Buffer, body: Buffer): void {
    const handle = owner.handle as StreamHandle | null;
    if (owner.socket.writableLength !== 0 || handle == null) return this.#stream.writev(owner, head, body);
    this.#traffic.laneWritesHandle++;
    const chunks = [head, body];
    this.#dispatched(owner, handle.writev(this.#request, chunks, true), chunks);
  }

  /** After a write to the handle: an error destroys the socket; a write left queued keeps its request. */
  #dispatched(owner: WriteOwner, err: number, data: Buffer | Buffer[]): void {
    if (err !== 0) {
      // A handle net has closed (owner.handle) refuses writes: its socket is destroyed already.
      if (!owner.socket.destroyed) owner.socket.destroy(systemError(err));
      return;
    }
    if (this.#binding.streamBaseState[this.#binding.kLastWriteWasAsync] === 0) return;
    const request = this.#request;
    request.owner = owner;
    request.data = data;
    owner.queuedWrites++;
    this.#request = this.#newRequest();
  }

  #newRequest(): WriteRequest {
    const request = new this.#binding.WriteWrap() as WriteRequest;
    request.oncomplete = onQueuedWriteDone;
    request.owner = undefined;
    request.data = undefined;
    return request;
  }
}

/** A queued write is done (status < 0: it failed, or was cancelled by the socket's close). */
function onQueuedWriteDone(this: WriteRequest, status: number): void {
  const owner = this.owner!;
  this.owner = undefined;
  this.data = undefined;
  owner.queuedWrites--;
  const socket = owner.socket as Handled;
  if (socket.destroyed) return;
  if (status < 0) {
    socket.destroy(systemError(status));
    return;
  }
  socket._unrefTimer?.();
  owner.writeDone();
}

/** A failed write's error, as net words it (code, errno, syscall). */
function systemError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`write ${code}`), { code, errno, syscall: 'write' });
}
