/** Markdown tables (readable in a terminal, pasted as is into RESULTS.md). */
import type { LoadResult } from './wrk.js';

export interface Row {
  readonly name: string;
  readonly result: LoadResult;
}

/** One throughput table; the last column is hashedge's rps divided by the row's. */
export function throughputTable(rows: readonly Row[], reference: string): string {
  const ref = rows.find((r) => r.name === reference)?.result.rps;
  const lines = [
    '| server | rps | p50 ms | p99 ms | MB/s | non-2xx / errors | hashedge ÷ server |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { name, result: r } of rows) {
    const ratio = ref === undefined || r.rps === 0 ? '-' : `${(ref / r.rps).toFixed(2)}x`;
    lines.push(`| ${name === reference ? `**${name}**` : name} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.mbps.toFixed(1)} | ${r.non2xx} / ${r.errors} | ${ratio} |`);
  }
  return lines.join('\n');
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [`| ${header.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** `met` or `MISSED` for a target line. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}
