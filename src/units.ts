/**
 * Sizes and durations as people write them in flags and env vars. Sizes follow SI and IEC
 * strictly (1 MB = 10^6 bytes, 1 MiB = 2^20 bytes) so `512MB` means what it says.
 */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `"64MB"` -> 64000000; a bare number is bytes. Returns undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `"1500ms"` -> 1500, `"10s"` -> 10000. A unit is required (except for 0): `10` is ambiguous. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) return undefined;
  if (!m[2]) return Number(m[1]) === 0 ? 0 : undefined;
  const ms = Math.round(Number(m[1]) * (DURATION_UNITS[m[2].toLowerCase()] ?? NaN));
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** HTTP dates have one-second precision: ms since epoch floored to a whole second. */
export function toHttpSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
