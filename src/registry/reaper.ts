/**
 * The reaper (instances that stopped heartbeating are marked `stopped` with a `lost` event) and
 * retention (old stopped instances and old events are deleted). Both are one statement each,
 * safe when every instance runs them at once: the reaper locks the stale rows it takes with
 * `FOR UPDATE SKIP LOCKED`, so two reapers never take the same row, and a row that another
 * reaper already stopped no longer matches `status <> 'stopped'` when re-checked. A reap with
 * nothing stale is one read and writes nothing (see {@link reap}).
 *
 * A row is stale when its heartbeat is older than the reap's TTL *and* than twice the
 * instance's own liveness write interval (recorded at register, migration 8): an idle instance
 * refreshes its heartbeat only that often, so a reaper with a shorter TTL (another instance's,
 * the CLI's 30 s default) would otherwise take a live one that writes every 60 s for lost, with a
 * false `lost` event, and it rejoined as a new generation at its next write.
 */
import { RegistryError, describe } from './errors.js';
import type { Store } from './driver.js';

export interface LostInstance {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly previousStatus: 'active' | 'draining';
  readonly lastHeartbeatAt: Date;
}

/** The reporters' default `livenessWriteMs`. */
export const DEFAULT_LIVENESS_WRITE_MS = 10_000;

export interface ReapOptions {
  /**
   * Instances whose last heartbeat is older than this, and older than twice their own liveness
   * write interval, are lost. Range 1 000 … 86 400 000.
   */
  readonly ttlMs: number;
  /**
   * The liveness write interval assumed for rows that did not record theirs (instances of
   * drainkit versions before the registry's migration 8). Default 10 000 (the reporters' default).
   * Range 50 … 600 000.
   */
  readonly livenessWriteMs?: number;
  /** Recorded in the `lost` event (`reapedBy`). Default `pid <pid>`. */
  readonly reapedBy?: string;
  readonly timeoutMs?: number;
}

/**
 * The stale condition of both statements: `$1` is the TTL, `assumedParam` the parameter holding
 * the interval assumed for rows that recorded none. The TTL bound stands alone so that the
 * partial index on `last_heartbeat_at` still narrows the scan.
 */
function stale(assumedParam: string): string {
  return `status <> 'stopped'
         AND last_heartbeat_at < now() - make_interval(secs => $1::int / 1000.0)
         AND last_heartbeat_at < now() - make_interval(secs => 2 * COALESCE(liveness_write_ms, ${assumedParam}::int) / 1000.0)`;
}

/** Marks stale instances `stopped` with an event `lost`; returns those it marked. */
export async function reap(store: Store, options: ReapOptions): Promise<LostInstance[]> {
  checkMs('reap ttlMs', options.ttlMs, 1_000, 86_400_000);
  const assumedLivenessMs = options.livenessWriteMs ?? DEFAULT_LIVENESS_WRITE_MS;
  checkMs('reap livenessWriteMs', assumedLivenessMs, 50, 600_000);
  const queryOptions = options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs };
  // A read first, because the statement below costs every listener even when it finds nothing:
  // its UPDATEs and INSERT fire the change feed's statement triggers whatever rows they touch,
  // so an empty reap sends three NOTIFYs, and every dashboard re-reads the whole fleet. Every
  // reporter reaps every ttl/3, so a fleet of 200 at the default TTL would send 60 a second for
  // nothing. The statement re-checks what it takes, so a row that heartbeats in between is kept.
  const due = await store.query<{ stale: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ServerInstance
                    WHERE ${stale('$2')}) AS stale`,
    [options.ttlMs, assumedLivenessMs],
    queryOptions,
  );
  if (due[0]?.stale !== true) return [];
  const rows = await store.query<{ id: number; host: string; port: number; previous_status: 'active' | 'draining'; last_heartbeat_at: Date }>(
    `WITH stale AS (
       SELECT id, status, last_heartbeat_at, inflight_count, persistent_count, pid, generation, liveness_write_ms FROM ServerInstance
       WHERE ${stale('$3')}
       FOR UPDATE SKIP LOCKED
     ), lost AS (
       UPDATE ServerInstance s SET status = 'stopped', phase = NULL
       FROM stale WHERE s.id = stale.id
       RETURNING s.id, s.host, s.port, stale.status AS previous_status, stale.last_heartbeat_at,
                 stale.inflight_count, stale.persistent_count, stale.pid, stale.generation, stale.liveness_write_ms
     ), closed AS (
       -- Nobody will read what was still pending for a lost instance: answer it.
       UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'lost'
       WHERE instance_id IN (SELECT id FROM lost) AND acknowledged_at IS NULL
       RETURNING id
     ), e AS (
       INSERT INTO DrainEvent (instance_id, generation, event_type, details)
       SELECT id, generation, 'lost', jsonb_build_object('previousStatus', previous_status, 'lastHeartbeatAt', last_heartbeat_at,
                                             'inflight', inflight_count, 'persistent', persistent_count, 'pid', pid,
                                             'ttlMs', $1::int, 'reapedBy', $2::text,
                                             'livenessWriteMs', COALESCE(liveness_write_ms, $3::int))
       FROM lost
     )
     SELECT id, host, port, previous_status, last_heartbeat_at FROM lost ORDER BY id`,
    [options.ttlMs, options.reapedBy ?? `pid ${process.pid}`, assumedLivenessMs],
    queryOptions,
  );
  return rows.map((r) => ({ id: r.id, host: r.host, port: r.port, previousStatus: r.previous_status, lastHeartbeatAt: r.last_heartbeat_at }));
}

export interface PruneResult {
  readonly instances: number;
  readonly events: number;
  readonly requests: number;
}

/**
 * Deletes stopped instances whose drain (or last heartbeat) is older than `olderThanMs`, with
 * all their events and requests, and every other event and acknowledged request older than that.
 * Instances that are not stopped are kept whatever their age.
 */
export async function prune(store: Store, options: { readonly olderThanMs: number; readonly timeoutMs?: number }): Promise<PruneResult> {
  checkMs('prune olderThanMs', options.olderThanMs, 0, 10 * 365 * 86_400_000);
  const rows = await store.query<PruneResult>(
    `WITH cutoff AS (SELECT now() - make_interval(secs => $1::bigint / 1000.0) AS at),
     old AS (
       SELECT s.id FROM ServerInstance s, cutoff
       WHERE s.status = 'stopped' AND COALESCE(s.drained_at, s.last_heartbeat_at) < cutoff.at
     ), ev AS (
       -- DrainEvent's foreign key has no ON DELETE CASCADE: the events go in the same statement.
       DELETE FROM DrainEvent d USING cutoff
       WHERE d.timestamp < cutoff.at OR d.instance_id IN (SELECT id FROM old)
       RETURNING d.id
     ), rq AS (
       -- The requests of deleted instances are deleted here rather than left to ON DELETE CASCADE,
       -- which would remove them uncounted; and every other acknowledged request that is old.
       DELETE FROM DrainRequest r USING cutoff
       WHERE r.instance_id IN (SELECT id FROM old) OR r.acknowledged_at < cutoff.at
       RETURNING r.id
     ), inst AS (
       DELETE FROM ServerInstance WHERE id IN (SELECT id FROM old) RETURNING id
     )
     SELECT (SELECT count(*) FROM inst)::int AS instances, (SELECT count(*) FROM ev)::int AS events, (SELECT count(*) FROM rq)::int AS requests`,
    [options.olderThanMs],
    options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs },
  );
  return rows[0] ?? { instances: 0, events: 0, requests: 0 };
}

function checkMs(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${name} got ${describe(value)}; accepted: an integer from ${min} to ${max}`);
  }
}
