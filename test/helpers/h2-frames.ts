/**
 * A raw HTTP/2 client for tests of the server's defences: it writes frames byte by byte over a
 * real TLS connection (ALPN h2), as an attacker would, where node's own client would refuse
 * or batch (floods, rapid resets, oversized header blocks), and reads the server's frames back.
 * Requests are encoded with HPACK's static table and literals without indexing (RFC 7541).
 */
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, CANCEL: 8, REFUSED_STREAM: 7, ENHANCE_YOUR_CALM: 11 } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A literal header field without indexing, new name (RFC 7541 §6.2.2). */
export function literalField(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackInt(name.length, 7, 0), Buffer.from(name, 'latin1'), hpackInt(value.length, 7, 0), Buffer.from(value, 'latin1')]);
}

/** The header block of `GET path` (plus `extra` headers); `authority` null: no :authority. */
export function requestBlock(path: string, extra: Record<string, string> = {}, authority: string | null = 'localhost'): Buffer {
  const parts: Buffer[] = [
    Buffer.from([0x82, 0x87]), // :method GET, :scheme https (static table 2 and 7)
    Buffer.concat([hpackInt(4, 4, 0x00), hpackInt(path.length, 7, 0), Buffer.from(path, 'latin1')]), // :path, name index 4
  ];
  // :authority, name index 1
  if (authority !== null) parts.push(Buffer.concat([hpackInt(1, 4, 0x00), hpackInt(authority.length, 7, 0), Buffer.from(authority, 'latin1')]));
  for (const [name, value] of Object.entries(extra)) parts.push(literalField(name, value));
  return Buffer.concat(parts);
}

/** HEADERS (and CONTINUATION frames when the block is over 16,384 bytes) of a request. */
export function headersFrames(stream: number, block: Buffer, endStream: boolean): Buffer {
  const max = 16_384;
  const frames: Buffer[] = [];
  for (let offset = 0; offset < block.length || offset === 0; offset += max) {
    const chunk = block.subarray(offset, offset + max);
    const last = offset + max >= block.length;
    const type = offset === 0 ? FRAME.HEADERS : FRAME.CONTINUATION;
    const flags = (last ? FLAG.END_HEADERS : 0) | (offset === 0 && endStream ? FLAG.END_STREAM : 0);
    frames.push(frame(type, flags, stream, chunk));
    if (chunk.length === 0) break;
  }
  return Buffer.concat(frames);
}

export function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export interface RawSession {
  readonly socket: TLSSocket;
  /** Every frame the server sent so far. */
  readonly frames: Frame[];
  write(data: Buffer): Promise<void>;
  /** Resolves with the first frame (seen or coming) that `match` accepts; undefined if the connection closes first. */
  waitFor(match: (f: Frame) => boolean): Promise<Frame | undefined>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  /** The GOAWAY's error code, if one came. */
  goawayCode(): number | undefined;
  destroy(): void;
}

/** A TLS connection with ALPN h2, the client preface and an empty SETTINGS frame sent. */
export async function openRawSession(port: number, ca: Buffer): Promise<RawSession> {
  const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect');
  if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}`);
  const frames: Frame[] = [];
  const waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame | undefined) => void }> = [];
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    buffered = buffered.length === 0 ? data : Buffer.concat([buffered, data]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const f: Frame = { type: buffered[3]!, flags: buffered[4]!, stream: buffered.readUInt32BE(5) & 0x7fffffff, payload: buffered.subarray(9, 9 + length) };
      buffered = buffered.subarray(9 + length);
      frames.push(f);
      // As every client does: the server's settings take effect once acknowledged.
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !socket.destroyed) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.match(f)) waiters.splice(i, 1)[0]!.resolve(f);
      }
    }
  });
  socket.on('error', () => {}); // a reset by the server shows as 'close'
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      for (const waiter of waiters.splice(0)) waiter.resolve(undefined);
      resolve();
    }),
  );
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME.SETTINGS, 0, 0)]));
  return {
    socket,
    frames,
    write: (data) =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        socket.write(data, () => resolve());
      }),
    waitFor(match) {
      const seen = frames.find(match);
      if (seen !== undefined || socket.destroyed) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    closed,
    goawayCode() {
      const goaway = frames.find((f) => f.type === FRAME.GOAWAY);
      return goaway === undefined ? undefined : goaway.payload.readUInt32BE(4);
    },
    destroy: () => socket.destroy(),
  };
}
