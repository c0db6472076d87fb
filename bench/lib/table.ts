/** Markdown tables (readable in a terminal, pasted as is into RESULTS.md). */
import type { LoadResult } from './wrk.js';

export interface Row {
  readonly name: string;
  readonly result: LoadResult;
  /** hashedge ÷ this server, when measured as the median of paired rounds; else from `result`. */
  readonly ratio?: { readonly median: number; readonly min: number; readonly max: number };
}

/** One throughput table; the last column is hashedge's rps divided by the row's. */
export function throughputTable(rows: readonly Row[], reference: string): string {
  const ref = rows.find((r) => r.name === reference)?.result.rps;
  const withCpu = rows.some((r) => r.result.serverCpu !== undefined);
  const lines = [
    `| server | rps | p50 ms | p99 ms | MB/s | non-2xx / errors |${withCpu ? ' server CPU busy | µs CPU / request |' : ''} hashedge ÷ server |`,
    `|---|---:|---:|---:|---:|---:|${withCpu ? '---:|---:|' : ''}---:|`,
  ];
  for (const { name, result: r, ratio } of rows) {
    let ratioText = ref === undefined || r.rps === 0 ? '-' : `${(ref / r.rps).toFixed(2)}x`;
    if (ratio !== undefined && name !== reference) ratioText = `${ratio.median.toFixed(2)}x (${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)})`;
    const cpu = withCpu ? (r.serverCpu ? ` ${Math.round(r.serverCpu.busy * 100)}% | ${r.serverCpu.usPerRequest.toFixed(1)} |` : ' - | - |') : '';
    lines.push(`| ${name === reference ? `**${name}**` : name} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.mbps.toFixed(1)} | ${r.non2xx} / ${r.errors} |${cpu} ${ratioText} |`);
  }
  return lines.join('\n');
}

/**
 * The row of a server measured in rounds: its median round (that round's latencies, the median
 * rps), and hashedge's rps over its rps round by round (`reference`, the same rounds of
 * hashedge), as the median with the lowest and highest.
 */
export function roundsRow(name: string, runs: readonly LoadResult[], reference: readonly LoadResult[]): Row {
  const middle = median(runs.map((r) => r.rps));
  const result = runs.reduce((best, r) => (Math.abs(r.rps - middle) < Math.abs(best.rps - middle) ? r : best));
  const paired = runs.map((r, round) => reference[round]!.rps / r.rps);
  return { name, result: { ...result, rps: middle }, ratio: { median: median(paired), min: Math.min(...paired), max: Math.max(...paired) } };
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [`| ${header.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** `met` or `MISSED` for a target line. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}
