/**
 * HTTP/2 frames (RFC 9113 §4, §6): the type, flag, error and setting numbers, and the frames
 * the server sends, serialised. Parsing is in connection.ts, where each frame is acted on as it
 * is read (no frame objects are built).
 */

export const FRAME_HEADER = 9;
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const TYPE = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;
export const SETTING = { HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5, MAX_HEADER_LIST_SIZE: 0x6 } as const;

/** Flow-control windows and frame sizes before SETTINGS say otherwise (RFC 9113 §6.5.2, §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 0x7fffffff;
export const MAX_FRAME_LIMIT = 0xffffff;

/** Writes a frame header at `at` of `out`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream, at + 5);
}

export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER);
  writeFrameHeader(out, 0, length, type, flags, stream);
  return out;
}

export function settingsFrame(values: ReadonlyArray<readonly [number, number]>): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 6 * values.length);
  writeFrameHeader(out, 0, 6 * values.length, TYPE.SETTINGS, 0, 0);
  values.forEach(([id, value], i) => {
    out.writeUInt16BE(id, FRAME_HEADER + 6 * i);
    out.writeUInt32BE(value, FRAME_HEADER + 6 * i + 2);
  });
  return out;
}

export const SETTINGS_ACK = frameHeader(0, TYPE.SETTINGS, FLAG.ACK, 0);

export function pingAck(payload: Buffer, at: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8);
  writeFrameHeader(out, 0, 8, TYPE.PING, FLAG.ACK, 0);
  payload.copy(out, FRAME_HEADER, at, at + 8);
  return out;
}

export function rstStream(stream: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, TYPE.RST_STREAM, 0, stream);
  out.writeUInt32BE(code, FRAME_HEADER);
  return out;
}

export function goaway(lastStream: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 8);
  writeFrameHeader(out, 0, 8, TYPE.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStream, FRAME_HEADER);
  out.writeUInt32BE(code, FRAME_HEADER + 4);
  return out;
}

export function windowUpdate(stream: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, TYPE.WINDOW_UPDATE, 0, stream);
  out.writeUInt32BE(increment, FRAME_HEADER);
  return out;
}

/**
 * A header block as HEADERS plus CONTINUATION frames of at most `maxFrame` bytes, in one
 * buffer; `endStream` on the HEADERS frame.
 */
export function headersFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  if (block.length <= maxFrame) {
    const out = Buffer.allocUnsafe(FRAME_HEADER + block.length);
    writeFrameHeader(out, 0, block.length, TYPE.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), stream);
    block.copy(out, FRAME_HEADER);
    return out;
  }
  const count = Math.ceil(block.length / maxFrame);
  const out = Buffer.allocUnsafe(FRAME_HEADER * count + block.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const part = block.subarray(i * maxFrame, (i + 1) * maxFrame);
    const last = i === count - 1;
    const flags = (last ? FLAG.END_HEADERS : 0) | (i === 0 && endStream ? FLAG.END_STREAM : 0);
    writeFrameHeader(out, at, part.length, i === 0 ? TYPE.HEADERS : TYPE.CONTINUATION, flags, stream);
    part.copy(out, at + FRAME_HEADER);
    at += FRAME_HEADER + part.length;
  }
  return out;
}
