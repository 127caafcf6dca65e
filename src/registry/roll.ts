/**
 * A rolling restart of a fleet through the registry, whatever restarts the processes
 * (Kubernetes, systemd, a cluster supervisor, a container runtime). The registry cannot start a
 * process; it can ask one to drain and see its successor register. So a roll drains a few
 * active instances at a time with remote drain requests, waits until each drained process has
 * stopped and a replacement has registered active on the same host and port (the row's
 * generation goes up), and only then drains the next. A replacement that does not come stops the
 * roll: draining more would take capacity that is not coming back.
 */
import type { Store } from './driver.js';
import { RegistryError, describe } from './errors.js';
import { getInstance, listEvents, listInstances, requestDrain, type Instance } from './fleet.js';

export interface RollOptions {
  /** Only instances whose labels contain all of these. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** Only instances on this host. */
  readonly host?: string | undefined;
  /** How many instances may be draining or waiting for their replacement at once. Default 1. */
  readonly maxUnavailable?: number | undefined;
  /** How long a replacement may take to register active once the drained process stopped. Default 60 s. */
  readonly readyTimeoutMs?: number | undefined;
  /** How long a drained process may take to stop (its window plus drain timeout). Default 10 min. */
  readonly stopTimeoutMs?: number | undefined;
  /** Recorded with every drain request. */
  readonly reason: string;
  readonly requestedBy: string;
  /** How often each instance's row is read while waiting. Default 250 ms. */
  readonly pollMs?: number | undefined;
  /** Called on every change of an instance's step, in order. */
  readonly onProgress?: ((step: RollStep, all: readonly RollStep[]) => void) | undefined;
}

/**
 * Where one instance of the roll is. `waiting` (not drained yet), `draining` (request sent, the
 * old process still runs), `replacing` (it stopped; no replacement yet), then one end: `replaced`
 * (done), `skipped` (it was no longer active when its turn came, or the roll stopped first),
 * `lost` (a reaper marked it lost), `no_replacement` (none within the ready timeout), `stuck`
 * (still draining at the stop timeout).
 */
export type RollStepState = 'waiting' | 'draining' | 'replacing' | 'replaced' | 'skipped' | 'lost' | 'no_replacement' | 'stuck';

export interface RollStep {
  readonly instanceId: number;
  readonly host: string;
  readonly port: number;
  readonly state: RollStepState;
  /** The generation drained. */
  readonly fromGeneration: number;
  /** The replacement's generation, once it registered. */
  readonly toGeneration: number | null;
  /** The drained process's drain phase while draining. */
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  /** Whether the drained process reported a clean drain (null until it reported, or when it never did). */
  readonly drainedCleanly: boolean | null;
  /** The drain request's id, once sent. */
  readonly requestId: number | null;
  /** Why a step ended other than `replaced`, in one sentence. */
  readonly note: string | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

export type RollOutcome = 'completed' | 'stopped';

export interface RollResult {
  /** `completed`: every selected instance was replaced (or skipped, no longer active). `stopped`: see {@link RollResult.stoppedBecause}. */
  readonly outcome: RollOutcome;
  /** The step that stopped the roll. */
  readonly stoppedBecause: RollStep | null;
  readonly steps: readonly RollStep[];
  readonly reason: string;
  readonly requestedBy: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

const TERMINAL: ReadonlySet<RollStepState> = new Set(['replaced', 'skipped', 'lost', 'no_replacement', 'stuck']);

function checkedInteger(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: roll ${name} got ${describe(value)}; accepted: an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * Rolls the selected active instances. Throws `ERR_DRAINKIT_REGISTRY_NOT_FOUND` when none is
 * selected (a roll of nothing is a mistake in the filters, not a success). Resolves with the
 * result also when the roll stopped; a drain that could not be requested because the instance
 * was no longer active is `skipped`, not a failure. Rejects when the registry cannot be read or
 * written mid-roll; the drain requests sent by then stand.
 */
export async function rollFleet(store: Store, options: RollOptions): Promise<RollResult> {
  const maxUnavailable = checkedInteger('maxUnavailable', options.maxUnavailable, 1, 1, 10_000);
  const readyTimeoutMs = checkedInteger('readyTimeoutMs', options.readyTimeoutMs, 60_000, 100, 86_400_000);
  const stopTimeoutMs = checkedInteger('stopTimeoutMs', options.stopTimeoutMs, 600_000, 100, 86_400_000);
  const pollMs = checkedInteger('pollMs', options.pollMs, 250, 10, 60_000);
  const startedAt = new Date();
  const selected = await listInstances(store, { status: 'active', labels: options.labels, host: options.host });
  if (selected.length === 0) {
    const filters = [options.host === undefined ? '' : `host ${options.host}`, ...Object.entries(options.labels ?? {}).map(([k, v]) => `label ${k}=${v}`)].filter((s) => s !== '');
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_NOT_FOUND', `drainkit registry: no active instance${filters.length === 0 ? '' : ` matches ${filters.join(', ')}`}, so there is nothing to roll`);
  }
  const steps: RollStep[] = selected.map((i) => ({
    instanceId: i.id,
    host: i.host,
    port: i.port,
    state: 'waiting',
    fromGeneration: i.generation,
    toGeneration: null,
    phase: null,
    inflight: i.inflightCount,
    persistent: i.persistentCount,
    drainedCleanly: null,
    requestId: null,
    note: null,
    startedAt: null,
    finishedAt: null,
  }));
  const update = (index: number, change: Partial<RollStep>): void => {
    const before = steps[index]!;
    const after = { ...before, ...change };
    const changed = (Object.keys(change) as (keyof RollStep)[]).some((k) => before[k] !== after[k]);
    steps[index] = after;
    if (changed) options.onProgress?.(after, steps);
  };
  for (const [index] of steps.entries()) options.onProgress?.(steps[index]!, steps);

  let stoppedBecause: RollStep | null = null;
  // A lane whose registry read failed: the others stop at their next read instead of polling on.
  let broken = false;
  let next = 0;
  // A pool of `maxUnavailable` lanes: each takes the next waiting instance until none is left
  // or a step failed, so at most that many are out of rotation at any moment.
  const lane = async (): Promise<void> => {
    while (stoppedBecause === null && !broken && next < steps.length) {
      const index = next++;
      try {
        await rollOne(store, steps[index]!, (change) => update(index, change), { readyTimeoutMs, stopTimeoutMs, pollMs, reason: options.reason, requestedBy: options.requestedBy, broken: () => broken });
      } catch (err) {
        broken = true;
        throw err;
      }
      const step = steps[index]!;
      if (step.state !== 'replaced' && step.state !== 'skipped') stoppedBecause ??= step;
    }
  };
  await Promise.all(Array.from({ length: Math.min(maxUnavailable, steps.length) }, lane));
  for (const [index, step] of steps.entries()) {
    if (step.state === 'waiting') update(index, { state: 'skipped', note: 'not drained: the roll stopped before its turn' });
  }
  return { outcome: stoppedBecause === null ? 'completed' : 'stopped', stoppedBecause, steps: [...steps], reason: options.reason, requestedBy: options.requestedBy, startedAt, finishedAt: new Date() };
}

interface StepLimits {
  readonly readyTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly pollMs: number;
  readonly reason: string;
  readonly requestedBy: string;
  /** True once another lane failed: stop waiting, the roll is over. */
  readonly broken: () => boolean;
}

async function rollOne(store: Store, step: RollStep, update: (change: Partial<RollStep>) => void, limits: StepLimits): Promise<void> {
  const { instanceId: id, fromGeneration: generation } = step;
  try {
    const request = await requestDrain(store, { instanceId: id }, { requestedBy: limits.requestedBy, reason: limits.reason });
    if (request.generation !== generation) {
      // The row was taken over since the roll read it: that process is new already.
      update({ state: 'skipped', note: `already replaced (generation ${request.generation}) before its turn; a drain was requested of the new process`, finishedAt: new Date() });
      return;
    }
    update({ state: 'draining', requestId: request.requestId, startedAt: new Date() });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE') throw err;
    update({ state: 'skipped', note: 'no longer active when its turn came; not drained by this roll', finishedAt: new Date() });
    return;
  }

  const stopDeadline = Date.now() + limits.stopTimeoutMs;
  let readyDeadline: number | undefined;
  while (!limits.broken()) {
    const row = await getInstance(store, id);
    if (row === undefined) {
      update({ state: 'lost', note: `instance ${id} is no longer in the registry (pruned?)`, finishedAt: new Date() });
      return;
    }
    if (readyDeadline === undefined) {
      const stopped = await drainedProcessStopped(store, row, generation);
      if (stopped === 'lost') {
        update({ state: 'lost', note: 'stopped heartbeating before it reported its drain (marked lost)', finishedAt: new Date() });
        return;
      }
      if (stopped === 'running') {
        update(row.generation === generation ? { phase: row.phase, inflight: row.inflightCount, persistent: row.persistentCount } : {});
        if (Date.now() >= stopDeadline) {
          update({ state: 'stuck', note: `still draining after ${Math.round(limits.stopTimeoutMs / 1_000)} s; the drain request stands`, finishedAt: new Date() });
          return;
        }
      } else {
        readyDeadline = Date.now() + limits.readyTimeoutMs;
        update({ state: 'replacing', phase: null, inflight: 0, persistent: 0, drainedCleanly: stopped.clean });
      }
    }
    if (readyDeadline !== undefined) {
      if (row.generation > generation && row.status === 'active') {
        update({ state: 'replaced', toGeneration: row.generation, finishedAt: new Date() });
        return;
      }
      if (Date.now() >= readyDeadline) {
        update({
          state: 'no_replacement',
          note: `no replacement registered active on ${row.host}:${row.port} within ${Math.round(limits.readyTimeoutMs / 100) / 10} s of the drained process stopping` +
            (row.generation > generation ? ` (generation ${row.generation} is ${row.status})` : ''),
          finishedAt: new Date(),
        });
        return;
      }
    }
    await new Promise((r) => setTimeout(r, limits.pollMs));
  }
}

/**
 * Whether the process of `generation` has stopped: its row says stopped, or a successor took the
 * row over. Its own `drain_complete` (or a reaper's `lost`) event tells how it ended.
 */
async function drainedProcessStopped(store: Store, row: Instance, generation: number): Promise<'running' | 'lost' | { readonly clean: boolean | null }> {
  if (row.generation === generation && row.status !== 'stopped') return 'running';
  const last = (await listEvents(store, { instanceId: row.id, generation, types: ['drain_complete', 'lost'] })).at(-1);
  if (last?.eventType === 'lost') return 'lost';
  // No report, but a successor holds the host and port: the drained process no longer listens
  // there (it may have been killed before it could report).
  if (last === undefined) return { clean: null };
  return { clean: last.details?.success === true };
}

/** Whether a step has ended (replaced, skipped or failed). */
export function isFinished(step: RollStep): boolean {
  return TERMINAL.has(step.state);
}
