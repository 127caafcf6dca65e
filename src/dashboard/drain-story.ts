/**
 * One drain of one registration, told from its events: the phases with their durations, how the
 * window ended, the counts over time, who asked and why, the outcome, and one sentence on what
 * the drain spent its time on.
 */
import type { DrainEventRow } from '../registry/fleet.js';
import { formatMs } from './browser/render.js';

/** Event types that open a phase, and the phase each opens. */
const PHASE_OF_EVENT: Readonly<Record<string, string>> = {
  drain_start: 'deregistering',
  listener_closed: 'closing',
  persistent_notified: 'persistent',
  waiting: 'waiting',
  forced: 'forcing',
  cleanup: 'cleanup',
};

export interface PhaseSpan {
  readonly phase: string;
  readonly startMs: number;
  /** Null while the phase is still running. */
  readonly durationMs: number | null;
  readonly inflightAtStart: number | null;
  readonly persistentAtStart: number | null;
  /** For `waiting` and `forcing`: the paths of the requests in flight at the phase's start. */
  readonly pathsAtStart: readonly { readonly path: string; readonly count: number }[];
}

export interface CountPoint {
  readonly atMs: number;
  readonly inflight: number;
  readonly persistent: number;
}

export interface DrainStory {
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** From the drain's start to its `drain_complete`, or to now while running. */
  readonly elapsedMs: number;
  readonly running: boolean;
  readonly phases: readonly PhaseSpan[];
  readonly window: { readonly endedBy: string; readonly durationMs: number } | null;
  readonly counts: readonly CountPoint[];
  /** Who asked and why: a drain request, or the drain's own reason (a signal, an API call). */
  readonly cause: { readonly requestedBy: string | null; readonly reason: string };
  readonly outcome: Record<string, unknown> | null;
  readonly summary: string;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * The last drain among `events` (one registration's, oldest first), or undefined when that
 * registration never started draining.
 */
export function drainStory(events: readonly DrainEventRow[], nowMs: number): DrainStory | undefined {
  const startIndex = events.map((e) => e.eventType).lastIndexOf('drain_start');
  const start = events[startIndex];
  if (start === undefined) return undefined;
  const t0 = start.timestamp.getTime();
  const during = events.slice(startIndex);
  const complete = during.find((e) => e.eventType === 'drain_complete');
  const endMs = (complete?.timestamp.getTime() ?? nowMs) - t0;
  const opened = during.filter((e) => PHASE_OF_EVENT[e.eventType] !== undefined);
  const phases: PhaseSpan[] = opened.map((e, i) => {
    const startMs = e.timestamp.getTime() - t0;
    const next = opened[i + 1];
    const until = next === undefined ? (complete === undefined ? null : endMs) : next.timestamp.getTime() - t0;
    return {
      phase: PHASE_OF_EVENT[e.eventType] ?? e.eventType,
      startMs,
      durationMs: until === null ? null : Math.max(0, until - startMs),
      inflightAtStart: num(e.details?.inflight),
      persistentAtStart: num(e.details?.persistent),
      pathsAtStart: pathsOf(e.details?.paths),
    };
  });
  const counts: CountPoint[] = [];
  for (const e of opened) {
    const inflight = num(e.details?.inflight);
    const persistent = num(e.details?.persistent);
    if (inflight !== null && persistent !== null) counts.push({ atMs: e.timestamp.getTime() - t0, inflight, persistent });
  }
  if (complete !== undefined) {
    // `requestsRemaining` is what was left when the drain was forced, not after: once forced, the
    // last point is the last count reported after the force (0 when none was: nothing survived).
    const forcedAt = during.findIndex((e) => e.eventType === 'forced');
    const forced = forcedAt >= 0 || complete.details?.outcome === 'forced' || (complete.details?.forcedBy !== undefined && complete.details.forcedBy !== null);
    if (forced) {
      const after = counts.filter((c) => forcedAt >= 0 && c.atMs > (during[forcedAt]?.timestamp.getTime() ?? Infinity) - t0).at(-1);
      counts.push({ atMs: endMs, inflight: after?.inflight ?? 0, persistent: after?.persistent ?? 0 });
    } else {
      counts.push({ atMs: endMs, inflight: num(complete.details?.requestsRemaining) ?? 0, persistent: num(complete.details?.persistentRemaining) ?? 0 });
    }
  }
  const windowEvent = during.find((e) => e.eventType === 'window_end');
  const request = [...events.slice(0, startIndex + 2)].reverse().find((e) => e.eventType === 'drain_requested');
  const cause = request !== undefined
    ? { requestedBy: str(request.details?.requestedBy), reason: str(request.details?.reason) ?? '(no reason recorded)' }
    : { requestedBy: null, reason: str(start.details?.reason) ?? '(no reason recorded)' };
  const story = {
    startedAt: start.timestamp.toISOString(),
    finishedAt: complete?.timestamp.toISOString() ?? null,
    elapsedMs: endMs,
    running: complete === undefined,
    phases,
    window: windowEvent === undefined ? null : { endedBy: str(windowEvent.details?.endedBy) ?? 'unknown', durationMs: num(windowEvent.details?.durationMs) ?? 0 },
    counts,
    cause,
    outcome: complete?.details ?? null,
  };
  return { ...story, summary: summarize(story) };
}

/** "4.1 s of 4.6 s waiting for 3 requests": the phase that took longest, and on what. */
function summarize(s: Omit<DrainStory, 'summary'>): string {
  const total = formatMs(s.elapsedMs);
  const longest = [...s.phases].sort((a, b) => (b.durationMs ?? s.elapsedMs - b.startMs) - (a.durationMs ?? s.elapsedMs - a.startMs))[0];
  if (longest === undefined) return `${s.running ? 'Draining for' : 'Drained in'} ${total}.`;
  const spent = formatMs(longest.durationMs ?? s.elapsedMs - longest.startMs);
  const on = onWhat(longest);
  const end = s.running ? ', still running' : s.outcome?.outcome === 'forced' || s.outcome?.success === false ? `, then forced (${str(s.outcome.forceReason) ?? str(s.outcome.forcedBy) ?? 'see outcome'})` : '';
  return `${spent} of ${total} ${on}${end}.`;
}

/** The `paths` of a phase event, as recorded (anything malformed is left out). */
function pathsOf(v: unknown): { path: string; count: number }[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((p: unknown) => {
    const o = p as { path?: unknown; count?: unknown } | null;
    return o !== null && typeof o === 'object' && typeof o.path === 'string' && typeof o.count === 'number' ? [{ path: o.path, count: o.count }] : [];
  });
}

/** "to /export", "to /export (2) and /report (1)", "to /a (3), /b (1) and others". */
function toPaths(p: PhaseSpan): string {
  const paths = p.pathsAtStart;
  if (paths.length === 0) return '';
  const listed = paths.reduce((n, x) => n + x.count, 0);
  if (paths.length === 1 && listed === p.inflightAtStart) return ` to ${paths[0]!.path}`;
  const parts = paths.map((x) => `${x.path} (${x.count})`);
  const more = p.inflightAtStart !== null && listed < p.inflightAtStart;
  const last = more ? 'others' : parts.pop()!;
  return ` to ${parts.length === 0 ? last : `${parts.join(', ')} and ${last}`}`;
}

function onWhat(p: PhaseSpan): string {
  const requests = p.inflightAtStart === null ? '' : `${p.inflightAtStart} request${p.inflightAtStart === 1 ? '' : 's'}${toPaths(p)}`;
  const persistent = p.persistentAtStart === null || p.persistentAtStart === 0 ? '' : `${p.persistentAtStart} persistent connection${p.persistentAtStart === 1 ? '' : 's'}`;
  const what = [requests, persistent].filter((x) => x !== '').join(' and ');
  switch (p.phase) {
    case 'deregistering': return 'in the deregistration window (the balancer taking the instance out)';
    case 'closing': return 'closing the listener';
    case 'persistent': return `telling ${persistent === '' ? 'persistent clients' : persistent} to go away`;
    case 'waiting': return `waiting for ${what === '' ? 'in-flight work' : what}`;
    case 'forcing': return `forcing ${what === '' ? 'what was left' : what}`;
    case 'cleanup': return 'in shutdown hooks';
    default: return `in ${p.phase}`;
  }
}
