/**
 * `POST /_hashedge/purge` (bearer --admin-token): removes keys, or every key under a prefix,
 * from this node and, unless the request came from a peer (hop header), from every other
 * member of the cluster. Answers with what each node removed; 502 E_PURGE_INCOMPLETE when a
 * node did not confirm, so the caller retries (a purge is idempotent). For immutable assets a
 * purge is for takedowns and mistakes, so it is all-or-report, never silently partial.
 *
 * Body: {"keys": ["assets/app-1d18a1d220.js", "/assets/logo-c5866ea484.svg"]} (keys or URL
 * paths, read like a client's path) and/or {"prefix": "assets/"} ("/" purges everything).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { parseAssetPath } from '../asset/key.js';
import type { Group } from '../cache/group.js';
import { HOP_HEADER } from '../cluster/peers.js';
import { EdgeError, UnauthorizedError } from '../errors.js';
import type { Logger } from '../log.js';
import { BearerToken } from '../bearer.js';

export const PURGE_PATH = '/_hashedge/purge';
/** Keys one purge request may name. */
export const MAX_PURGE_KEYS = 10_000;

export interface PurgeOptions {
  readonly group: Group;
  /** Unset: purge is refused (403). */
  readonly adminToken: string | undefined;
  /** This node's name in the answer (its --self, or its URL). */
  readonly self: () => string;
  /** The other members to tell, now (empty outside a cluster). */
  readonly peers: () => readonly string[];
  /** ms a peer may take to confirm. */
  readonly peerTimeoutMs: number;
  readonly log: Logger;
}

export type NodeResult = { readonly node: string; readonly removed: number } | { readonly node: string; readonly error: string };

interface PurgeRequest {
  readonly keys: readonly string[];
  readonly prefix: string | undefined;
}

export function createPurgeRouter(options: PurgeOptions): express.Router {
  const token = options.adminToken === undefined ? undefined : new BearerToken(options.adminToken);
  const router = express.Router();
  router.post(
    PURGE_PATH,
    (req: Request, res: Response, next: NextFunction) => {
      if (token === undefined) return next(new EdgeError('E_ADMIN_DISABLED', 403, 'Purge is off: start every node with --admin-token.'));
      if (!token.matches(req.headers.authorization)) {
        res.setHeader('www-authenticate', 'Bearer realm="hashedge"');
        return next(new UnauthorizedError());
      }
      next();
    },
    express.json({ limit: '1mb', strict: false, type: () => true }),
    (req: Request, res: Response, next: NextFunction) => {
      purge(req).then(({ status, body }) => res.status(status).json(body), next);
    },
    // body-parser's own errors (not JSON, too large) say what is expected, as parsePurgeRequest does.
    (err: unknown, _req: Request, _res: Response, next: NextFunction) => {
      const type = (err as { type?: unknown }).type;
      if (type === 'entity.parse.failed') return next(badPurge(`The body is not JSON (${(err as Error).message}): ${EXPECTED_BODY}`));
      if (type === 'entity.too.large') return next(new EdgeError('E_BAD_PURGE', 413, `The body is over 1 MB: send at most ${MAX_PURGE_KEYS} keys per request.`, { expose: true }));
      next(err);
    },
  );
  // Any other method: 405 naming the one there is, rather than the admin app's 404.
  router.all(PURGE_PATH, (_req: Request, res: Response) => {
    res.setHeader('allow', 'POST');
    res.status(405).json({ error: { code: 'E_METHOD_NOT_ALLOWED', message: `${PURGE_PATH} takes POST only, with ${EXPECTED_BODY}` } });
  });
  return router;

  async function purge(req: Request): Promise<{ status: number; body: object }> {
    const request = parsePurgeRequest(req.body);
    const { group, log } = options;
    // Both resolve once the disk tier's files are unlinked: a purge that answered is done.
    let removed = await group.purge(request.keys);
    if (request.prefix !== undefined) removed += await group.purgePrefix(request.prefix);
    log.info({ event: 'purge', keys: request.keys.length, prefix: request.prefix, removed, fromPeer: req.headers[HOP_HEADER] !== undefined });
    const nodes: NodeResult[] = [{ node: options.self(), removed }];
    // A peer's forwarded purge stops here; a client's is told to every other member.
    if (req.headers[HOP_HEADER] === undefined) {
      const others = options.peers().filter((peer) => peer !== options.self());
      nodes.push(...(await Promise.all(others.map((peer) => forward(peer, request, req.headers.authorization!)))));
    }
    const total = nodes.reduce((sum, n) => sum + ('removed' in n ? n.removed : 0), 0);
    const failed = nodes.filter((n) => 'error' in n).length;
    if (failed === 0) return { status: 200, body: { removed: total, nodes } };
    return {
      status: 502,
      body: { error: { code: 'E_PURGE_INCOMPLETE', message: `${failed} of ${nodes.length} nodes did not confirm the purge; retry it.` }, removed: total, nodes },
    };
  }

  async function forward(peer: string, request: PurgeRequest, authorization: string): Promise<NodeResult> {
    try {
      const res = await fetch(new URL(PURGE_PATH, peer), {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json', [HOP_HEADER]: '1' },
        // Prefixes travel with their leading "/" so that "everything" stays non-empty.
        body: JSON.stringify({ keys: request.keys, prefix: request.prefix === undefined ? undefined : `/${request.prefix}` }),
        signal: AbortSignal.timeout(options.peerTimeoutMs),
      });
      const body = (await res.json().catch(() => ({}))) as { nodes?: Array<{ removed?: unknown }> };
      const removed = body.nodes?.[0]?.removed;
      if (res.ok && typeof removed === 'number') return { node: peer, removed };
      return { node: peer, error: `answered ${res.status}` };
    } catch (err) {
      options.log.warn({ event: 'purge_forward_failed', peer, err: String((err as Error).message ?? err) });
      return { node: peer, error: (err as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable' };
    }
  }
}

const EXPECTED_BODY = 'a JSON object with "keys" (a list of asset paths) and/or "prefix" (a string; "/" for everything), e.g. {"keys": ["assets/app-1d18a1d220.js"]}.';

/** 400 E_BAD_PURGE; its message is shown to the client (it names only what the client sent). */
function badPurge(message: string): EdgeError {
  return new EdgeError('E_BAD_PURGE', 400, message, { expose: true });
}

/** Validates a purge body; keys are normalised exactly as a client's path would be. */
function parsePurgeRequest(body: unknown): PurgeRequest {
  const bad = badPurge;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad(`Expected ${EXPECTED_BODY}`);
  const { keys = [], prefix } = body as { keys?: unknown; prefix?: unknown };
  if (!Array.isArray(keys) || keys.length > MAX_PURGE_KEYS || !keys.every((k) => typeof k === 'string')) {
    throw bad(`"keys" must be a list of at most ${MAX_PURGE_KEYS} strings (asset paths), got ${describe(keys)}.`);
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '' || prefix.length > 2048 || /[\u0000-\u001f\u007f]/.test(prefix))) {
    throw bad(`"prefix" must be a non-empty string of at most 2048 printable characters ("/" for everything), got ${describe(prefix)}.`);
  }
  if (keys.length === 0 && prefix === undefined) throw bad(`Nothing to purge: expected ${EXPECTED_BODY}`);
  const normalised = (keys as string[]).map((key, i) => {
    try {
      return parseAssetPath(key.startsWith('/') ? key : `/${key}`).key;
    } catch (err) {
      throw bad(`keys[${i}] is not a valid asset path: ${(err as Error).message}`);
    }
  });
  return { keys: normalised, prefix: prefix === undefined ? undefined : (prefix as string).replace(/^\/+/, '') };
}

/** What a rejected value was, without echoing it: its JSON type, and a list's size and item types. */
function describe(value: unknown): string {
  if (Array.isArray(value)) {
    const types = [...new Set(value.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v)))];
    return `a list of ${value.length}${types.length > 0 ? ` (${types.join(', ')})` : ''}`;
  }
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
