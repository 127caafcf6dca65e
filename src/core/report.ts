/**
 * The drain report: what a finished drain did, phase by phase, and a plain hint when the drain
 * timeout looks wrong for what was observed. A pure function of the {@link DrainResult} and the
 * drain timeout, so it can be logged, served, or checked in tests without a server.
 *
 * The drainer logs it with its final `drain_complete` line; call it yourself to serve or print it:
 *
 *     drainer.on('drained', (result) => console.log(formatDrainReport(drainReport(result, drainer.options))));
 */
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
  /** The drain completed, but used most of its timeout. */
  | 'timeout-tight'
  /** The drain completed far inside its timeout: the timeout could be much shorter. */
  | 'timeout-much-longer';

export interface DrainHint {
  readonly code: DrainHintCode;
  readonly message: string;
  /** A drain timeout that would fit what was observed, in milliseconds. */
  readonly suggestedDrainTimeoutMs: number;
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

/** A completed drain that took more than this share of its timeout gets the `timeout-tight` hint. */
const TIGHT_SHARE = 0.8;
/** A timeout more than this many times what was observed gets the `timeout-much-longer` hint… */
const LONGER_FACTOR = 10;
/** …when it is also at least this much longer (a 2 s timeout over 50 ms requests is fine). */
const LONGER_MIN_GAP_MS = 10_000;
/** Timers fire a little late; a force this close to the deadline was the deadline's. */
const DEADLINE_SLACK_MS = 50;

/**
 * Builds the report of `result`. `options` needs only `drainTimeoutMs` (a drainer's `options`
 * will do). Phase durations come from `result.phases`; the last phase lasts until
 * `result.durationMs`.
 */
export function drainReport(result: DrainResult, options: Pick<ResolvedOptions, 'drainTimeoutMs'>): DrainReport {
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
  const hints: DrainHint[] = [];
  const observedMs = Math.max(result.longestRequestMs, waitMs);

  if (forcedBy === 'timeout' && result.requestsRemaining + result.persistentRemaining > 0) {
    const suggested = roundUp(Math.max(timeout * 2, result.longestRequestMs * 2));
    hints.push({
      code: 'timeout-too-short',
      message:
        `the drain timeout (${timeout} ms) ended ${describe(result.requestsRemaining, 'request')} and ` +
        `${describe(result.persistentRemaining, 'persistent connection')} by force; ` +
        `raise drainTimeoutMs (to about ${suggested} ms) or make those requests shorter, and keep the orchestrator's grace period above it`,
      suggestedDrainTimeoutMs: suggested,
    });
  } else if (!forced && timeout > 0 && waitMs > timeout * TIGHT_SHARE) {
    const suggested = roundUp(waitMs * 2);
    hints.push({
      code: 'timeout-tight',
      message: `the drain completed after ${Math.round(waitMs)} ms of its ${timeout} ms timeout; a slightly slower request would have been forced: consider about ${suggested} ms`,
      suggestedDrainTimeoutMs: suggested,
    });
  } else if (!forced && result.requestsCompleted + result.requestsAtStart > 0 && timeout > observedMs * LONGER_FACTOR && timeout - observedMs >= LONGER_MIN_GAP_MS) {
    const suggested = roundUp(Math.max(observedMs * 3, 1_000));
    hints.push({
      code: 'timeout-much-longer',
      message:
        `the drain timeout (${timeout} ms) is far longer than anything observed (longest request ${Math.round(result.longestRequestMs)} ms, ` +
        `wait ${Math.round(waitMs)} ms); a hung request would hold the shutdown that long: about ${suggested} ms would do, if this drain was typical`,
      suggestedDrainTimeoutMs: suggested,
    });
  }

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
