/**
 * Parsers for command-line values, shared by every `drainkit` command. Each throws commander's
 * InvalidArgumentError, so a bad value becomes a usage error (exit 2). Commander's message
 * already names the flag and quotes the value given ("option '--ttl <duration>' argument 'soon'
 * is invalid."); these messages add, in one shape, what is accepted ("expected …").
 */
import { InvalidArgumentError } from 'commander';

/** An integer from `min` to `max`, digits only (no signs, exponents, fractions or spaces). */
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
  if (eq <= 0) throw new InvalidArgumentError('expected key=value with a non-empty key, such as zone=eu-1.');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A bound as an operator would write it: the largest unit that states it exactly
 * (`1s`, `20s`, `10m`, `1d`, `1500ms`), so limits in messages can be typed back as given.
 */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The accepted forms, in every duration message. */
const DURATION_FORMS = 'such as 500ms, 30s, 15m, 2h or 7d (a bare number is milliseconds)';

/**
 * `250ms`, `30s`, `15m`, `2h`, `7d`, or a bare number of milliseconds; within [min, max] ms.
 * Throws commander's InvalidArgumentError, so a bad value is a usage error naming the flag.
 */
export function parseDuration(value: string, minMs: number, maxMs: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value);
  const ms = m === null ? NaN : Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new InvalidArgumentError(`expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}, ${DURATION_FORMS}.`);
  }
  return ms;
}

/** {@link parseDuration} as a commander argument parser. */
export function duration(minMs: number, maxMs: number) {
  return (value: string): number => parseDuration(value, minMs, maxMs);
}

/** How far back `--since 7d` may reach. */
const MAX_AGO_MS = 100 * 365 * 86_400_000;

/** An ISO 8601 time (with a zone or `Z`), or a duration ago (`15m` = fifteen minutes before now). */
export function parseSince(value: string, now: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t);
  } else if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(value)) {
    // A unit is required here: a bare number could as well be a year or an epoch.
    return new Date(now.getTime() - parseDuration(value, 0, MAX_AGO_MS));
  }
  throw new InvalidArgumentError('expected an ISO 8601 time such as 2026-11-24T18:00:00Z, or a duration ago with its unit such as 15m, 2h or 7d.');
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
    throw new InvalidArgumentError('expected an instance id (an integer from 1 to 2147483647) or host:port (port 1 to 65535; IPv6 in brackets, [::1]:8080).');
  }
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * A comma-separated list of names from `accepted` (`active,draining`); an unknown name is
 * refused with the whole accepted list, so a typo never reads as "nothing matches".
 */
export function oneOrMoreOf<T extends string>(accepted: readonly T[], what: string) {
  return (value: string): T[] => {
    const list = value.split(',').map((s) => s.trim());
    const unknown = list.filter((s) => !(accepted as readonly string[]).includes(s));
    if (unknown.length > 0 || list.length === 0) {
      throw new InvalidArgumentError(`unknown ${what} ${unknown.map((u) => JSON.stringify(u)).join(', ')}; expected one or more of ${accepted.join(', ')}, comma-separated.`);
    }
    return [...new Set(list)] as T[];
  };
}
