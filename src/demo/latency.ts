/**
 * Latency samples for the demo's report: every sample up to a bound, then a uniform reservoir
 * (algorithm R), so a demo left running for a day keeps a fixed amount of memory and its
 * percentiles stay unbiased.
 */
export class LatencySamples {
  readonly #max: number;
  readonly #samples: number[] = [];
  #seen = 0;

  constructor(max = 200_000) {
    this.#max = max;
  }

  add(ms: number): void {
    this.#seen += 1;
    if (this.#samples.length < this.#max) this.#samples.push(ms);
    else {
      const i = Math.floor(Math.random() * this.#seen);
      if (i < this.#max) this.#samples[i] = ms;
    }
  }

  get count(): number {
    return this.#seen;
  }

  /** The p-th percentile (0 < p ≤ 100) by nearest rank, in ms; undefined with no sample. */
  percentile(p: number): number | undefined {
    if (this.#samples.length === 0) return undefined;
    const sorted = [...this.#samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
    return sorted[rank - 1];
  }
}
