/**
 * The benchmarks' knobs from the environment (`BENCH_*`), read with an error that names the
 * variable and what it accepts. An empty value counts as unset.
 */

/** A positive whole number from `name`, or `fallback` when unset. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
  return n;
}

/** `1` or `0` from `name` (on or off, as `meaning` says), or `fallback` when unset. */
export function switchEnv(name: string, fallback: boolean, meaning: string): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === '0') return raw === '1';
  throw new Error(`${name} must be 1 or 0 (${meaning}), got ${JSON.stringify(raw)}`);
}
