/**
 * The lane's reads land in one buffer of its own, reused for every read of every connection it
 * owns, instead of in a new Buffer per read passed through the socket's Readable stream.
 *
 * Why hand-written: a plain 'data' listener costs, per read, a 64 KiB malloc shrunk to the bytes
 * read and wrapped in an ArrayBuffer that the collector's sweeper frees later, a FastBuffer, the
 * stream's push/addChunk/emit and a nextTick (maybeReadMore) that reads nothing: most of a small
 * hit's instructions outside the lane's own code (bench/RESULTS.md, "Fast lane reads"). node:http
 * avoids all of it by having llhttp consume the socket's handle with one shared buffer; this does
 * the same for the lane. net.Socket has the documented way, the `onread` option ({ buffer,
 * callback }), but only for sockets a program creates (net.connect, new net.Socket): a server's
 * accepted sockets cannot be given it. So this sets up on an accepted socket what that option sets
 * up (net.js initSocketHandle): the socket's kBuffer and kBufferCb slots, found by their symbols'
 * descriptions, and the handle's useUserBuffer(). From then on Node's own code does the rest as
 * for a socket created with `onread`: onStreamRead calls the callback with the bytes in the
 * buffer, and pause() and resume() stop and start the handle's reading.
 *
 * Where the stream_wrap binding is reachable (stream-wrap.ts), the handle's `onread` (the
 * function its C++ calls with each read, net's onStreamRead) is the lane's own for as long as the
 * lane owns the socket: it reads the byte count where onStreamRead reads it and calls the lane,
 * and gives anything else (end of stream, a read error) to onStreamRead. onStreamRead serves every
 * kind of stream, so its property loads of the socket's symbols are megamorphic, and it refreshes
 * the socket's timer, which a lane socket has not (the lane keeps its own idle timer:
 * connection.ts; node:http sets the socket's at the hand-over, when onStreamRead is back). With
 * the callback given the buffer and a length instead of a view (`subarray()`, an object per
 * read), a small hit went from 10,966 to 10,259 instructions (callgrind, bench/RESULTS.md, "The
 * lane's own onread").
 *
 * Undocumented Node internals, so guarded: `open()` checks the shape on a real socket (the two
 * slots present and empty, a handle with useUserBuffer) and gives undefined otherwise; the lane
 * then reads with a 'data' listener as before, and `attach()` checks each socket again (one of
 * another shape reads through its stream). Tested on Node 20 and 26 (the fast-lane suites run
 * in CI on both; test/fast-lane.test.ts, "heads that connections send in pieces, interleaved",
 * checks that this path is the one taken). The fallback is tested on the same Nodes by giving
 * sockets the shape a release without these internals would (test/fixtures/future-node.ts):
 * the probe in test/fast-lane-read-buffer.test.ts, the lane on that path in
 * test/fast-lane-stream.test.ts. traffic.fastLane.connections counts connections by path.
 *
 * The buffer is overwritten by the next read: a connection that keeps bytes past its callback
 * (part of a head, requests waiting) copies them (connection.ts), and bytes handed to node:http
 * are copies. After a hand-over node:http's parser consumes the handle and the callback is never
 * called again; should node:http stop consuming (an Upgrade or CONNECT: it unconsumes, then gives
 * the socket to an 'upgrade'/'connect' listener, or destroys it where there is none, as on
 * hashedge's own servers), `release()` has made the callback push a copy of each read into the
 * stream, which is what the socket would have done (test/fast-lane-upgrade.test.ts).
 */
import type { Socket } from 'node:net';
import { streamWrapBinding, type StreamWrapBinding } from './stream-wrap.js';

/** Called with the bytes of one read: buffer[0, length) of the shared buffer, valid until the callback returns. */
export type OnRead = (buffer: Buffer, length: number) => void;

/** The shared buffer's size: libuv's suggested read size, and node:http's parser buffer's. */
export const READ_BUFFER_BYTES = 64 * 1024;

interface Slots {
  readonly buffer: symbol;
  readonly callback: symbol;
}

/** The function a handle's C++ calls with each read (`this`: the handle; the count in streamBaseState). */
type HandleOnRead = (this: unknown, arrayBuffer: unknown) => unknown;

interface ReadHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
  onread?: HandleOnRead;
}

type Slotted = Socket & Record<symbol, unknown> & { _handle?: ReadHandle | null };

/** The name of the onread attach() gives a handle. */
const LANE_ONREAD = 'laneOnRead';

export class ReadBuffer {
  readonly #slots: Slots;
  readonly #buffer = Buffer.alloc(READ_BUFFER_BYTES);
  /** Where the handle leaves a read's byte count, when the binding is reachable (else net's onStreamRead calls the slot's callback). */
  readonly #state: Int32Array | undefined;
  readonly #readBytesIndex: number;
  /** net's onStreamRead, the handles' own onread (found on the probe's socket). */
  readonly #netOnRead: HandleOnRead | undefined;

  /** A ReadBuffer if `socket` (an accepted socket no one has read from) has the shape this relies on, else undefined. */
  static open(socket: Socket): ReadBuffer | undefined {
    const slots = findSlots(socket);
    if (slots === undefined) return undefined;
    const netOnRead = (socket as Slotted)._handle?.onread;
    return new ReadBuffer(slots, typeof netOnRead === 'function' ? streamWrapBinding() : undefined, netOnRead);
  }

  private constructor(slots: Slots, binding: StreamWrapBinding | undefined, netOnRead: HandleOnRead | undefined) {
    this.#slots = slots;
    this.#state = binding?.streamBaseState;
    this.#readBytesIndex = binding?.kReadBytesOrError ?? 0;
    this.#netOnRead = binding === undefined ? undefined : netOnRead;
  }

  /** Whether reads come through the lane's own `onread` (else through net's onStreamRead and the slot's callback). */
  get ownOnRead(): boolean {
    return this.#netOnRead !== undefined;
  }

  /**
   * Reads of `socket` go to `onRead` from now on (no 'data' events); false if this socket has not
   * the shape (then nothing changed). Call before the first read is delivered (in 'connection').
   */
  attach(socket: Socket, onRead: OnRead): boolean {
    const s = socket as Slotted;
    const handle = s._handle;
    // The probe's checks again, for this socket: the shape could differ from the first socket's.
    if (handle == null || typeof handle.useUserBuffer !== 'function' || s[this.#slots.buffer] !== null || s[this.#slots.callback] !== null) return false;
    const buffer = this.#buffer;
    // kBuffer set is what makes pause() and resume() stop and start the handle's reading.
    s[this.#slots.buffer] = buffer;
    // net's onStreamRead calls this with the socket as `this`; a result of false would stop reading
    // (the lane pauses the socket itself when it must).
    s[this.#slots.callback] = (nread: number): void => onRead(buffer, nread);
    handle.useUserBuffer(buffer);
    const netOnRead = this.#netOnRead;
    if (netOnRead !== undefined && handle.onread === netOnRead) {
      const state = this.#state!;
      const readBytes = this.#readBytesIndex;
      // (its name is LANE_ONREAD: release() knows it by that)
      handle.onread = function laneOnRead(this: unknown, arrayBuffer: unknown): unknown {
        const nread = state[readBytes]!;
        // Bytes to the callback, as onStreamRead gives them while the socket is not destroyed: a
        // destroyed socket's handle reads no more, and net has set its onread to a no-op.
        if (nread > 0) {
          onRead(buffer, nread);
          return undefined;
        }
        return netOnRead.call(this, arrayBuffer); // no bytes, the end, an error: net's own handling
      };
    }
    return true;
  }

  /**
   * The lane lets go of `socket` (a hand-over): net's onStreamRead reads it again, and any later
   * read the handle delivers to the callback (only if node:http stops consuming it) is pushed into
   * the stream as a Buffer of its own.
   */
  release(socket: Socket): void {
    const s = socket as Slotted;
    // (only where attach() set the lane's: a handle that had another onread keeps it)
    if (this.#netOnRead !== undefined && s._handle?.onread?.name === LANE_ONREAD) s._handle.onread = this.#netOnRead;
    const buffer = this.#buffer;
    s[this.#slots.callback] = (nread: number): boolean => socket.push(Buffer.from(buffer.subarray(0, nread)));
  }

  /** Whether `bytes` is (a view of) the shared buffer, and so is overwritten by the next read. */
  shares(bytes: Buffer): boolean {
    return bytes.buffer === this.#buffer.buffer;
  }
}

/** net.Socket's kBuffer and kBufferCb symbols, if this socket has both and neither is in use. */
function findSlots(socket: Socket): Slots | undefined {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description === 'kBuffer') buffer = symbol;
    else if (symbol.description === 'kBufferCb') callback = symbol;
  }
  if (buffer === undefined || callback === undefined) return undefined;
  const s = socket as Slotted;
  if (s[buffer] !== null || s[callback] !== null || typeof s._handle?.useUserBuffer !== 'function') return undefined;
  return { buffer, callback };
}
