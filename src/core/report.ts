/**
 * The drain report: what a finished drain did, phase by phase, and a plain hint when the drain
 * timeout looks wrong for what was observed (and only then: a hint states the evidence it rests
 * on, and a healthy drain with little to go by gets none). A pure function of the {@link DrainResult} and the
 * drain timeout, so it can be logged, served, or checked in tests without a server.
 *
 * The drainer logs it with its final `drain_complete` line; call it yourself to serve or print it:
 *
 *     drainer.on('drained', (result) => console.log(formatDrainReport(drainReport(result, drainer.options))));
 */
import { DEFAULTS } from './options.js';
import type { DrainPhase, DrainResult, ResolvedOptions } from './types.js';

export interface PhaseDuration {
  readonly phase: DrainPhase;
  /** Milliseconds since the drain started. */
  readonly startMs: number;
  readonly durationMs: number;
}

export type DrainHintCode =
  /** The drain was forced at the timeout with requests or persistent connections still open. */
  | 'timeout-too-short'
  /** The drain completed, but its wait used most of its timeout. */
  | 'timeout-tight'
  /**
   * The drain completed far inside its timeout, with enough completed requests to say so: the
   * timeout could be much shorter.
   */
  | 'timeout-much-longer';

export interface DrainHint {
  readonly code: DrainHintCode;
  /** `'warn'` when the drain went wrong (the timeout forced work), `'info'` otherwise. */
  readonly level: 'info' | 'warn';
  /** The advice, with the evidence it rests on. */
  readonly message: string;
  /** What the hint is based on, in words (also part of the message). */
  readonly evidence: string;
  /**
   * A drain timeout that fits what was observed, in milliseconds, above the longest request and
   * the wait with a margin. Absent for `timeout-too-short`: how long forced work would have
   * needed is more than any drain can see, so no number from it would be right.
   */
  readonly suggestedDrainTimeoutMs?: number;
}

export interface DrainReport {
  readonly outcome: DrainResult['outcome'];
  readonly reason: string;
  readonly durationMs: number;
  /** Each phase the drain went through, in order, with how long it lasted. */
  readonly phases: readonly PhaseDuration[];
  readonly requestsCompleted: number;
  /** Requests in flight when the drain was forced. */
  readonly requestsForced: number;
  /** Persistent connections (WebSocket, SSE, long-poll) still open when the drain was forced. */
  readonly persistentForced: number;
  /** Sockets and HTTP/2 sessions destroyed because the drain was forced. */
  readonly connectionsForced: number;
  /** Upgraded connections no integration managed, closed at the end of the wait. */
  readonly upgradesClosed: number;
  readonly longestRequestMs: number;
  /** From the end of the window until nothing was left (or the force), in milliseconds. */
  readonly waitMs: number;
  readonly drainTimeoutMs: number;
  /** How the drain was forced, when it was: `'timeout'`, or `'early'` (a second signal or `force()`). */
  readonly forcedBy: 'timeout' | 'early' | undefined;
  readonly hints: readonly DrainHint[];
}

/** A completed drain whose wait took more than this share of its timeout gets the `timeout-tight` hint. */
const TIGHT_SHARE = 0.8;
/**
 * `timeout-much-longer` needs at least this many requests completed during the drain: a single
 * fast request says nothing about the slowest one the service has.
 */
const MIN_EVIDENCE_REQUESTS = 50;
/**
 * Under the default drain timeout (which the user never chose, so a hint about it is noise unless
 * it is sure) `timeout-much-longer` counts only the requests in flight when the wait began, and
 * needs this many: a busy server completes 50 quick requests during any 5 s window, and those
 * say nothing about what the wait after it needs.
 */
const MIN_EVIDENCE_AT_WINDOW_END = 50;
/** A suggestion leaves this many times the longest request observed… */
const SUGGESTION_FACTOR = 10;
/** …and never goes below this. */
const SUGGESTION_FLOOR_MS = 5_000;
/** Timers fire a little late; a force this close to the deadline was the deadline's. */
const DEADLINE_SLACK_MS = 50;

/**
 * Builds the report of `result`. `options` needs only `drainTimeoutMs` (a drainer's `options`
 * will do); `hints: false` leaves `hints` empty. Phase durations come from `result.phases`; the
 * last phase lasts until `result.durationMs`.
 */
export function drainReport(result: DrainResult, options: Pick<ResolvedOptions, 'drainTimeoutMs'> & { readonly hints?: boolean }): DrainReport {
  const phases = phaseDurations(result);
  const at = (phase: DrainPhase): number | undefined => phases.find((p) => p.phase === phase)?.startMs;
  const waitStart = at('closing') ?? result.window.durationMs;
  const waitEnd = at('forcing') ?? at('cleanup') ?? result.durationMs;
  const waitMs = Math.max(0, waitEnd - waitStart);
  const timeout = options.drainTimeoutMs;
  const forced = result.outcome === 'forced';
  // The engine says what forced it; results built elsewhere (older, synthetic) are inferred from timing.
  const forcedBy = !forced
    ? undefined
    : result.forcedBy !== undefined
      ? result.forcedBy === 'timeout' ? 'timeout' : 'early'
      : waitMs >= timeout - DEADLINE_SLACK_MS ? 'timeout' : 'early';
  const hints: DrainHint[] = options.hints === false ? [] : timeoutHints(result, timeout, waitMs, forcedBy);

  return {
    outcome: result.outcome,
    reason: result.reason,
    durationMs: result.durationMs,
    phases,
    requestsCompleted: result.requestsCompleted,
    requestsForced: result.requestsRemaining,
    persistentForced: result.persistentRemaining,
    connectionsForced: result.connectionsForced,
    upgradesClosed: result.upgradesClosed,
    longestRequestMs: result.longestRequestMs,
    waitMs,
    drainTimeoutMs: timeout,
    forcedBy,
    hints,
  };
}

/** The hints for a drain that waited `waitMs` under a `timeout` ms drain timeout. */
function timeoutHints(result: DrainResult, timeout: number, waitMs: number, forcedBy: DrainReport['forcedBy']): DrainHint[] {
  const forced = result.outcome === 'forced';
  const longest = result.longestRequestMs;
  if (forcedBy === 'timeout' && result.requestsRemaining + result.persistentRemaining > 0) {
    const evidence =
      `${describe(result.requestsRemaining, 'request')} and ${describe(result.persistentRemaining, 'persistent connection')} ` +
      `were still open when the ${timeout} ms drain timeout expired`;
    return [{
      code: 'timeout-too-short',
      level: 'warn',
      evidence,
      message:
        `${evidence} and were ended by force. How long they would have needed, this drain cannot tell: raise drainTimeoutMs above ` +
        `the longest your requests may take (their own timeouts, or a high percentile of their latency), or make them shorter, ` +
        `and keep the orchestrator's grace period above it`,
    }];
  }
  if (forced) return []; // forced early (a second signal, force()): says nothing about the timeout
  if (timeout > 0 && waitMs > timeout * TIGHT_SHARE) {
    const suggested = roundUp(Math.max(waitMs, longest) * 2);
    const evidence = `the wait took ${Math.round(waitMs)} ms of the ${timeout} ms drain timeout (longest request ${Math.round(longest)} ms)`;
    return [{
      code: 'timeout-tight',
      level: 'info',
      evidence,
      message: `${evidence}: a slightly slower request would have been forced; consider about ${suggested} ms`,
      suggestedDrainTimeoutMs: suggested,
    }];
  }
  const suggested = roundUp(Math.max(longest * SUGGESTION_FACTOR, waitMs * SUGGESTION_FACTOR, SUGGESTION_FLOOR_MS));
  const atWindowEnd = result.requestsAtWindowEnd ?? 0;
  const enough = timeout === DEFAULTS.drainTimeoutMs ? atWindowEnd >= MIN_EVIDENCE_AT_WINDOW_END : result.requestsCompleted >= MIN_EVIDENCE_REQUESTS;
  if (enough && timeout >= suggested * 2) {
    const evidence =
      `${result.requestsCompleted} requests completed during this drain (${atWindowEnd} of them in flight when the wait began), ` +
      `the longest in ${Math.round(longest)} ms, and the wait took ${Math.round(waitMs)} ms`;
    return [{
      code: 'timeout-much-longer',
      level: 'info',
      evidence,
      message:
        `the drain timeout (${timeout} ms) is far above what this drain needed: ${evidence}. A hung request holds the shutdown that long; ` +
        `about ${suggested} ms would still allow ${SUGGESTION_FACTOR} times the longest. One drain is one sample: check your slowest endpoint before lowering it`,
      suggestedDrainTimeoutMs: suggested,
    }];
  }
  return [];
}

/** How long each phase of `result` lasted; the last one lasts until the drain's end. */
export function phaseDurations(result: DrainResult): PhaseDuration[] {
  return result.phases.map((p, i) => {
    const next = result.phases[i + 1];
    const end = next ? next.atMs : result.durationMs;
    return { phase: p.phase, startMs: p.atMs, durationMs: Math.max(0, end - p.atMs) };
  });
}

/** One line per phase and hint, for a terminal or a plain-text log. */
export function formatDrainReport(report: DrainReport): string {
  const lines = [
    `drain ${report.outcome} (${report.reason}) in ${Math.round(report.durationMs)} ms: ` +
      `${report.requestsCompleted} requests completed, ${report.requestsForced} forced, ` +
      `${report.persistentForced} persistent connections forced, ${report.connectionsForced} connections destroyed, ` +
      (report.upgradesClosed > 0 ? `${report.upgradesClosed} unmanaged upgraded connections closed, ` : '') +
      `longest request ${Math.round(report.longestRequestMs)} ms`,
    ...report.phases.map((p) => `  ${p.phase.padEnd(13)} ${String(Math.round(p.durationMs)).padStart(7)} ms`),
    ...report.hints.map((h) => `  hint: ${h.message}`),
  ];
  return lines.join('\n');
}

function describe(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Rounds up to a whole second, so a suggestion reads like a setting. */
function roundUp(ms: number): number {
  return Math.max(1_000, Math.ceil(ms / 1_000) * 1_000);
}
