/**
 * The drain budget: what must fit inside the pod's termination grace period. Serial terms add:
 * the preStop hook (the app does not know yet), drainkit's deregistration window at its
 * maximum (the app knows, still serves), the drain timeout, the shutdown hooks, the exit grace,
 * and a margin for the kubelet's watch lag, its whole-second truncation of the preStop time and
 * a busy event loop. The kubelet's 2 s floor after SIGTERM is not slack to count on.
 */

export type BudgetTermName = 'preStop' | 'window' | 'drain' | 'hooks' | 'exit' | 'margin';

export interface BudgetTerm {
  readonly name: BudgetTermName;
  readonly ms: number;
  /** Where the number came from: `manifest line 12`, `DRAINKIT_DRAIN_TIMEOUT_MS (line 30)`, `default`… */
  readonly source: string;
}

export interface Budget {
  readonly terms: readonly BudgetTerm[];
  readonly totalMs: number;
  readonly graceMs: number;
  readonly graceSource: string;
  /** `totalMs <= graceMs`. */
  readonly fits: boolean;
}

/** The margin when none is given: 5 s, or a tenth of the grace when that is more. */
export function defaultMarginMs(graceMs: number): number {
  return Math.max(5_000, Math.ceil(graceMs / 10));
}

export interface BudgetInput {
  readonly graceMs: number;
  readonly graceSource?: string;
  readonly preStopMs: number;
  readonly windowMaxMs: number;
  readonly drainTimeoutMs: number;
  readonly hooksMs: number;
  readonly exitGraceMs: number;
  /** Default {@link defaultMarginMs}. */
  readonly marginMs?: number | undefined;
  readonly sources?: Partial<Record<BudgetTermName, string>>;
}

/** Sums the terms against the grace. Pure: the doctor and the simulated kubelet's tests share it. */
export function evaluateBudget(input: BudgetInput): Budget {
  const src = (n: BudgetTermName): string => input.sources?.[n] ?? 'given';
  const terms: BudgetTerm[] = [
    { name: 'preStop', ms: input.preStopMs, source: src('preStop') },
    { name: 'window', ms: input.windowMaxMs, source: src('window') },
    { name: 'drain', ms: input.drainTimeoutMs, source: src('drain') },
    { name: 'hooks', ms: input.hooksMs, source: src('hooks') },
    { name: 'exit', ms: input.exitGraceMs, source: src('exit') },
    { name: 'margin', ms: input.marginMs ?? defaultMarginMs(input.graceMs), source: input.marginMs === undefined ? 'default: 5 s or a tenth of the grace' : src('margin') },
  ];
  const totalMs = terms.reduce((sum, t) => sum + t.ms, 0);
  return { terms, totalMs, graceMs: input.graceMs, graceSource: input.graceSource ?? 'given', fits: totalMs <= input.graceMs };
}

/** `1.5 s`, `30 s`, `250 ms`: budget numbers as people read them. */
export function seconds(ms: number): string {
  if (ms !== 0 && Math.abs(ms) < 1_000) return `${ms} ms`;
  const s = ms / 1_000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
