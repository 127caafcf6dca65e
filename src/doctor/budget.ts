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

/**
 * The shortest whole-second grace that fits terms adding up to `termsMs` (every term but the
 * margin). With the default margin a longer grace asks a longer margin (a tenth of it past 50 s),
 * so "the total, rounded up" is not enough: a grace of 76 s for 71 s of terms has a 7.6 s margin.
 */
export function fittingGraceSeconds(termsMs: number, marginMs?: number): number {
  if (marginMs !== undefined) return Math.ceil((termsMs + marginMs) / 1_000);
  let s = Math.ceil((termsMs + defaultMarginMs(0)) / 1_000);
  while (termsMs + defaultMarginMs(s * 1_000) > s * 1_000) s += 1;
  return s;
}

/**
 * The margin the lag check (`window-below-lag`) asks above the endpoint lag L when none is given:
 * 1 s, or a quarter of the lag when that is more (none for a lag of 0). The pod must keep accepting until
 * `L + margin` after the deletion (preStop sleep + the window's earliest end).
 *
 * Why this size. The simulated kubelet (test/doctor/kubelet.test.ts in the repository, the lag an
 * exact timer on HAProxy's runtime API) shows the boundary is sharp where L is known exactly:
 * with a 1 s window, a lag 100–200 ms longer than the window lost requests in nearly every run,
 * a lag equal to it or shorter lost none, also with two CPU burners beside it (the removal then
 * fired up to 120 ms late, and the pod's window ended late by as much). drainkit's own timing
 * needs no slack: its window ends late, never early, and the kubelet starts it only after its
 * watch saw the deletion. What a cluster adds is doubt about L itself: kube-proxy programs its
 * rules at most once per --iptables-min-sync-period (1 s) and ingress-nginx's Lua workers
 * resync every second, so a removal can wait one period behind whatever "up to L" was measured
 * (the floor); the lags of cloud balancers are estimates from issue reports that are off by tens
 * of percent (an ALB: rare 502s after 40 s, none after 70 s), hence the quarter.
 */
export function defaultLagMarginMs(lagMs: number): number {
  // A lag of 0 says nothing routes to the pod through its endpoints: there is no consumer to be slow.
  if (lagMs === 0) return 0;
  return Math.max(1_000, Math.ceil(lagMs / 4));
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
