/**
 * Conditional requests, RFC 9110 §13.2.2 in its order: If-Match, If-Unmodified-Since (412),
 * then If-None-Match (weak comparison, lists, `*`), If-Modified-Since (304). If-Range is in
 * range.ts. ETags are parsed as quoted strings, since an opaque tag may itself contain a comma.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type Precondition = 'proceed' | 'not-modified' | 'failed';

const ENTITY_TAG = /(W\/)?"([^"]*)"/g;

function opaque(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(3, -1) : etag.slice(1, -1);
}

/** Does the header's list (or `*`) match our strong `etag`? `weak` selects the comparison. */
export function etagListMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === '*') return true;
  const ours = opaque(etag);
  for (const m of header.matchAll(ENTITY_TAG)) {
    if (!weak && m[1] !== undefined) continue; // strong comparison: weak tags never match
    if (m[2] === ours) return true;
  }
  return false;
}

/** An HTTP-date as ms, or undefined when absent or invalid (an invalid date is ignored). */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export function evaluatePreconditions(headers: IncomingHttpHeaders, etag: string, lastModifiedMs: number): Precondition {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, etag, false)) return 'failed';
  } else {
    const since = parseHttpDate(headers['if-unmodified-since']);
    if (since !== undefined && lastModifiedMs > since) return 'failed';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    return etagListMatches(ifNoneMatch, etag, true) ? 'not-modified' : 'proceed';
  }
  const since = parseHttpDate(headers['if-modified-since']);
  if (since !== undefined && lastModifiedMs <= since) return 'not-modified';
  return 'proceed';
}
