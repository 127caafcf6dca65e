/** The shape every benchmark shares, so `bench/run.ts` can run them by name and report them. */

export interface BenchOptions {
  /** A smoke run: fewer, shorter rounds. Results are not meant to be published. */
  readonly quick: boolean;
  /** Progress lines (stderr), so a long run is not silent. */
  readonly log: (line: string) => void;
}

export interface BenchResult {
  readonly benchmark: string;
  /** The DESIGN.md target in words, e.g. `ratio ≥ 0.98`. */
  readonly target: string;
  /** Whether the headline number meets the target; null when there is no target. */
  readonly met: boolean | null;
  /** The headline number with its unit, e.g. `ratio 0.993`. */
  readonly headline: string;
  /** Everything else: configuration, per-round numbers, medians. */
  readonly [key: string]: unknown;
}

export interface Benchmark {
  readonly name: string;
  readonly run: (options: BenchOptions) => Promise<BenchResult>;
}
