/**
 * Error responses: a JSON body with the stable code and a message safe to show, the code also
 * in `x-hashedge-error` (for HEAD and logs), never a stack trace. Headers already sent means
 * the body is underway: the only honest signal left is to cut the connection.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { EdgeError } from '../errors.js';

/** An error response's status, headers and body, for any transport. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  /** undefined for HEAD. */
  readonly body: Buffer | undefined;
}

export function errorResponse(err: EdgeError, isHead: boolean, extraHeaders: OutgoingHttpHeaders = {}): ErrorResponse {
  const message = err.expose ? err.message : 'Internal error.';
  const body = Buffer.from(JSON.stringify({ error: { code: err.code, message } }) + '\n');
  return {
    status: err.status || 500,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-hashedge-error': err.code,
      ...extraHeaders,
    },
    body: isHead ? undefined : body,
  };
}

/** Returns the body bytes sent, or -1 when the response was underway and was cut instead. */
export function sendError(res: ServerResponse, err: EdgeError, isHead: boolean, extraHeaders: OutgoingHttpHeaders = {}): number {
  if (res.headersSent) {
    res.destroy();
    return -1;
  }
  const response = errorResponse(err, isHead, extraHeaders);
  res.writeHead(response.status, response.headers);
  res.end(response.body);
  return response.body?.length ?? 0;
}
