/**
 * `registry instances --watch` and `registry events --follow`: the registry as a stream, one
 * line per change on stdout (one JSON object per line with `--json`), until Ctrl-C (SIGINT) or
 * SIGTERM, which end the command with exit 0: stopping a watch is how a watch ends.
 *
 * Both read the registry every half second. Instances write their state, not notifications, and
 * a small read twice a second is nothing next to a fleet's heartbeats. So `--watch` samples: a
 * state that lasts less than that may not show; `--follow` reads the event log and misses none.
 */
import type { DrainEventRow, Instance, InstanceFilter, Store } from '../registry/index.js';
import type { EventType } from './event-list.js';
import { paint, useColor, type Tone } from './progress.js';

type RegistryModule = typeof import('../registry/index.js');

/** How often a watch reads the registry. */
export const WATCH_POLL_MS = 500;

/**
 * An AbortSignal that fires on the first SIGINT or SIGTERM; the handlers are removed once it
 * fired or `release` is called, so a second Ctrl-C falls back to Node's default (exit at once).
 */
export function interruption(): { readonly signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    release();
    controller.abort();
  };
  function release(): void {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: controller.signal, release };
}

/** Waits `ms`, or less if `signal` fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** What a watch reports as a change: not the heartbeat timestamp, which moves on every write. */
function fingerprint(i: Instance): string {
  return JSON.stringify([i.status, i.phase, i.generation, i.pid, i.inflightCount, i.persistentCount, i.version, i.labels]);
}

const STATUS_TONE: Readonly<Record<Instance['status'], Tone>> = { active: 'good', draining: 'busy', stopped: 'plain' };

function instanceLine(i: Instance, color: boolean): string {
  const address = `${i.host.includes(':') ? `[${i.host}]` : i.host}:${i.port}`;
  const phase = i.phase === null ? '' : ` (${i.phase})`;
  return `${new Date().toISOString()}  instance ${i.id} ${address}  ${paint(i.status, STATUS_TONE[i.status], color)}${phase}  generation ${i.generation}, pid ${i.pid ?? '-'}, ${i.inflightCount} in flight, ${i.persistentCount} persistent`;
}

/**
 * Prints every instance matching `filter` once, then again each time it changes; an instance
 * that leaves the selection (pruned, or no longer in a filtered status) is said once too.
 */
export async function watchInstances(store: Store, registry: RegistryModule, filter: InstanceFilter, asJson: boolean, signal: AbortSignal, write: (line: string) => void): Promise<void> {
  const color = !asJson && useColor(process.stdout);
  const seen = new Map<number, { print: string; instance: Instance }>();
  while (!signal.aborted) {
    const now = await registry.listInstances(store, filter);
    const present = new Set<number>();
    for (const i of now) {
      present.add(i.id);
      const print = fingerprint(i);
      if (seen.get(i.id)?.print === print) continue;
      seen.set(i.id, { print, instance: i });
      write(asJson ? JSON.stringify({ change: 'instance', instance: i }) : instanceLine(i, color));
    }
    for (const [id, { instance }] of seen) {
      if (present.has(id)) continue;
      seen.delete(id);
      write(asJson ? JSON.stringify({ change: 'gone', instanceId: id }) : `${new Date().toISOString()}  instance ${id} ${instance.host}:${instance.port}  no longer matches (pruned, or left the filtered statuses)`);
    }
    await pause(WATCH_POLL_MS, signal);
  }
}

export interface FollowQuery {
  readonly instanceId?: number | undefined;
  readonly types?: readonly EventType[] | undefined;
}

/**
 * How far back each read of a follow looks from the newest event seen. Events carry the time
 * their instance wrote them and commit in any order among instances, so "after the last one seen"
 * would skip an event that committed late; reading a window again and skipping ids already
 * printed does not.
 */
const FOLLOW_OVERLAP_MS = 30_000;

function eventLine(e: DrainEventRow): string {
  return `${e.timestamp.toISOString()}  ${e.instanceId === null ? '-' : `instance ${e.instanceId}`}  ${e.eventType}${e.details === null ? '' : `  ${JSON.stringify(e.details)}`}`;
}

/**
 * Prints `initial` (the newest page, in any order; printed oldest first), then every event
 * written from then on, as it is written.
 */
export async function followEvents(store: Store, registry: RegistryModule, query: FollowQuery, initial: readonly DrainEventRow[], asJson: boolean, signal: AbortSignal, write: (line: string) => void): Promise<void> {
  const printed = new Map<number, number>(); // id -> timestamp, kept for the overlap window only
  const start = [...initial].sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime() || a.id - b.id);
  const after = start[0]?.timestamp ?? new Date();
  let newest = after.getTime();
  for (const e of start) {
    printed.set(e.id, e.timestamp.getTime());
    newest = Math.max(newest, e.timestamp.getTime());
    write(asJson ? JSON.stringify(e) : eventLine(e));
  }
  while (!signal.aborted) {
    const since = new Date(Math.max(after.getTime(), newest - FOLLOW_OVERLAP_MS));
    const events = await registry.listEvents(store, { instanceId: query.instanceId, types: query.types, since, limit: 100_000 });
    for (const e of events) {
      if (printed.has(e.id)) continue;
      printed.set(e.id, e.timestamp.getTime());
      newest = Math.max(newest, e.timestamp.getTime());
      write(asJson ? JSON.stringify(e) : eventLine(e));
    }
    for (const [id, at] of printed) if (at < newest - FOLLOW_OVERLAP_MS) printed.delete(id);
    await pause(WATCH_POLL_MS, signal);
  }
}
