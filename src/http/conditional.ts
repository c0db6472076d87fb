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

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete) */
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete, GMT) */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms) as ms,
 * or undefined when absent or invalid: an invalid date is ignored (§13.1.3, §13.1.4, §13.1.5).
 * Deliberately not Date.parse, which also reads `2099`, `1` or ISO 8601 and turned them into
 * 304s, 412s and honoured If-Ranges (found by test/properties.test.ts). `nowMs` places the
 * RFC 850 form's two-digit year.
 */
export function parseHttpDate(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  let fields: Array<string | undefined>; // day, month, year, hour, minute, second
  const fixed = IMF_FIXDATE.exec(value) ?? RFC850_DATE.exec(value);
  if (fixed !== null) {
    fields = fixed.slice(1);
  } else {
    const asctime = ASCTIME_DATE.exec(value);
    if (asctime === null) return undefined;
    fields = [asctime[2], asctime[1], asctime[6], asctime[3], asctime[4], asctime[5]];
  }
  const [dayText = '', monthText = '', yearText = '', ...time] = fields;
  const [day, month, hour, minute, second] = [Number(dayText), MONTHS.indexOf(monthText), ...time.map(Number)] as [number, number, number, number, number];
  let year = Number(yearText);
  if (yearText.length === 2) {
    // RFC 850: a year more than 50 years ahead is the most recent past year with those digits
    const now = new Date(nowMs).getUTCFullYear();
    year += Math.floor(now / 100) * 100;
    if (year > now + 50) year -= 100;
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month, day); // not Date.UTC, which maps years 0-99 to 19xx
  // impossible dates (Feb 30) and times; 60 is the leap second
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 60) return undefined;
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
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
