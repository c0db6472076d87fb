/**
 * Error responses: a JSON body with the stable code and a message safe to show, the code also
 * in `x-hashedge-error` (for HEAD and logs), never a stack trace. Headers already sent means
 * the body is underway: the only honest signal left is to cut the connection.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { EdgeError } from '../errors.js';

/** Returns the body bytes sent, or -1 when the response was underway and was cut instead. */
export function sendError(res: ServerResponse, err: EdgeError, isHead: boolean, extraHeaders: OutgoingHttpHeaders = {}): number {
  if (res.headersSent) {
    res.destroy();
    return -1;
  }
  const message = err.expose ? err.message : 'Internal error.';
  const body = JSON.stringify({ error: { code: err.code, message } }) + '\n';
  res.writeHead(err.status || 500, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-hashedge-error': err.code,
    ...extraHeaders,
  });
  res.end(isHead ? undefined : body);
  return isHead ? 0 : Buffer.byteLength(body);
}
