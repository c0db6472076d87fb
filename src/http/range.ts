/**
 * Range requests (RFC 9110 §14): byte ranges parsed by range-parser (the parser send and
 * Express use), overlapping ranges coalesced, and more than MAX_RANGES ranges answered with the
 * whole body instead (the CVE-2011-3192 defence Apache and nginx's max_ranges use).
 */
import parseRange from 'range-parser';
import type { ByteRange } from '../origin/origin.js';
import { parseHttpDate } from './conditional.js';

export const MAX_RANGES = 16;

export type RangeDecision =
  | { readonly kind: 'full' }
  | { readonly kind: 'unsatisfiable' }
  | { readonly kind: 'partial'; readonly ranges: readonly ByteRange[] };

const FULL: RangeDecision = { kind: 'full' };

/**
 * What to send for `Range` against an object of `size` bytes. `ifRange` is honoured against
 * the strong `etag` (if known) or the exact Last-Modified.
 */
export function decideRange(range: string | undefined, ifRange: string | undefined, size: number, etag: string | undefined, lastModifiedMs: number): RangeDecision {
  if (range === undefined) return FULL;
  // another range unit: ignored (RFC 9110 §14.2; unit names are case-insensitive, §14.1). Checked
  // first: range-parser reads any unit's numbers, and `items=99-` came back unsatisfiable (416).
  const eq = range.indexOf('=');
  if (eq === -1 || range.slice(0, eq).toLowerCase() !== 'bytes') return FULL;
  if (ifRange !== undefined && !ifRangeMatches(ifRange, etag, lastModifiedMs)) return FULL;
  let commas = 0;
  for (let i = range.indexOf(','); i !== -1; i = range.indexOf(',', i + 1)) {
    if (++commas >= MAX_RANGES) return FULL;
  }
  const parsed = parseRange(size, clampSuffixes(range, size), { combine: true });
  if (parsed === -1) return { kind: 'unsatisfiable' };
  if (parsed === -2) return FULL; // malformed: ignore
  return { kind: 'partial', ranges: parsed.map((r) => ({ start: r.start, end: r.end })) };
}

function ifRangeMatches(ifRange: string, etag: string | undefined, lastModifiedMs: number): boolean {
  const value = ifRange.trim();
  if (value.startsWith('W/')) return false; // weak validators never match If-Range
  if (value.startsWith('"')) return etag !== undefined && value === etag;
  return parseHttpDate(value) === lastModifiedMs;
}

/**
 * `bytes=-N` with N past the size means the whole representation (RFC 9110 §14.1.3), but
 * range-parser computes a negative start and calls it unsatisfiable: clamp N to the size first.
 * An empty representation keeps its suffixes, which are then rightly unsatisfiable.
 */
function clampSuffixes(range: string, size: number): string {
  if (size === 0) return range;
  return range.replace(/([=,]\s*)-(\d+)/g, (whole, before: string, digits: string) => (Number(digits) > size ? `${before}-${size}` : whole));
}
