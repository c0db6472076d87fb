/**
 * GET/HEAD/OPTIONS of an asset: the key, the cache lookup (and on a miss the origin load),
 * then a plan (response-plan.ts) handed to the transport's writer, counted once.
 *
 * This is the hot path and is written for speed on purpose:
 *  - it never enters Express (its router costs ~7x throughput on a hot small file);
 *  - a hit with no conditional or Range header is one memoised path parse, one synchronous
 *    cache lookup, one memoised Accept-Encoding lookup and one plan whose head was serialised
 *    once per blob (prepared-head.ts), written with its Age line: no per-request header
 *    objects or header validation, no compression, no await.
 * `npm run bench` (small hot asset vs a bare node:http server) guards it.
 * Everything else (conditionals, ranges, misses) takes the slower, plainer path.
 */
import type { ImmutabilityPolicy, Verdict } from '../asset/immutability.js';
import { parseAssetPath, type AssetKey } from '../asset/key.js';
import type { Fill } from '../cache/fill.js';
import type { FetchStatus, Group } from '../cache/group.js';
import { asEdgeError, MethodNotAllowedError, NotFoundError, RequestPathError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OriginObject } from '../origin/origin.js';
import type { CacheResult, Traffic } from '../stats/traffic.js';
import type { HeaderPolicy } from './headers.js';
import { ResponsePlanner, type AssetRequest, type ResponsePlan, type ResponseSink } from './response-plan.js';

export { DEBUG_HEADER, IMMUTABILITY_HEADER, SHA256_HEADER, immutabilityHeader, type AssetRequest, type ResponseSink } from './response-plan.js';

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
  readonly onResponse?: (req: AssetRequest, res: ResponseSink, status: number, cache: CacheResult, bytes: number) => void;
  readonly log: Logger;
  readonly clock?: () => number;
}

/** Answers one asset request on any transport: `res` writes the plan (HTTP/1 or HTTP/2). */
export type AssetHandler = (req: AssetRequest, res: ResponseSink) => void;

export function createAssetHandler(options: AssetHandlerOptions): AssetHandler {
  const { group, immutability, traffic, onResponse, log } = options;
  const planner = new ResponsePlanner({ headers: options.headers, negativeTtl: options.negativeTtl, ...(options.clock ? { clock: options.clock } : {}) });
  let manifestsRead = options.manifestsRead;
  void manifestsRead?.then(() => (manifestsRead = undefined));

  function handleAsset(req: AssetRequest, res: ResponseSink): void {
    const method = req.method;
    const isHead = method === 'HEAD';
    if (method !== 'GET' && !isHead) {
      if (method === 'OPTIONS') send(req, res, planner.options(req));
      else send(req, res, planner.methodNotAllowed(new MethodNotAllowedError(method ?? '')));
      return;
    }
    let asset: AssetKey;
    try {
      asset = parseAssetPath(req.url ?? '/');
    } catch (err) {
      send(req, res, planner.error(asEdgeError(err), isHead, 'none', planner.common));
      return;
    }
    const blob = group.peek(asset.key);
    if (blob !== undefined) {
      traffic.countKey(asset.key);
      send(req, res, planner.blob(req, blob, 'hit', isHead));
      return;
    }
    serveMiss(req, res, asset, isHead).catch((err: unknown) => {
      const edge = asEdgeError(err);
      if (edge.status >= 500) log.warn({ event: 'request_failed', key: asset.key, code: edge.code });
      send(req, res, planner.assetError(req, edge, isHead, 'miss'));
    });
  }

  /**
   * Writes a plan and counts it: every response once, when its status is decided (and told to
   * the access log). A response already underway is cut instead (and was counted when it started).
   */
  function send(req: AssetRequest, res: ResponseSink, plan: ResponsePlan): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.sendPlan(plan);
    traffic.record(plan.status, plan.cache, plan.bytes);
    if (onResponse !== undefined) onResponse(req, res, plan.status, plan.cache, plan.bytes);
  }

  /** 404 E_NOT_HASHED: the key is not known to be immutable; the message says what would serve it. */
  function notHashed(req: AssetRequest, res: ResponseSink, asset: AssetKey, verdict: Verdict, isHead: boolean, cache: CacheResult): void {
    const err = new RequestPathError('E_NOT_HASHED', `Only immutable assets are served. ${immutability.hint(asset.key, verdict)}`);
    send(req, res, planner.assetError(req, err, isHead, cache, verdict));
  }

  async function serveMiss(req: AssetRequest, res: ResponseSink, asset: AssetKey, isHead: boolean): Promise<void> {
    let verdict = immutability.decide(asset.key);
    if (verdict.open && manifestsRead !== undefined) {
      // Start-up: a build manifest may still name this key.
      await manifestsRead;
      verdict = immutability.decide(asset.key);
    }
    // Refused before any origin request, unless the origin's stored Cache-Control may still speak.
    if (immutability.refusesBeforeFetch(verdict)) {
      notHashed(req, res, asset, verdict, isHead, 'none');
      return;
    }
    traffic.countKey(asset.key);
    const lookup = await group.lookup(asset.key, verdict, { fromFile: true });
    switch (lookup.kind) {
      case 'blob':
        send(req, res, planner.blob(req, lookup.blob, lookup.status, isHead, lookup.stored ? 'stored' : lookup.disk ? 'disk' : undefined));
        return;
      case 'file':
        send(req, res, planner.file(req, lookup.object, isHead));
        return;
      case 'not-found':
        send(req, res, planner.notFound(req, isHead, lookup.status === 'hit'));
        return;
      case 'not-immutable':
        notHashed(req, res, asset, lookup.verdict, isHead, lookup.status === 'hit' ? 'hit' : 'miss');
        return;
      case 'filling':
        sendFill(req, res, asset, lookup.fill, lookup.status, isHead);
        return;
      case 'stream':
        await sendStream(req, res, asset, lookup.object, lookup.verdict, isHead);
        return;
    }
  }

  function sendFill(req: AssetRequest, res: ResponseSink, asset: AssetKey, fill: Fill, status: FetchStatus, isHead: boolean): void {
    const range = planner.streamRange(req, fill.object, isHead);
    if (range === 'unsatisfiable') {
      send(req, res, planner.rangeNotSatisfiable(req, fill.size, status));
      return;
    }
    const body = range === 'full' ? { fill, start: 0, end: fill.size - 1 } : { fill, start: range.start, end: range.end };
    send(req, res, planner.streamed(req, asset.key, fill.object, fill.verdict, status, range, isHead, body));
  }

  async function sendStream(req: AssetRequest, res: ResponseSink, asset: AssetKey, object: OriginObject, verdict: Verdict, isHead: boolean): Promise<void> {
    const range = planner.streamRange(req, object, isHead);
    if (range !== 'full' || isHead) object.body.destroy();
    if (range === 'unsatisfiable') {
      send(req, res, planner.rangeNotSatisfiable(req, object.size, 'uncached'));
      return;
    }
    let stream = object.body;
    if (range !== 'full') {
      const ranged = await group.openUncached(asset.key, range);
      if (ranged === null) throw new NotFoundError();
      stream = ranged.body;
    }
    const onError = (err: Error) => {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        log.warn({ event: 'stream_failed', key: asset.key, code: asEdgeError(err).code });
      }
    };
    send(req, res, planner.streamed(req, asset.key, object, verdict, 'uncached', range, isHead, { stream, onError }));
  }

  return handleAsset;
}
