/**
 * Text for operators: aligned tables and durations they can read.
 */

/** 850ms, 12.3s, 4m 05s, 3h 02m, 2d 04h: compact, to the unit that matters. */
export function formatAge(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 1_000) return `${Math.round(v)}ms`;
  if (v < 60_000) return `${(v / 1_000).toFixed(v < 10_000 ? 1 : 0)}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (v < 3_600_000) return `${Math.floor(v / 60_000)}m ${pad(Math.floor((v % 60_000) / 1_000))}s`;
  if (v < 86_400_000) return `${Math.floor(v / 3_600_000)}h ${pad(Math.floor((v % 3_600_000) / 60_000))}m`;
  return `${Math.floor(v / 86_400_000)}d ${pad(Math.floor((v % 86_400_000) / 3_600_000))}h`;
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], options: { header?: boolean } = {}): string {
  const all = options.header === false ? rows : [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}
