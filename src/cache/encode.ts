/**
 * Encoded variants, made once when a blob is filled (never per request). A variant is kept only
 * when it saves at least MIN_SAVING of the bytes: otherwise it costs memory and gains nothing.
 * zlib's async API runs on libuv's threadpool, so serving goes on while a fill compresses.
 */
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants } from 'node:zlib';
import compressible from 'compressible';

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Below this, headers dominate and compression rarely pays. */
export const MIN_COMPRESS_BYTES = 256;
/** A variant must be at least 5% smaller than the identity bytes to be kept. */
export const MIN_SAVING = 0.05;
/**
 * gzip level 6, zlib's default: on a 600 KB JS bundle level 9 was 3x slower for <1% fewer bytes
 * (measured on this project's build machine).
 */
const GZIP_LEVEL = 6;

/** Worth compressing: text, JS, CSS, SVG, JSON, XML, wasm, uncompressed fonts... (mime-db). */
export function isCompressible(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  // mime-db marks octet-stream compressible, but it is what unknown and binary files get
  // (.bin, archives, media without a known type): compressing every such fill wasted ~100 ms
  // of CPU per miss for variants almost never kept.
  if (type === 'application/octet-stream') return false;
  return type === 'application/wasm' || compressible(type) === true;
}

/**
 * The brotli window for a body: just large enough to reach back over all of it (a larger
 * window finds nothing more), between brotli's minimum and its default of 22 (4 MiB). On 150
 * of the bench corpus' scripts and styles (8 MB) this made quality 9 2.2x faster than the
 * default window, for the same bytes (2,657,084 vs 2,658,561): the encoder sets up tables
 * sized to the window for every body.
 */
export function brotliWindowBits(bytes: number): number {
  return Math.min(constants.BROTLI_DEFAULT_WINDOW, Math.max(constants.BROTLI_MIN_WINDOW_BITS, Math.ceil(Math.log2(bytes + 1))));
}

export interface Variants {
  br?: Buffer;
  gzip?: Buffer;
}

export async function encodeVariants(body: Buffer, brotliQuality: number): Promise<Variants> {
  if (body.length < MIN_COMPRESS_BYTES) return {};
  const [br, gz] = await Promise.all([
    brotliAsync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: brotliQuality,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
        [constants.BROTLI_PARAM_LGWIN]: brotliWindowBits(body.length),
      },
    }),
    gzipAsync(body, { level: GZIP_LEVEL }),
  ]);
  const limit = body.length * (1 - MIN_SAVING);
  const out: Variants = {};
  if (br.length <= limit) out.br = br;
  if (gz.length <= limit) out.gzip = gz;
  return out;
}
