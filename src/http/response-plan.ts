/**
 * What an asset request is answered with, decided once for every transport: given the
 * request's method and headers and the cache's answer, the status, the headers and the body
 * (byte slices, a Fill's range, an origin stream or a span of a disk file). The HTTP/1 writer (h1-response.ts) and the
 * HTTP/2 stream writer (h2-response.ts) only write a plan; asset.ts runs the lookups and counts.
 *
 * A hit without conditional or Range headers keeps the hot path's shape: its plan carries the
 * head serialised once per representation (prepared-head.ts) and its Age as a number, so no
 * header object is built per request.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { contentTypeFor } from '../asset/content-type.js';
import type { Verdict } from '../asset/immutability.js';
import type { Blob } from '../cache/blob.js';
import type { FileObject, FilePart } from '../cache/disk/file-object.js';
import { isCompressible } from '../cache/encode.js';
import type { Fill } from '../cache/fill.js';
import type { FetchStatus } from '../cache/group.js';
import { EdgeError, NotFoundError } from '../errors.js';
import type { ByteRange, OriginObject } from '../origin/origin.js';
import type { CacheResult } from '../stats/traffic.js';
import { toHttpSecond } from '../units.js';
import { evaluatePreconditions } from './conditional.js';
import { ageSeconds, CACHE_STATUS, cacheStatusHeader, type CacheStatus, type CacheStatusDetail, type HeaderPolicy } from './headers.js';
import { chooseRepresentation } from './negotiate.js';
import type { PreparedHead } from './prepared-head.js';
import { decideRange } from './range.js';
import { errorResponse } from './respond.js';

export const ALLOW = 'GET, HEAD, OPTIONS';
/**
 * A request header that asks for the immutability verdict in the response, like Fastly-Debug:
 * `Hashedge-Immutable: yes; name: base64url hash BwT4yKxK`. Hits with it take the slower path.
 */
export const DEBUG_HEADER = 'hashedge-debug';
export const IMMUTABILITY_HEADER = 'hashedge-immutable';
/** With the debug header: the SHA-256 (hex) of the identity bytes, for `hashedge get --verify`. */
export const SHA256_HEADER = 'hashedge-sha256';

/** The debug header's value: visible ASCII only (a reason can quote the origin's Cache-Control). */
export function immutabilityHeader(immutable: boolean, reason: string): string {
  return `${immutable ? 'yes' : 'no'}; ${reason.replace(/[^\x20-\x7e]/g, '?')}`;
}

/** The parts of a request that planning reads (an http.IncomingMessage is one). */
export interface AssetRequest {
  readonly method?: string | undefined;
  /** The request target (path and query). */
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** Bytes [start, end] of a Fill, sent as they arrive. */
export interface FillBody {
  readonly fill: Fill;
  readonly start: number;
  readonly end: number;
}

/** An origin stream piped to the client with backpressure; `onError` is told of a failure. */
export interface StreamBody {
  readonly stream: Readable;
  readonly onError: (err: Error) => void;
}

/**
 * Spans of a disk-held object's file (file offsets) and, for a multipart body, the part heads
 * between them: read as the client takes them.
 */
export interface FileBody {
  readonly file: FileObject;
  readonly parts: readonly FilePart[];
}

export type PlanBody = undefined | Buffer | readonly Buffer[] | FillBody | StreamBody | FileBody;

export interface ResponsePlan {
  readonly status: number;
  /**
   * Every header; for a prepared hit, the prepared head's headers (`prepared.all`) without Age,
   * which `age` then gives.
   */
  readonly headers: Readonly<OutgoingHttpHeaders>;
  /** A hit's head serialised once (HTTP/1 writes its lines as they are). */
  readonly prepared?: PreparedHead;
  /** With `prepared`: the Age header's value in seconds. */
  readonly age?: number;
  /** undefined: no body (HEAD, 304, 204). */
  readonly body: PlanBody;
  /** How the cache took part, for the counters and the access log. */
  readonly cache: CacheResult;
  /** Body bytes the plan sends (Content-Length), for the counters. */
  readonly bytes: number;
}

export function isFillBody(body: PlanBody): body is FillBody {
  return body !== undefined && !Buffer.isBuffer(body) && !Array.isArray(body) && (body as FillBody).fill !== undefined;
}

export function isFileBody(body: PlanBody): body is FileBody {
  return body !== undefined && !Buffer.isBuffer(body) && !Array.isArray(body) && (body as FileBody).file !== undefined;
}

export function isStreamBody(body: PlanBody): body is StreamBody {
  return body !== undefined && !Buffer.isBuffer(body) && !Array.isArray(body) && (body as StreamBody).stream !== undefined;
}

/** Where a plan is written: an HTTP/1 response (h1-response.ts) or an HTTP/2 stream (h2-response.ts). */
export interface ResponseSink {
  /** Writes the head, then the body: bytes at once, a Fill as it arrives, a stream piped with backpressure. */
  sendPlan(plan: ResponsePlan): void;
  /** Whether a head was sent already (an error can then only cut the response). */
  readonly headersSent: boolean;
  /** Ends the response abruptly: the connection (HTTP/1) or the stream (HTTP/2, RST_STREAM). */
  destroy(): void;
  /** The client's address, for the access log. */
  readonly clientAddress: string | undefined;
  /** `h2`, or `http/1.1` (over TLS or not). */
  readonly protocol: 'h2' | 'http/1.1';
}

export interface ResponsePlannerOptions {
  readonly headers: HeaderPolicy;
  /** ms an origin 404 is remembered (sent as the 404's max-age). */
  readonly negativeTtl: number;
  readonly clock?: () => number;
}

/** Metadata of an object not (yet) in the cache: a Fill's or an origin stream's. */
type StreamedObject = Omit<OriginObject, 'body'>;

export class ResponsePlanner {
  readonly #policy: HeaderPolicy;
  readonly #clock: () => number;
  readonly #notFoundCacheControl: string;

  constructor(options: ResponsePlannerOptions) {
    this.#policy = options.headers;
    this.#clock = options.clock ?? Date.now;
    this.#notFoundCacheControl = options.negativeTtl > 0 ? `public, max-age=${Math.ceil(options.negativeTtl / 1000)}` : 'no-store';
  }

  /** The headers on every asset response, errors included (CORS, nosniff, CORP). */
  get common(): Readonly<OutgoingHttpHeaders> {
    return this.#policy.common;
  }

  /**
   * A cached blob: 200 (prepared for a plain memory hit), 304, 412, 206 (one range or multipart)
   * or 416. `detail` (Cache-Status): `stored`, a blob fetched from its owner that this node
   * kept; `disk`, a hit this request read from the disk tier.
   */
  blob(req: AssetRequest, blob: Blob, status: FetchStatus, isHead: boolean, detail?: CacheStatusDetail): ResponsePlan {
    const policy = this.#policy;
    const h = req.headers;
    const range = isHead ? undefined : h.range;
    const debug = h[DEBUG_HEADER] !== undefined;
    if (range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined) {
      const rep = chooseRepresentation(blob, h['accept-encoding']);
      const body = isHead ? undefined : rep.body;
      const bytes = isHead ? 0 : rep.body.length;
      if (status === 'hit' && detail === undefined && !policy.corsPerRequest && !debug) {
        const prepared = policy.hit(blob, rep);
        return { status: 200, headers: prepared.all, prepared, age: ageSeconds(blob, this.#clock()), body, cache: status, bytes };
      }
      return { status: 200, headers: policy.withCors(this.#withStatus(policy.base(blob, rep), blob, status, detail, debug), h), body, cache: status, bytes };
    }
    // Ranges are served from the identity bytes, so a ranged request selects identity.
    const rep = range === undefined ? chooseRepresentation(blob, h['accept-encoding']) : blob.identity;
    const base = policy.base(blob, rep);
    const answered = this.#preconditions(req, blob, rep.etag, base, isHead, status, detail);
    if (answered !== undefined) return answered;
    if (range !== undefined) {
      const size = blob.size;
      const decision = decideRange(range, ifRange(h), size, rep.etag, blob.lastModifiedMs);
      if (decision.kind === 'unsatisfiable') return this.rangeNotSatisfiable(req, size, status);
      if (decision.kind === 'partial') {
        const body = blob.identity.body;
        if (decision.ranges.length === 1) {
          const { start, end } = decision.ranges[0]!;
          const out = this.#withStatus({ ...base, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}` }, blob, status, detail);
          return { status: 206, headers: policy.withCors(out, h), body: body.subarray(start, end + 1), cache: status, bytes: end - start + 1 };
        }
        const multipart = multipartBody(decision.ranges, size, blob.contentType, blob.sha256, (start, end) => body.subarray(start, end + 1));
        const out = this.#withStatus({ ...base, 'content-type': multipart.contentType, 'content-length': String(multipart.length) }, blob, status, detail);
        return { status: 206, headers: policy.withCors(out, h), body: multipart.parts, cache: status, bytes: multipart.length };
      }
    }
    return { status: 200, headers: policy.withCors(this.#withStatus(base, blob, status, detail), h), body: isHead ? undefined : rep.body, cache: status, bytes: isHead ? 0 : rep.body.length };
  }

  /**
   * A large object on disk, served from its file (group.ts `file`): everything blob() answers,
   * the same headers and bytes (a multipart body's boundary included), with the body read from
   * the file: one range or several, only the bytes sent.
   */
  file(req: AssetRequest, object: FileObject, isHead: boolean): ResponsePlan {
    const policy = this.#policy;
    const h = req.headers;
    const status = 'hit';
    const range = isHead ? undefined : h.range;
    const debug = h[DEBUG_HEADER] !== undefined;
    // Ranges are served from the identity bytes, so a ranged request selects identity.
    const rep = range === undefined ? chooseRepresentation(object, h['accept-encoding']) : object.identity;
    const base = policy.base(object, rep);
    const answered = this.#preconditions(req, object, rep.etag, base, isHead, status, 'disk');
    if (answered !== undefined) return answered;
    if (range !== undefined) {
      const size = object.size;
      const decision = decideRange(range, ifRange(h), size, rep.etag, object.lastModifiedMs);
      if (decision.kind === 'unsatisfiable') return this.rangeNotSatisfiable(req, size, status);
      if (decision.kind === 'partial') {
        const span = (start: number, end: number): FilePart => ({ start: rep.offset + start, end: rep.offset + end });
        if (decision.ranges.length === 1) {
          const { start, end } = decision.ranges[0]!;
          const out = this.#withStatus({ ...base, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}` }, object, status, 'disk');
          const body: FileBody = { file: object, parts: [span(start, end)] };
          return { status: 206, headers: policy.withCors(out, h), body, cache: status, bytes: end - start + 1 };
        }
        const multipart = multipartBody(decision.ranges, size, object.contentType, object.sha256, span);
        const out = this.#withStatus({ ...base, 'content-type': multipart.contentType, 'content-length': String(multipart.length) }, object, status, 'disk');
        return { status: 206, headers: policy.withCors(out, h), body: { file: object, parts: multipart.parts }, cache: status, bytes: multipart.length };
      }
    }
    const body: FileBody | undefined = isHead || rep.length === 0 ? undefined : { file: object, parts: [{ start: rep.offset, end: rep.offset + rep.length - 1 }] };
    return { status: 200, headers: policy.withCors(this.#withStatus(base, object, status, 'disk', debug), h), body, cache: status, bytes: body === undefined ? 0 : rep.length };
  }

  /** An error with its code (respond.ts), plus the asset path's common headers given in `headers`. */
  error(err: EdgeError, isHead: boolean, cache: CacheResult, headers: OutgoingHttpHeaders): ResponsePlan {
    const response = errorResponse(err, isHead, headers);
    return { status: response.status, headers: response.headers, body: response.body, cache, bytes: response.body?.length ?? 0 };
  }

  /** 404 E_NOT_FOUND: the origin has no such object (remembered for --negative-ttl). */
  notFound(req: AssetRequest, isHead: boolean, fromNegativeCache: boolean): ResponsePlan {
    const cache: CacheResult = fromNegativeCache ? 'hit' : 'miss';
    return this.error(new NotFoundError(), isHead, cache, {
      ...this.#policy.withCors(this.#policy.common, req.headers),
      'cache-control': this.#notFoundCacheControl,
      'cache-status': fromNegativeCache ? CACHE_STATUS.hit : 'hashedge; fwd=miss; fwd-status=404',
    });
  }

  /** An error answered with the common headers and CORS (unknown path, not hashed, origin failed). */
  assetError(req: AssetRequest, err: EdgeError, isHead: boolean, cache: CacheResult, verdictForDebug?: Verdict): ResponsePlan {
    const headers: OutgoingHttpHeaders = { ...this.#policy.withCors(this.#policy.common, req.headers) };
    if (verdictForDebug !== undefined && req.headers[DEBUG_HEADER] !== undefined) headers[IMMUTABILITY_HEADER] = immutabilityHeader(false, verdictForDebug.reason);
    return this.error(err, isHead, cache, headers);
  }

  /** 405 for methods other than GET, HEAD and OPTIONS. */
  methodNotAllowed(err: EdgeError): ResponsePlan {
    return this.error(err, false, 'none', { ...this.#policy.common, allow: ALLOW });
  }

  rangeNotSatisfiable(req: AssetRequest, size: number, cache: CacheResult): ResponsePlan {
    const err = new EdgeError('E_RANGE_NOT_SATISFIABLE', 416, `The range is outside the asset's ${size} bytes.`);
    return this.error(err, false, cache, this.#policy.withCors({ ...this.#policy.common, 'content-range': `bytes */${size}` }, req.headers));
  }

  /** A single satisfiable range of a streamed object, or why not (several ranges: the whole object). */
  streamRange(req: AssetRequest, object: StreamedObject, isHead: boolean): ByteRange | 'full' | 'unsatisfiable' {
    const range = req.headers.range;
    if (isHead || range === undefined) return 'full';
    const lastModifiedMs = toHttpSecond(object.lastModified?.getTime() ?? NaN);
    const decision = decideRange(range, ifRange(req.headers), object.size, undefined, lastModifiedMs);
    if (decision.kind === 'partial') return decision.ranges.length === 1 ? decision.ranges[0]! : 'full';
    return decision.kind;
  }

  /**
   * An object not (yet) in the cache, whole (200) or one range (206): its headers have no ETag,
   * since its hash is not known yet. `key` names it (for its content type).
   */
  streamed(req: AssetRequest, key: string, object: StreamedObject, verdict: Verdict, status: CacheStatus, range: ByteRange | 'full', isHead: boolean, body: FillBody | StreamBody | undefined): ResponsePlan {
    const policy = this.#policy;
    const contentType = contentTypeFor(key, object.contentType);
    const out: OutgoingHttpHeaders = {
      ...policy.common,
      'content-type': contentType,
      'content-length': String(object.size),
      'cache-control': policy.cacheControl(verdict.immutable),
      'last-modified': httpDate(object.lastModified),
      'accept-ranges': 'bytes',
      age: '0',
      'cache-status': CACHE_STATUS[status],
    };
    const vary = policy.vary(isCompressible(contentType));
    if (vary !== undefined) out.vary = vary;
    if (req.headers[DEBUG_HEADER] !== undefined) out[IMMUTABILITY_HEADER] = immutabilityHeader(verdict.immutable, verdict.reason);
    if (range === 'full') return { status: 200, headers: policy.withCors(out, req.headers), body: isHead ? undefined : body, cache: status, bytes: isHead ? 0 : object.size };
    out['content-length'] = String(range.end - range.start + 1);
    out['content-range'] = `bytes ${range.start}-${range.end}/${object.size}`;
    return { status: 206, headers: policy.withCors(out, req.headers), body, cache: status, bytes: range.end - range.start + 1 };
  }

  /** OPTIONS: 204 with Allow, or a CORS preflight's answer. */
  options(req: AssetRequest): ResponsePlan {
    const policy = this.#policy;
    const h = req.headers;
    if (h.origin === undefined || h['access-control-request-method'] === undefined) {
      return { status: 204, headers: { ...policy.common, allow: ALLOW }, body: undefined, cache: 'none', bytes: 0 };
    }
    // CORS preflight (only needed for non-simple requests, e.g. fetch() with a Range header)
    const out: OutgoingHttpHeaders = { allow: ALLOW, 'access-control-allow-methods': ALLOW, 'access-control-max-age': '86400' };
    if (policy.corsPerRequest) out.vary = 'Origin, Access-Control-Request-Headers';
    const allowed = policy.allowsOrigin(h.origin);
    if (allowed !== undefined) {
      out['access-control-allow-origin'] = allowed;
      const requested = h['access-control-request-headers'];
      if (requested !== undefined && /^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$/.test(requested) && requested.length <= 512) {
        out['access-control-allow-headers'] = requested;
      }
    }
    return { status: 204, headers: out, body: undefined, cache: 'none', bytes: 0 };
  }

  /**
   * The 412 or 304 a conditional request gets (RFC 9110 §13.2.2), or undefined when the request
   * goes on to its 200 or 206. The same for an object in memory and one served from its file.
   */
  #preconditions(req: AssetRequest, object: Blob | FileObject, etag: string, base: Readonly<OutgoingHttpHeaders>, isHead: boolean, status: FetchStatus, detail: CacheStatusDetail): ResponsePlan | undefined {
    const policy = this.#policy;
    const h = req.headers;
    const precondition = evaluatePreconditions(h, etag, object.lastModifiedMs);
    if (precondition === 'failed') {
      const err = new EdgeError('E_PRECONDITION_FAILED', 412, 'A precondition (If-Match or If-Unmodified-Since) does not hold.');
      return this.error(err, isHead, status, policy.withCors({ ...policy.common, etag }, h));
    }
    if (precondition === 'not-modified') {
      const out: OutgoingHttpHeaders = { ...policy.common, etag, 'cache-control': base['cache-control'], 'last-modified': object.lastModified };
      if (base.vary !== undefined) out.vary = base.vary;
      return { status: 304, headers: policy.withCors(this.#withStatus(out, object, status, detail), h), body: undefined, cache: status, bytes: 0 };
    }
    return undefined;
  }

  #withStatus(headers: Readonly<OutgoingHttpHeaders>, blob: Pick<Blob, 'storedAt' | 'expiresAt' | 'immutability' | 'sha256'>, status: CacheStatus, detail: CacheStatusDetail, debug = false): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = { ...headers, age: String(ageSeconds(blob, this.#clock())), 'cache-status': cacheStatusHeader(status, detail) };
    if (debug) {
      out[IMMUTABILITY_HEADER] = immutabilityHeader(blob.expiresAt === 0, blob.immutability);
      out[SHA256_HEADER] = blob.sha256;
    }
    return out;
  }
}

function ifRange(h: IncomingHttpHeaders): string | undefined {
  const value = h['if-range'];
  return Array.isArray(value) ? value[0] : value;
}

function httpDate(date: Date | undefined): string {
  return (date ?? new Date()).toUTCString(); // toUTCString drops the milliseconds
}

/**
 * A multipart/byteranges body (RFC 9110 §14.6) of `ranges` of a representation of `size` bytes:
 * each part's head, then its bytes (`slice`: memory's bytes, or a span of a disk file), then the
 * closing boundary. The boundary is the first 24 hex digits of the body's SHA-256, not random:
 * the same answer from memory and from a file, on every node (as the ETag is), and a body cannot
 * hold it unless its author found bytes containing their own hash (~2^96 tries).
 */
function multipartBody<T>(ranges: readonly ByteRange[], size: number, contentType: string, sha256: string, slice: (start: number, end: number) => T): { contentType: string; parts: (Buffer | T)[]; length: number } {
  const boundary = sha256.slice(0, 24);
  const parts: (Buffer | T)[] = [];
  let length = 0;
  const literal = (text: string) => {
    const bytes = Buffer.from(text);
    parts.push(bytes);
    length += bytes.length;
  };
  for (const { start, end } of ranges) {
    literal(`--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${start}-${end}/${size}\r\n\r\n`);
    parts.push(slice(start, end));
    length += end - start + 1;
    literal('\r\n');
  }
  literal(`--${boundary}--\r\n`);
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, length };
}
