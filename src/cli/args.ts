/**
 * Parsers for command-line values, shared by every `drainkit` command. Each throws commander's
 * InvalidArgumentError, so a bad value becomes a usage error (exit 2) that names the flag, says
 * what is accepted and quotes what was given.
 */
import { InvalidArgumentError } from 'commander';
import { formatAge } from './format.js';

/** An integer from `min` to `max`, digits only (no signs, exponents or fractions). */
export function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

/** `key=value`, repeatable: collects into one object. */
export function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got ${JSON.stringify(value)}.`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

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

/** {@link parseDuration} as a commander argument parser. */
export function duration(minMs: number, maxMs: number) {
  return (value: string): number => parseDuration(value, minMs, maxMs);
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

/** {@link parseSince} against the current time, as a commander argument parser. */
export function time(value: string): Date {
  return parseSince(value, new Date());
}

/** `<id>` or `<host>:<port>`; IPv6 hosts in brackets (`[::1]:8080`). */
export function parseTarget(value: string): { instanceId: number } | { host: string; port: number } {
  if (/^\d+$/.test(value)) {
    const id = Number(value);
    if (id >= 1 && id <= 2_147_483_647) return { instanceId: id };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`expected an instance id (a positive integer) or host:port (port 1 to 65535), got ${JSON.stringify(value)}.`);
  }
  return { host: (m[1] ?? m[2])!, port };
}
