/**
 * Text for operators: aligned tables, durations they can type (`30s`, `7d`) and read back.
 */
import { InvalidArgumentError } from 'commander';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `250ms`, `30s`, `15m`, `2h`, `7d`, or a bare number of milliseconds; within [min, max] ms.
 * Throws commander's InvalidArgumentError, so a bad value is a usage error naming the flag.
 */
export function parseDuration(value: string, minMs: number, maxMs: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = m === null ? NaN : Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new InvalidArgumentError(`expected a duration from ${formatAge(minMs)} to ${formatAge(maxMs)} such as 500ms, 30s, 15m, 2h or 7d (a bare number is milliseconds), got ${JSON.stringify(value)}.`);
  }
  return ms;
}

/** An ISO 8601 time (with a zone or `Z`), or a duration ago (`15m` = fifteen minutes before now). */
export function parseSince(value: string, now: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t);
  } else if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(value.trim())) {
    return new Date(now.getTime() - parseDuration(value, 0, 100 * 365 * 86_400_000));
  }
  throw new InvalidArgumentError(`expected an ISO 8601 time such as 2026-11-24T18:00:00Z, or a duration ago such as 15m, 2h or 7d, got ${JSON.stringify(value)}.`);
}

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
