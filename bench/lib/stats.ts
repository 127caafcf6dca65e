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

/**
 * A distribution-free confidence interval for the median: the order statistics whose ranks a
 * Binomial(n, ½) count puts outside the interval with probability at most 1 − `confidence`
 * (the sign test's interval; no assumption about the shape of the noise, which on a shared
 * machine has a long tail). `undefined` when there are too few samples for that confidence
 * (fewer than 6 for 95 %).
 */
export function medianInterval(values: readonly number[], confidence = 0.95): { low: number; high: number } | undefined {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  // P(Binomial(n, ½) ≤ k), summed term by term; the largest k whose tail fits α/2 sets the ranks.
  const alphaHalf = (1 - confidence) / 2;
  let term = 0.5 ** n;
  let tail = term;
  let k = -1;
  for (let i = 0; i < n && tail <= alphaHalf; i += 1) {
    k = i;
    term *= (n - i) / (i + 1);
    tail += term;
  }
  if (k < 0) return undefined;
  // With at most α/2 below rank k+1 and as much above rank n−k, [x(k+1), x(n−k)] covers the median.
  return { low: sorted[k]!, high: sorted[n - 1 - k]! };
}
