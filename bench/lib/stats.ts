/** Small, dependency-free statistics for benchmark rounds. */

/** The q-quantile (0 … 1) by linear interpolation between closest ranks; NaN for no samples. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Rounds to `digits` decimals, for JSON output that stays readable. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** min, median, p90 and max of a sample, rounded. */
export function summarize(values: readonly number[], digits = 2): { n: number; min: number; median: number; p90: number; max: number } {
  return {
    n: values.length,
    min: round(Math.min(...values), digits),
    median: round(median(values), digits),
    p90: round(quantile(values, 0.9), digits),
    max: round(Math.max(...values), digits),
  };
}
