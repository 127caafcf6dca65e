/**
 * Reads for a live view of the fleet: which stopped instances the reaper marked lost, the drain
 * requests (who asked, why, what became of it), and events after a known id (a change feed's
 * cursor). Read-only; the writes stay in fleet.ts and the reaper.
 */
import { RegistryError, describe } from './errors.js';
import type { DrainEventRow } from './fleet.js';
import type { Store } from './driver.js';

/** Ids of the instances whose current registration ended with a `lost` event (reaped, not drained). */
export async function listLostInstanceIds(store: Store): Promise<Set<number>> {
  const rows = await store.query<{ id: number }>(
    `SELECT s.id FROM ServerInstance s
     WHERE s.status = 'stopped'
       AND EXISTS (SELECT 1 FROM DrainEvent e WHERE e.instance_id = s.id AND e.generation = s.generation AND e.event_type = 'lost')`,
  );
  return new Set(rows.map((r) => r.id));
}

/** One row of `DrainRequest`. */
export interface DrainRequestRow {
  readonly id: number;
  readonly instanceId: number;
  readonly generation: number | null;
  readonly requestedBy: string;
  readonly reason: string;
  readonly requestedAt: Date;
  readonly acknowledgedAt: Date | null;
  /** `draining`, `superseded`, `already_draining`, `lost`, or null while pending. */
  readonly outcome: string | null;
}

export interface DrainRequestFilter {
  readonly instanceId?: number | undefined;
  /** Inclusive. */
  readonly since?: Date | undefined;
  /** Exclusive. */
  readonly until?: Date | undefined;
  /** Default 1000. Range 1 … 100 000. */
  readonly limit?: number | undefined;
}

/** Drain requests, newest first. */
export async function listDrainRequests(store: Store, filter: DrainRequestFilter = {}): Promise<DrainRequestRow[]> {
  const limit = checkLimit('drain requests', filter.limit ?? 1_000);
  const rows = await store.query<{ id: number; instance_id: number; generation: number | null; requested_by: string; reason: string; requested_at: Date; acknowledged_at: Date | null; outcome: string | null }>(
    `SELECT id, instance_id, generation, requested_by, reason, requested_at, acknowledged_at, outcome FROM DrainRequest
     WHERE ($1::int IS NULL OR instance_id = $1::int)
       AND ($2::timestamptz IS NULL OR requested_at >= $2::timestamptz)
       AND ($3::timestamptz IS NULL OR requested_at < $3::timestamptz)
     ORDER BY requested_at DESC, id DESC
     LIMIT $4::int`,
    [filter.instanceId ?? null, filter.since ?? null, filter.until ?? null, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    instanceId: r.instance_id,
    generation: r.generation,
    requestedBy: r.requested_by,
    reason: r.reason,
    requestedAt: r.requested_at,
    acknowledgedAt: r.acknowledged_at,
    outcome: r.outcome,
  }));
}

/**
 * Events with an id above `afterId`, in id order (the order they were written in), at most
 * `limit`. A change feed keeps the highest id it saw and asks for what came after it.
 */
export async function listEventsAfter(store: Store, afterId: number, limit = 1_000): Promise<DrainEventRow[]> {
  if (!Number.isInteger(afterId) || afterId < 0) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: events afterId got ${describe(afterId)}; accepted: an integer of 0 or more`);
  }
  checkLimit('events', limit);
  const rows = await store.query<{ id: number; instance_id: number | null; generation: number | null; event_type: string; timestamp: Date; details: Record<string, unknown> | null }>(
    `SELECT id, instance_id, generation, event_type, timestamp, details FROM DrainEvent
     WHERE id > $1::int ORDER BY id LIMIT $2::int`,
    [afterId, limit],
  );
  return rows.map((r) => ({ id: r.id, instanceId: r.instance_id, generation: r.generation, eventType: r.event_type, timestamp: r.timestamp, details: r.details }));
}

/** The highest event id so far (0 when there is none). */
export async function lastEventId(store: Store): Promise<number> {
  const rows = await store.query<{ id: number }>('SELECT COALESCE(max(id), 0)::int AS id FROM DrainEvent');
  return rows[0]?.id ?? 0;
}

function checkLimit(what: string, limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${what} limit got ${describe(limit)}; accepted: an integer from 1 to 100000`);
  }
  return limit;
}

export interface EventPageFilter {
  readonly instanceId?: number | undefined;
  readonly generation?: number | undefined;
  readonly types?: readonly string[] | undefined;
  /** Inclusive. */
  readonly since?: Date | undefined;
  /** Exclusive. */
  readonly until?: Date | undefined;
  /** Default 500. Range 1 … 100 000. */
  readonly limit?: number | undefined;
  /** The oldest `limit` events in time order, instead of the newest `limit` newest first. */
  readonly oldestFirst?: boolean | undefined;
}

export interface EventPage {
  /** Newest first, or oldest first with `oldestFirst`. */
  readonly events: DrainEventRow[];
  /** How many events match the filters in all (≥ events.length), so a reader can say the list was cut. */
  readonly total: number;
}

/**
 * One page of events, newest first by default (what an operator wants to see: the CLI's
 * `registry events` and the dashboard's audit view). One statement, as the embedded registry's
 * shared session runs no transactions: the window count is taken over every matching row before
 * LIMIT applies.
 */
export async function eventPage(store: Store, filter: EventPageFilter = {}): Promise<EventPage> {
  const limit = checkLimit('events', filter.limit ?? 500);
  const order = filter.oldestFirst === true ? 'ASC' : 'DESC';
  const rows = await store.query<{ id: number; instance_id: number | null; generation: number | null; event_type: string; timestamp: Date; details: Record<string, unknown> | null; total: number }>(
    `SELECT id, instance_id, generation, event_type, timestamp, details, (count(*) OVER ())::int AS total FROM DrainEvent
     WHERE ($1::int IS NULL OR instance_id = $1::int)
       AND ($2::int IS NULL OR generation = $2::int)
       AND ($3::text IS NULL OR event_type = ANY (string_to_array($3::text, ',')))
       AND ($4::timestamptz IS NULL OR timestamp >= $4::timestamptz)
       AND ($5::timestamptz IS NULL OR timestamp < $5::timestamptz)
     ORDER BY timestamp ${order}, id ${order}
     LIMIT $6::int`,
    [filter.instanceId ?? null, filter.generation ?? null, filter.types === undefined || filter.types.length === 0 ? null : filter.types.join(','), filter.since ?? null, filter.until ?? null, limit],
  );
  return {
    events: rows.map((r) => ({ id: r.id, instanceId: r.instance_id, generation: r.generation, eventType: r.event_type, timestamp: r.timestamp, details: r.details })),
    total: rows[0]?.total ?? 0,
  };
}

/** A worker of a cluster instance's current registration, for the live fleet view. */
export interface LiveClusterWorker {
  readonly instanceId: number;
  readonly workerId: number;
  readonly pid: number;
  readonly status: 'starting' | 'ready' | 'draining' | 'exited';
  /** `drainkit`: the worker reports its phases and counts; `disconnect`: Node's own, it reports none. */
  readonly mode: 'drainkit' | 'disconnect';
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  readonly updatedAt: Date;
}

/**
 * Every cluster worker of every instance's current registration in one read (the fleet view
 * re-reads it on each change): those still running, and those that exited in the last
 * `exitedWithinMs` (so a page sees a drained worker leave rather than vanish), oldest first.
 */
export async function listCurrentClusterWorkers(store: Store, exitedWithinMs = 10_000): Promise<LiveClusterWorker[]> {
  const rows = await store.query<{ instance_id: number; worker_id: number; pid: number; status: LiveClusterWorker['status']; mode: LiveClusterWorker['mode']; phase: string | null; inflight_count: number; persistent_count: number; updated_at: Date | string }>(
    `SELECT c.instance_id, c.worker_id, c.pid, c.status, c.mode, c.phase, c.inflight_count, c.persistent_count, c.updated_at
     FROM ClusterWorker c JOIN ServerInstance s ON s.id = c.instance_id AND s.generation = c.generation
     WHERE c.exited_at IS NULL OR c.exited_at > now() - make_interval(secs => $1::int / 1000.0)
     ORDER BY c.instance_id, c.started_at, c.worker_id`,
    [exitedWithinMs],
  );
  return rows.map((r) => ({ instanceId: r.instance_id, workerId: r.worker_id, pid: r.pid, status: r.status, mode: r.mode, phase: r.phase, inflight: r.inflight_count, persistent: r.persistent_count, updatedAt: new Date(r.updated_at) }));
}

/** The event types recorded in this registry, sorted (the audit view's type filter offers them). */
export async function listEventTypes(store: Store): Promise<string[]> {
  const rows = await store.query<{ event_type: string }>('SELECT DISTINCT event_type FROM DrainEvent ORDER BY event_type');
  return rows.map((r) => r.event_type);
}

/**
 * Ids of the instances that are `drainkit cluster` primaries: whose current registration has
 * `ClusterWorker` rows. One query for the whole fleet, so a listing reads the workers of the
 * few clusters only (`listClusterWorkers`) instead of asking once per instance.
 */
export async function listClusterInstanceIds(store: Store): Promise<Set<number>> {
  const rows = await store.query<{ id: number }>(
    `SELECT DISTINCT c.instance_id AS id FROM ClusterWorker c
     JOIN ServerInstance s ON s.id = c.instance_id AND c.generation = s.generation`,
  );
  return new Set(rows.map((r) => r.id));
}
