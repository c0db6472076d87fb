/**
 * The owner side of the peer protocol: `GET /_hashedge/peer/<encodeURIComponent(key)>`.
 * Always served locally (cache, else origin), never forwarded again, so nodes that disagree
 * about the ring cannot loop. The key passes the same checks as a client's path: a peer
 * request reaches nothing a client request could not. Bodies stream (identity bytes); a large
 * object on disk streams from its file (verified as the disk tier verifies, never read whole).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { contentTypeFor } from '../asset/content-type.js';
import type { ImmutabilityPolicy } from '../asset/immutability.js';
import { parseAssetPath } from '../asset/key.js';
import type { Group, Lookup } from '../cache/group.js';
import type { PeerAuth } from '../cluster/peer-auth.js';
import { PEER_CACHE_CONTROL_HEADER, PEER_PATH, PEER_SHA256_HEADER } from '../cluster/peers.js';
import { asEdgeError, EdgeError, NotFoundError, RequestPathError, UnauthorizedError } from '../errors.js';
import type { Logger } from '../log.js';
import { pumpFill } from './fill-stream.js';
import { sendError } from './respond.js';

export interface PeerRouteOptions {
  readonly group: Group;
  readonly auth: PeerAuth;
  /** The same immutability decision as for a client's request. */
  readonly immutability: ImmutabilityPolicy;
  readonly log: Logger;
}

export function createPeerRoute(options: PeerRouteOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { group, auth, log } = options;
  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      const edge = asEdgeError(err);
      if (edge.status >= 500) log.warn({ event: 'peer_route_failed', code: edge.code });
      sendError(res, edge, req.method === 'HEAD');
    });
  };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!auth.allows(req)) throw new UnauthorizedError('The peer route is for cluster members.');
    if (req.method !== 'GET') throw new EdgeError('E_METHOD_NOT_ALLOWED', 405, 'The peer route answers GET only.');
    const raw = (req.url ?? '').slice(PEER_PATH.length).split('?', 1)[0]!;
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      throw new RequestPathError('E_BAD_PATH', 'The key is not valid percent-encoded UTF-8.');
    }
    // The same checks a client path gets; `%` cannot survive them, so no second decoding.
    const asset = parseAssetPath('/' + key);
    if (asset.key !== key) throw new RequestPathError('E_BAD_PATH', 'The key is not in normal form.');
    const verdict = options.immutability.decide(key);
    // A refused key answers 404 like a missing one: the asking node refuses it in turn.
    if (options.immutability.refusesBeforeFetch(verdict)) throw new RequestPathError('E_NOT_HASHED', 'Only immutable keys are served.');

    // A hand-over asks for a copy only (Cache-Control: only-if-cached): never a load here. A
    // copy on disk counts (read and verified, or streamed from its file, as below).
    let lookup: Lookup;
    if (/\bonly-if-cached\b/i.test(String(req.headers['cache-control'] ?? ''))) {
      const cached = await group.cached(key, { fromFile: true });
      if (cached === undefined) throw new NotFoundError();
      lookup = cached;
    } else {
      // fromFile: a large object on disk is streamed from its file with backpressure, not read
      // into memory and promoted (a 200 MB file per peer request would cost its size in memory).
      lookup = await group.lookup(key, verdict, { local: true, fromFile: true });
    }
    if (lookup.kind === 'not-found') throw new NotFoundError();
    if (lookup.kind === 'not-immutable') throw new RequestPathError('E_NOT_HASHED', 'Only immutable keys are served.');
    let meta: { size: number; contentType: string | undefined; lastModified: string | undefined; cacheControl: string | undefined };
    if (lookup.kind === 'blob' || lookup.kind === 'file') {
      const object = lookup.kind === 'blob' ? lookup.blob : lookup.object;
      meta = { size: object.size, contentType: object.contentType, lastModified: object.lastModified, cacheControl: object.originCacheControl };
    } else {
      const object = lookup.kind === 'filling' ? lookup.fill.object : lookup.object;
      // The origin's Content-Type is untrusted (CR/LF would make writeHead throw): the same
      // validation as for a client's response.
      meta = { size: object.size, contentType: contentTypeFor(key, object.contentType), lastModified: object.lastModified?.toUTCString(), cacheControl: object.cacheControl };
    }
    const headers: Record<string, string> = { 'content-length': String(meta.size), 'cache-control': 'no-store' };
    if (meta.contentType !== undefined) headers['content-type'] = meta.contentType;
    if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
    // Evidence the asking node weighs as its own origin's word; untrusted, so only a clean value.
    if (meta.cacheControl !== undefined && /^[\x20-\x7e]{1,256}$/.test(meta.cacheControl)) headers[PEER_CACHE_CONTROL_HEADER] = meta.cacheControl;
    if (lookup.kind === 'blob') headers[PEER_SHA256_HEADER] = lookup.blob.sha256;
    else if (lookup.kind === 'file') headers[PEER_SHA256_HEADER] = lookup.object.sha256;
    try {
      res.writeHead(200, headers);
    } catch (err) {
      if (lookup.kind === 'stream') lookup.object.body.destroy(); // never leave an origin body open
      throw err;
    }
    switch (lookup.kind) {
      case 'blob':
        res.end(lookup.blob.identity.body);
        return;
      case 'file': {
        // The file was verified on its first read in this process (openFile); an I/O error or a
        // short file mid-body cuts the response, which the asking node counts as the owner failing.
        const { offset, length } = lookup.object.identity;
        if (length === 0) res.end();
        else pipeline(lookup.object.read(offset, offset + length - 1), res, () => {});
        return;
      }
      case 'filling':
        await pumpFill(lookup.fill, res, 0, lookup.fill.size - 1);
        return;
      case 'stream':
        pipeline(lookup.object.body, res, () => {});
        return;
    }
  }
}
