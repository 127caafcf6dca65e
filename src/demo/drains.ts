/**
 * The drains of the demo's cluster, read back from the registry's events (what any operator of
 * the fleet would see, not the demo's own memory): each `reload_complete` lists the workers it
 * replaced with their drains (outcome, duration, window, phases), and `drain_complete` the
 * workers of the final stop. One registration of one instance: a `--data-dir` reused from an
 * earlier run keeps that run's events, which are not this run's.
 */
import type { Store } from '../registry/driver.js';
import { eventPage } from '../registry/fleet-view.js';
import type { DrainEventRow } from '../registry/fleet.js';

export interface PhaseSpan {
  readonly phase: string;
  readonly durationMs: number;
}

export interface WorkerDrainRecord {
  /** Which reload replaced the worker (1, 2…), or `stop` for the final stop. */
  readonly during: number | 'stop';
  readonly pid: number;
  /** The replacement's pid (reloads only). */
  readonly newPid: number | undefined;
  readonly success: boolean;
  /** `completed`, `forced`, or `exited` when the worker left without reporting a drain. */
  readonly outcome: string;
  readonly forcedBy: string | null;
  readonly durationMs: number;
  readonly window: { readonly durationMs: number; readonly endedBy: string } | undefined;
  readonly phases: readonly PhaseSpan[];
  readonly exit: { readonly code: number | null; readonly signal: string | null };
}

export interface ReloadRecord {
  readonly n: number;
  readonly ok: boolean;
  readonly reason: string | undefined;
  readonly at: string;
  readonly durationMs: number;
  readonly replaced: number;
}

export interface DrainHistory {
  readonly reloads: readonly ReloadRecord[];
  readonly drains: readonly WorkerDrainRecord[];
}

/** Reads this registration's reloads and drains, oldest first. Throws naming the event when a row is not what the cluster reporter writes. */
export async function readDrainHistory(store: Store, instanceId: number, generation: number): Promise<DrainHistory> {
  const page = await eventPage(store, { instanceId, generation, types: ['reload_complete', 'drain_complete'], oldestFirst: true, limit: 100_000 });
  const reloads: ReloadRecord[] = [];
  const drains: WorkerDrainRecord[] = [];
  for (const e of page.events) {
    const d = e.details ?? {};
    if (e.eventType === 'reload_complete') {
      const n = reloads.length + 1;
      const replaced = list(e, d, 'replaced');
      reloads.push({ n, ok: d.ok === true, reason: typeof d.reason === 'string' ? d.reason : undefined, at: e.timestamp.toISOString(), durationMs: num(e, d, 'durationMs'), replaced: replaced.length });
      for (const r of replaced) {
        const rec = obj(e, r, 'replaced[]');
        drains.push(workerDrain(e, n, obj(e, rec.drain, 'replaced[].drain'), num(e, rec, 'newPid')));
      }
    } else {
      for (const w of list(e, d, 'workers')) drains.push(workerDrain(e, 'stop', obj(e, w, 'workers[]'), undefined));
    }
  }
  return { reloads, drains };
}

function workerDrain(e: DrainEventRow, during: number | 'stop', d: Record<string, unknown>, newPid: number | undefined): WorkerDrainRecord {
  const durationMs = num(e, d, 'durationMs');
  const exit = obj(e, d.exit, 'exit');
  const window = d.window === undefined ? undefined : obj(e, d.window, 'window');
  return {
    during,
    pid: num(e, d, 'pid'),
    newPid,
    // A worker that left without reporting a drain (no outcome) did not drain, whatever its exit code.
    success: d.success === true && typeof d.outcome === 'string',
    outcome: typeof d.outcome === 'string' ? d.outcome : 'exited',
    forcedBy: typeof d.forcedBy === 'string' ? d.forcedBy : null,
    durationMs,
    window: window === undefined ? undefined : { durationMs: num(e, window, 'window.durationMs'), endedBy: String(window.endedBy) },
    phases: d.phases === undefined ? [] : phaseSpans(e, list(e, d, 'phases'), durationMs),
    exit: { code: typeof exit.code === 'number' ? exit.code : null, signal: typeof exit.signal === 'string' ? exit.signal : null },
  };
}

/** Phases as the core records them (name and start, ms since the drain began) to spans: each lasts until the next one starts, the last until the drain ended. */
export function phaseSpans(e: DrainEventRow, raw: readonly unknown[], totalMs: number): PhaseSpan[] {
  const starts = raw.map((p) => {
    const o = obj(e, p, 'phases[]');
    return { phase: String(o.phase), atMs: num(e, o, 'phases[].atMs') };
  });
  return starts.map((p, i) => ({ phase: p.phase, durationMs: Math.max(0, Math.round((starts[i + 1]?.atMs ?? totalMs) - p.atMs)) }));
}

function bad(e: DrainEventRow, what: string, got: unknown): Error {
  return new Error(`drainkit demo: registry event ${e.id} (${e.eventType}) has ${what} = ${JSON.stringify(got) ?? String(got)}; expected what the cluster reporter writes (docs/registry-cluster.md)`);
}

function obj(e: DrainEventRow, v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(e, what, v);
  return v as Record<string, unknown>;
}

function list(e: DrainEventRow, d: Record<string, unknown>, key: string): readonly unknown[] {
  const v = d[key];
  if (!Array.isArray(v)) throw bad(e, key, v);
  return v as unknown[];
}

function num(e: DrainEventRow, d: Record<string, unknown>, key: string): number {
  const v = d[key.split('.').pop()!];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(e, key, v);
  return v;
}
