/**
 * `drainkit registry events` reads a page of the event log: the newest events by default, and
 * how many matched in all, so the command can say when its limit cut the list. The registry's
 * `listEvents` answers oldest first without a total; an operator asking "what happened" wants the
 * recent end, so the CLI runs this one read itself, with the same filters.
 */
import type { DrainEventRow, Store } from '../registry/index.js';

/** Every `DrainEvent.event_type` the registry writes (the `--type` filter accepts these only). */
export const EVENT_TYPES = [
  'registered',
  'drain_requested',
  'drain_start',
  'window_end',
  'listener_closed',
  'persistent_notified',
  'waiting',
  'forced',
  'cleanup',
  'drain_complete',
  'lost',
  // Written by `drainkit cluster --database-url` for the cluster's instance.
  'reload_start',
  'reload_complete',
  'worker_exit',
  'worker_restart',
  'crash_loop',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface EventPageQuery {
  readonly instanceId?: number | undefined;
  /** Inclusive. */
  readonly since?: Date | undefined;
  /** Exclusive. */
  readonly until?: Date | undefined;
  readonly types?: readonly EventType[] | undefined;
  /** 1 … 100 000. */
  readonly limit: number;
  /** The oldest `limit` events in time order, instead of the newest `limit` newest first. */
  readonly oldestFirst: boolean;
}

export interface EventPage {
  /** Newest first, or oldest first with `oldestFirst`. */
  readonly events: DrainEventRow[];
  /** How many events match the filters in all (≥ events.length). */
  readonly total: number;
}

export async function latestEvents(store: Store, q: EventPageQuery): Promise<EventPage> {
  const order = q.oldestFirst ? 'ASC' : 'DESC';
  // One statement (the embedded registry's shared session runs no transactions): the window
  // count is taken over every matching row before LIMIT applies.
  const rows = await store.query<{ id: number; instance_id: number | null; generation: number | null; event_type: string; timestamp: Date; details: Record<string, unknown> | null; total: number }>(
    `SELECT id, instance_id, generation, event_type, timestamp, details, (count(*) OVER ())::int AS total FROM DrainEvent
     WHERE ($1::int IS NULL OR instance_id = $1::int)
       AND ($2::timestamptz IS NULL OR timestamp >= $2::timestamptz)
       AND ($3::timestamptz IS NULL OR timestamp < $3::timestamptz)
       AND ($4::text IS NULL OR event_type = ANY (string_to_array($4::text, ',')))
     ORDER BY timestamp ${order}, id ${order}
     LIMIT $5::int`,
    [q.instanceId ?? null, q.since ?? null, q.until ?? null, q.types === undefined ? null : q.types.join(','), q.limit],
  );
  return {
    events: rows.map((r) => ({ id: r.id, instanceId: r.instance_id, generation: r.generation, eventType: r.event_type, timestamp: r.timestamp, details: r.details })),
    total: rows[0]?.total ?? 0,
  };
}
