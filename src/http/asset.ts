/**
 * GET/HEAD/OPTIONS of an asset. This is the hot path and is written for speed on purpose:
 *  - it never enters Express (its router costs ~7x throughput on a hot small file);
 *  - a hit with no conditional or Range header is one memoised path parse, one synchronous
 *    cache lookup, one memoised Accept-Encoding lookup and one writeHead with a head serialised
 *    once per blob (prepared-head.ts) plus its Age line: no per-request header objects or
 *    header validation, no compression, no await.
 * `npm run bench` (small hot asset vs a bare node:http server) guards it.
 * Everything else (conditionals, ranges, misses) takes the slower, plainer path below.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { contentTypeFor } from '../asset/content-type.js';
import type { ImmutabilityPolicy, Verdict } from '../asset/immutability.js';
import { parseAssetPath, type AssetKey } from '../asset/key.js';
import type { Blob } from '../cache/blob.js';
import { isCompressible } from '../cache/encode.js';
import type { Fill } from '../cache/fill.js';
import type { FetchStatus, Group } from '../cache/group.js';
import { asEdgeError, EdgeError, MethodNotAllowedError, NotFoundError, RequestPathError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ByteRange, OriginObject } from '../origin/origin.js';
import { evaluatePreconditions } from './conditional.js';
import { ageLine, ageSeconds, CACHE_STATUS, cacheStatusHeader, type CacheStatus, type HeaderPolicy } from './headers.js';
import { chooseRepresentation } from './negotiate.js';
import { decideRange } from './range.js';
import { sendError } from './respond.js';
import { pumpFill } from './fill-stream.js';
import type { EdgeResponse } from './prepared-head.js';
import { toHttpSecond } from '../units.js';
import type { CacheResult, Traffic } from '../stats/traffic.js';

const ALLOW = 'GET, HEAD, OPTIONS';
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

export interface AssetHandlerOptions {
  readonly group: Group;
  readonly headers: HeaderPolicy;
  /** Decides, per key, whether it is immutable and why. */
  readonly immutability: ImmutabilityPolicy;
  /** Settles once the origin's build manifests were first read (keys they list wait for it). */
  readonly manifestsRead?: Promise<void>;
  /** ms an origin 404 is remembered (sent as the 404's max-age). */
  readonly negativeTtl: number;
  /** Counts every response (status, cache result, body bytes) and the keys requested. */
  readonly traffic: Traffic;
  /** Told of each response as it starts (the access log). */
  readonly onResponse?: (res: EdgeResponse, status: number, cache: CacheResult, bytes: number) => void;
  readonly log: Logger;
  readonly clock?: () => number;
}

export type AssetHandler = (req: IncomingMessage, res: EdgeResponse) => void;

export function createAssetHandler(options: AssetHandlerOptions): AssetHandler {
  const { group, headers: policy, immutability, traffic, onResponse, log } = options;
  let manifestsRead = options.manifestsRead;
  void manifestsRead?.then(() => (manifestsRead = undefined));
  const clock = options.clock ?? Date.now;
  const notFoundCacheControl = options.negativeTtl > 0 ? `public, max-age=${Math.ceil(options.negativeTtl / 1000)}` : 'no-store';

  function handleAsset(req: IncomingMessage, res: EdgeResponse): void {
    const method = req.method;
    const isHead = method === 'HEAD';
    if (method !== 'GET' && !isHead) {
      if (method === 'OPTIONS') handleOptions(req, res);
      else fail(res, new MethodNotAllowedError(method ?? ''), false, 'none', { ...policy.common, allow: ALLOW });
      return;
    }
    let asset: AssetKey;
    try {
      asset = parseAssetPath(req.url ?? '/');
    } catch (err) {
      fail(res, asEdgeError(err), isHead, 'none', policy.common);
      return;
    }
    const blob = group.peek(asset.key);
    if (blob !== undefined) {
      traffic.countKey(asset.key);
      sendBlob(req, res, blob, 'hit', isHead);
      return;
    }
    serveMiss(req, res, asset, isHead).catch((err: unknown) => {
      const edge = asEdgeError(err);
      if (edge.status >= 500) log.warn({ event: 'request_failed', key: asset.key, code: edge.code });
      fail(res, edge, isHead, 'miss', policy.common);
    });
  }

  /** Every response is counted once, when its status is decided (and told to the access log). */
  function count(res: EdgeResponse, status: number, cache: CacheResult, bytes: number): void {
    traffic.record(status, cache, bytes);
    if (onResponse !== undefined) onResponse(res, status, cache, bytes);
  }

  /** An error response, counted. */
  function fail(res: EdgeResponse, err: EdgeError, isHead: boolean, cache: CacheResult, headers: OutgoingHttpHeaders): void {
    const bytes = sendError(res, err, isHead, headers);
    // -1: the response was underway (and counted when it started); it was cut instead.
    if (bytes >= 0) count(res, err.status || 500, cache, bytes);
  }

  /** `stored`: a blob fetched from its owner that this node kept (Cache-Status says both). */
  function sendBlob(req: IncomingMessage, res: EdgeResponse, blob: Blob, status: FetchStatus, isHead: boolean, stored = false): void {
    const h = req.headers;
    const range = isHead ? undefined : h.range;
    const debug = h[DEBUG_HEADER] !== undefined;
    if (range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined) {
      const rep = chooseRepresentation(blob, h['accept-encoding']);
      if (status === 'hit' && !policy.corsPerRequest && !debug) res.writePreparedHead(200, policy.hit(blob, rep), ageLine(blob, clock()));
      else res.writeHead(200, policy.withCors(withStatus(policy.base(blob, rep), blob, status, stored, debug), h));
      res.end(isHead ? undefined : rep.body);
      count(res, 200, status, isHead ? 0 : rep.body.length);
      return;
    }
    // Ranges are served from the identity bytes, so a ranged request selects identity.
    const rep = range === undefined ? chooseRepresentation(blob, h['accept-encoding']) : blob.identity;
    const base = policy.base(blob, rep);
    const precondition = evaluatePreconditions(h, rep.etag, blob.lastModifiedMs);
    if (precondition === 'failed') {
      fail(res, new EdgeError('E_PRECONDITION_FAILED', 412, 'A precondition (If-Match or If-Unmodified-Since) does not hold.'), isHead, status, policy.withCors({ ...policy.common, etag: rep.etag }, h));
      return;
    }
    if (precondition === 'not-modified') {
      const out: OutgoingHttpHeaders = { ...policy.common, etag: rep.etag, 'cache-control': base['cache-control'], 'last-modified': blob.lastModified };
      if (base.vary !== undefined) out.vary = base.vary;
      res.writeHead(304, policy.withCors(withStatus(out, blob, status, stored), h));
      res.end();
      count(res, 304, status, 0);
      return;
    }
    if (range !== undefined) {
      const size = blob.size;
      const decision = decideRange(range, ifRange(h), size, rep.etag, blob.lastModifiedMs);
      if (decision.kind === 'unsatisfiable') {
        sendRangeNotSatisfiable(res, size, h, status);
        return;
      }
      if (decision.kind === 'partial') {
        const body = blob.identity.body;
        if (decision.ranges.length === 1) {
          const { start, end } = decision.ranges[0]!;
          const out = withStatus({ ...base, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}` }, blob, status, stored);
          res.writeHead(206, policy.withCors(out, h));
          res.end(body.subarray(start, end + 1));
          count(res, 206, status, end - start + 1);
          return;
        }
        const multipart = multipartBody(body, decision.ranges, blob.contentType);
        const out = withStatus({ ...base, 'content-type': multipart.contentType, 'content-length': String(multipart.length) }, blob, status, stored);
        res.writeHead(206, policy.withCors(out, h));
        for (const part of multipart.parts) res.write(part);
        res.end();
        count(res, 206, status, multipart.length);
        return;
      }
    }
    res.writeHead(200, policy.withCors(withStatus(base, blob, status, stored), h));
    res.end(isHead ? undefined : rep.body);
    count(res, 200, status, isHead ? 0 : rep.body.length);
  }

  function withStatus(headers: Readonly<OutgoingHttpHeaders>, blob: Blob, status: CacheStatus, stored: boolean, debug = false): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = { ...headers, age: String(ageSeconds(blob, clock())), 'cache-status': cacheStatusHeader(status, stored) };
    if (debug) {
      out[IMMUTABILITY_HEADER] = immutabilityHeader(blob.expiresAt === 0, blob.immutability);
      out[SHA256_HEADER] = blob.sha256;
    }
    return out;
  }

  /** 404 E_NOT_HASHED: the key is not known to be immutable; the message says what would serve it. */
  function notHashed(res: EdgeResponse, asset: AssetKey, verdict: Verdict, isHead: boolean, cache: CacheResult, h: IncomingMessage['headers']): void {
    const headers: OutgoingHttpHeaders = { ...policy.withCors(policy.common, h) };
    if (h[DEBUG_HEADER] !== undefined) headers[IMMUTABILITY_HEADER] = immutabilityHeader(false, verdict.reason);
    fail(res, new RequestPathError('E_NOT_HASHED', `Only immutable assets are served. ${immutability.hint(asset.key, verdict)}`), isHead, cache, headers);
  }

  function sendRangeNotSatisfiable(res: EdgeResponse, size: number, h: IncomingMessage['headers'], cache: CacheResult): void {
    fail(res, new EdgeError('E_RANGE_NOT_SATISFIABLE', 416, `The range is outside the asset's ${size} bytes.`), false, cache, policy.withCors({ ...policy.common, 'content-range': `bytes */${size}` }, h));
  }

  async function serveMiss(req: IncomingMessage, res: EdgeResponse, asset: AssetKey, isHead: boolean): Promise<void> {
    let verdict = immutability.decide(asset.key);
    if (verdict.open && manifestsRead !== undefined) {
      // Start-up: a build manifest may still name this key.
      await manifestsRead;
      verdict = immutability.decide(asset.key);
    }
    // Refused before any origin request, unless the origin's stored Cache-Control may still speak.
    if (immutability.refusesBeforeFetch(verdict)) {
      notHashed(res, asset, verdict, isHead, 'none', req.headers);
      return;
    }
    traffic.countKey(asset.key);
    const lookup = await group.lookup(asset.key, verdict);
    switch (lookup.kind) {
      case 'blob':
        sendBlob(req, res, lookup.blob, lookup.status, isHead, lookup.stored);
        return;
      case 'not-found':
        fail(res, new NotFoundError(), isHead, lookup.status === 'hit' ? 'hit' : 'miss', {
          ...policy.withCors(policy.common, req.headers),
          'cache-control': notFoundCacheControl,
          'cache-status': lookup.status === 'hit' ? CACHE_STATUS.hit : 'hashedge; fwd=miss; fwd-status=404',
        });
        return;
      case 'not-immutable':
        notHashed(res, asset, lookup.verdict, isHead, lookup.status === 'hit' ? 'hit' : 'miss', req.headers);
        return;
      case 'filling':
        sendFill(req, res, asset, lookup.fill, lookup.status, isHead);
        return;
      case 'stream':
        await sendStream(req, res, asset, lookup.object, lookup.verdict, isHead);
        return;
    }
  }

  /** Headers for an object not (yet) in the cache: no ETag, since its hash is not known yet. */
  function streamHeaders(asset: AssetKey, object: Omit<OriginObject, 'body'>, verdict: Verdict, status: CacheStatus, h: IncomingMessage['headers']): OutgoingHttpHeaders {
    const contentType = contentTypeFor(asset.key, object.contentType);
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
    if (h[DEBUG_HEADER] !== undefined) out[IMMUTABILITY_HEADER] = immutabilityHeader(verdict.immutable, verdict.reason);
    return policy.withCors(out, h);
  }

  /** A single satisfiable range of a streamed object, or why not. */
  function streamRange(req: IncomingMessage, object: Omit<OriginObject, 'body'>, isHead: boolean): ByteRange | 'full' | 'unsatisfiable' {
    if (isHead || req.headers.range === undefined) return 'full';
    const lastModifiedMs = toHttpSecond(object.lastModified?.getTime() ?? NaN);
    const decision = decideRange(req.headers.range, ifRange(req.headers), object.size, undefined, lastModifiedMs);
    if (decision.kind === 'partial') return decision.ranges.length === 1 ? decision.ranges[0]! : 'full';
    return decision.kind;
  }

  function sendFill(req: IncomingMessage, res: EdgeResponse, asset: AssetKey, fill: Fill, status: FetchStatus, isHead: boolean): void {
    const headers = streamHeaders(asset, fill.object, fill.verdict, status, req.headers);
    const range = streamRange(req, fill.object, isHead);
    if (range === 'unsatisfiable') {
      sendRangeNotSatisfiable(res, fill.size, req.headers, status);
      return;
    }
    if (range === 'full') {
      res.writeHead(200, headers);
      count(res, 200, status, isHead ? 0 : fill.size);
      if (isHead) res.end();
      else void pumpFill(fill, res, 0, fill.size - 1);
      return;
    }
    res.writeHead(206, { ...headers, 'content-length': String(range.end - range.start + 1), 'content-range': `bytes ${range.start}-${range.end}/${fill.size}` });
    count(res, 206, status, range.end - range.start + 1);
    void pumpFill(fill, res, range.start, range.end);
  }

  async function sendStream(req: IncomingMessage, res: EdgeResponse, asset: AssetKey, object: OriginObject, verdict: Verdict, isHead: boolean): Promise<void> {
    const headers = streamHeaders(asset, object, verdict, 'uncached', req.headers);
    const range = streamRange(req, object, isHead);
    if (range !== 'full' || isHead) object.body.destroy();
    if (range === 'unsatisfiable') {
      sendRangeNotSatisfiable(res, object.size, req.headers, 'uncached');
      return;
    }
    if (isHead) {
      res.writeHead(200, headers);
      res.end();
      count(res, 200, 'uncached', 0);
      return;
    }
    let body = object.body;
    if (range !== 'full') {
      const ranged = await group.openUncached(asset.key, range);
      if (ranged === null) throw new NotFoundError();
      body = ranged.body;
      res.writeHead(206, { ...headers, 'content-length': String(range.end - range.start + 1), 'content-range': `bytes ${range.start}-${range.end}/${object.size}` });
      count(res, 206, 'uncached', range.end - range.start + 1);
    } else {
      res.writeHead(200, headers);
      count(res, 200, 'uncached', object.size);
    }
    // Backpressure end to end; a client that goes away destroys the origin stream with it.
    pipeline(body, res, (err) => {
      if (err && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        log.warn({ event: 'stream_failed', key: asset.key, code: asEdgeError(err).code });
      }
    });
  }

  function handleOptions(req: IncomingMessage, res: EdgeResponse): void {
    const h = req.headers;
    if (h.origin === undefined || h['access-control-request-method'] === undefined) {
      res.writeHead(204, { ...policy.common, allow: ALLOW });
      res.end();
      count(res, 204, 'none', 0);
      return;
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
    res.writeHead(204, out);
    res.end();
    count(res, 204, 'none', 0);
  }

  return handleAsset;
}

function ifRange(h: IncomingMessage['headers']): string | undefined {
  const value = h['if-range'];
  return Array.isArray(value) ? value[0] : value;
}

function httpDate(date: Date | undefined): string {
  return (date ?? new Date()).toUTCString(); // toUTCString drops the milliseconds
}

function multipartBody(body: Buffer, ranges: readonly ByteRange[], contentType: string): { contentType: string; parts: Buffer[]; length: number } {
  const boundary = randomBytes(12).toString('hex');
  const parts: Buffer[] = [];
  for (const { start, end } of ranges) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${start}-${end}/${body.length}\r\n\r\n`));
    parts.push(body.subarray(start, end + 1));
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, length: parts.reduce((n, p) => n + p.length, 0) };
}
