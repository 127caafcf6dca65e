/**
 * The read API for the control plane (instances, events, a fleet summary) and the one write it
 * needs: asking an instance to drain.
 */
import type { DrainState } from '../core/types.js';
import { RegistryError, describe } from './errors.js';
import { DRAIN_REQUEST_CHANNEL, REQUEST_DRAIN } from './statements.js';
import type { Store } from './driver.js';

/** One row of `ServerInstance`, in camelCase. */
export interface Instance {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly status: DrainState;
  readonly inflightCount: number;
  readonly persistentCount: number;
  readonly drainStartedAt: Date | null;
  readonly drainedAt: Date | null;
  readonly pid: number | null;
  readonly version: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** The drain phase while draining, else null. */
  readonly phase: string | null;
  readonly registeredAt: Date;
  readonly lastHeartbeatAt: Date;
  /**
   * Which registration holds the row: 1 for the first process on this host:port, one more for
   * each process that registered on it since.
   */
  readonly generation: number;
  /**
   * The current drain's budget (deregistration window maximum + drain timeout), as the instance
   * wrote it when the drain started; null before its first drain and for instances of versions
   * before the registry's migration 6.
   */
  readonly drainBudgetMs: number | null;
}

/** One row of `DrainEvent`. */
export interface DrainEventRow {
  readonly id: number;
  readonly instanceId: number | null;
  /** The registration (see {@link Instance.generation}) whose event this is; null for events written before generations existed. */
  readonly generation: number | null;
  readonly eventType: string;
  readonly timestamp: Date;
  readonly details: Record<string, unknown> | null;
}

export interface InstanceFilter {
  /** Only these states. */
  readonly status?: DrainState | readonly DrainState[] | undefined;
  /** Only instances whose labels contain all of these. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly host?: string | undefined;
}

interface InstanceRecord {
  id: number;
  host: string;
  port: number;
  status: DrainState;
  inflight_count: number;
  persistent_count: number;
  drain_started_at: Date | null;
  drained_at: Date | null;
  pid: number | null;
  version: string | null;
  labels: Record<string, string> | null;
  phase: string | null;
  registered_at: Date;
  last_heartbeat_at: Date;
  generation: number;
  drain_budget_ms: number | null;
}

const INSTANCE_COLUMNS = `id, host, port, status, inflight_count, persistent_count, drain_started_at, drained_at,
  pid, version, labels, phase, registered_at, last_heartbeat_at, generation, drain_budget_ms`;

/** Instances matching every given filter, by host then port. */
export async function listInstances(store: Store, filter: InstanceFilter = {}): Promise<Instance[]> {
  const statuses = filter.status === undefined ? null : (Array.isArray(filter.status) ? filter.status : [filter.status]) as readonly string[];
  for (const s of statuses ?? []) {
    if (s !== 'active' && s !== 'draining' && s !== 'stopped') {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: status filter got ${describe(s)}; accepted: "active", "draining", "stopped"`);
    }
  }
  const rows = await store.query<InstanceRecord>(
    `SELECT ${INSTANCE_COLUMNS} FROM ServerInstance
     WHERE ($1::text IS NULL OR status = ANY (string_to_array($1::text, ',')))
       AND labels @> $2::jsonb
       AND ($3::text IS NULL OR host = $3::text)
     ORDER BY host, port`,
    [statuses === null ? null : statuses.join(','), JSON.stringify(filter.labels ?? {}), filter.host ?? null],
  );
  return rows.map(toInstance);
}

/** One instance by id, or undefined. */
export async function getInstance(store: Store, id: number): Promise<Instance | undefined> {
  const rows = await store.query<InstanceRecord>(`SELECT ${INSTANCE_COLUMNS} FROM ServerInstance WHERE id = $1::int`, [id]);
  return rows[0] === undefined ? undefined : toInstance(rows[0]);
}

export interface EventFilter {
  readonly instanceId?: number | undefined;
  /** Only events of this registration of the instance (see {@link Instance.generation}). */
  readonly generation?: number | undefined;
  /** Inclusive. */
  readonly since?: Date | undefined;
  /** Exclusive. */
  readonly until?: Date | undefined;
  readonly types?: readonly string[] | undefined;
  /** Default 1000. Range 1 … 100 000. */
  readonly limit?: number | undefined;
}

/** Events in time order (then id order), oldest first. */
export async function listEvents(store: Store, filter: EventFilter = {}): Promise<DrainEventRow[]> {
  const limit = filter.limit ?? 1_000;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: events limit got ${describe(limit)}; accepted: an integer from 1 to 100000`);
  }
  if (filter.generation !== undefined && (!Number.isInteger(filter.generation) || filter.generation < 1)) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: events generation got ${describe(filter.generation)}; accepted: a positive integer`);
  }
  const rows = await store.query<{ id: number; instance_id: number | null; generation: number | null; event_type: string; timestamp: Date; details: Record<string, unknown> | null }>(
    `SELECT id, instance_id, generation, event_type, timestamp, details FROM DrainEvent
     WHERE ($1::int IS NULL OR instance_id = $1::int)
       AND ($6::int IS NULL OR generation = $6::int)
       AND ($2::timestamptz IS NULL OR timestamp >= $2::timestamptz)
       AND ($3::timestamptz IS NULL OR timestamp < $3::timestamptz)
       AND ($4::text IS NULL OR event_type = ANY (string_to_array($4::text, ',')))
     ORDER BY timestamp, id
     LIMIT $5::int`,
    [filter.instanceId ?? null, filter.since ?? null, filter.until ?? null, filter.types === undefined ? null : filter.types.join(','), limit, filter.generation ?? null],
  );
  return rows.map((r) => ({ id: r.id, instanceId: r.instance_id, generation: r.generation, eventType: r.event_type, timestamp: r.timestamp, details: r.details }));
}

export interface FleetSummary {
  readonly total: number;
  readonly active: number;
  readonly draining: number;
  readonly stopped: number;
  /** In-flight requests over instances not stopped, as of their last heartbeat. */
  readonly inflight: number;
  readonly persistent: number;
  /** Drain requests not yet acknowledged. */
  readonly pendingDrainRequests: number;
}

export async function fleetSummary(store: Store): Promise<FleetSummary> {
  const rows = await store.query<FleetSummary>(
    `SELECT count(*)::int AS total,
            (count(*) FILTER (WHERE status = 'active'))::int AS active,
            (count(*) FILTER (WHERE status = 'draining'))::int AS draining,
            (count(*) FILTER (WHERE status = 'stopped'))::int AS stopped,
            (COALESCE(sum(inflight_count) FILTER (WHERE status <> 'stopped'), 0))::int AS inflight,
            (COALESCE(sum(persistent_count) FILTER (WHERE status <> 'stopped'), 0))::int AS persistent,
            (SELECT count(*) FROM DrainRequest WHERE acknowledged_at IS NULL)::int AS "pendingDrainRequests"
     FROM ServerInstance`,
  );
  const row = rows[0];
  if (row === undefined) throw new RegistryError('ERR_DRAINKIT_REGISTRY_NOT_FOUND', 'drainkit registry: the summary query returned no row');
  return row;
}

export type DrainTarget = { readonly instanceId: number } | { readonly host: string; readonly port: number };

export interface DrainRequestInfo {
  readonly requestId: number;
  readonly instanceId: number;
  /** The registration the request is for (see {@link Instance.generation}). */
  readonly generation: number;
  readonly requestedAt: Date;
  /**
   * True when a request for this instance was already pending (another operator or a roll asked
   * first): nothing new was recorded, and the fields describe that request, the one the
   * instance will act on.
   */
  readonly alreadyPending: boolean;
  /** Who asked in the request returned (the earlier caller's when {@link DrainRequestInfo.alreadyPending}). */
  readonly requestedBy: string;
  readonly reason: string;
}

/**
 * Asks an active instance to drain: a `DrainRequest` row (who, why) and a NOTIFY on
 * `drainkit_drain_request` in the same statement. The instance picks it up at once when it
 * listens (real Postgres), else on its next heartbeat, acknowledges it with a `drain_requested`
 * event and runs the same drain as on SIGTERM.
 *
 * Throws `ERR_DRAINKIT_REGISTRY_NOT_FOUND` when no instance matches, and
 * `ERR_DRAINKIT_REGISTRY_NOT_ACTIVE` when the instance is already draining or stopped: a request
 * it would never read is refused rather than left pending. (A request that reaches an instance
 * which starts draining on its own before reading it is acknowledged with the outcome
 * `already_draining`.)
 *
 * At most one request is pending per instance, atomically (a unique index, migration 5): a
 * caller that asks while one is pending, even at the same instant, gets that request back with
 * `alreadyPending: true` instead of a second one.
 */
export async function requestDrain(store: Store, target: DrainTarget, request: { readonly requestedBy: string; readonly reason: string }): Promise<DrainRequestInfo> {
  for (const [name, value] of [['requestedBy', request.requestedBy], ['reason', request.reason]] as const) {
    if (typeof value !== 'string' || value.length === 0 || value.length > 1_000) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: requestDrain ${name} got ${describe(value)}; accepted: a non-empty string of at most 1000 characters`);
    }
  }
  const byId = 'instanceId' in target;
  const named = byId ? `instance ${target.instanceId}` : `${target.host}:${target.port}`;
  const params = [byId ? target.instanceId : null, byId ? null : target.host, byId ? null : target.port, request.requestedBy, request.reason];
  // A request committed by another session while this statement waited on the one-pending index
  // is outside its snapshot (see REQUEST_DRAIN): the next statement sees it. Three tries bound a
  // pathological race (each pending request acknowledged just as the next caller reads).
  for (let attempt = 1; ; attempt += 1) {
    const row = (await store.query<RequestDrainRow>(REQUEST_DRAIN, params))[0];
    if (row === undefined) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_NOT_FOUND', `drainkit registry: no instance matches ${named}`);
    }
    if (row.request_id !== null && row.requested_at !== null) {
      return { requestId: row.request_id, instanceId: row.instance_id, generation: row.generation, requestedAt: row.requested_at, alreadyPending: false, requestedBy: request.requestedBy, reason: request.reason };
    }
    if (row.status === 'active' && row.pending_id !== null && row.pending_requested_at !== null) {
      return {
        requestId: row.pending_id,
        instanceId: row.instance_id,
        generation: row.pending_generation ?? row.generation,
        requestedAt: row.pending_requested_at,
        alreadyPending: true,
        requestedBy: row.pending_requested_by ?? '',
        reason: row.pending_reason ?? '',
      };
    }
    if (row.status === 'active' && attempt < 3) continue;
    const since = row.status === 'draining' && row.drain_started_at !== null ? ` since ${row.drain_started_at.toISOString()}` : '';
    throw new RegistryError(
      'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE',
      row.status === 'active'
        ? `drainkit registry: instance ${row.instance_id} (${row.host}:${row.port}) had its pending drain requests acknowledged while this one was being recorded; it is draining now, so none was recorded`
        : `drainkit registry: instance ${row.instance_id} (${row.host}:${row.port}) is already ${row.status}${since}; only an active instance takes a drain request, so none was recorded`,
    );
  }
}

interface RequestDrainRow {
  instance_id: number;
  host: string;
  port: number;
  status: DrainState;
  generation: number;
  drain_started_at: Date | null;
  request_id: number | null;
  requested_at: Date | null;
  pending_id: number | null;
  pending_requested_at: Date | null;
  pending_requested_by: string | null;
  pending_reason: string | null;
  pending_generation: number | null;
}

function toInstance(r: InstanceRecord): Instance {
  return {
    id: r.id,
    host: r.host,
    port: r.port,
    status: r.status,
    inflightCount: r.inflight_count,
    persistentCount: r.persistent_count,
    drainStartedAt: r.drain_started_at,
    drainedAt: r.drained_at,
    pid: r.pid,
    version: r.version,
    labels: r.labels ?? {},
    phase: r.phase,
    registeredAt: r.registered_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    generation: r.generation,
    drainBudgetMs: r.drain_budget_ms,
  };
}

/** `pg_advisory_xact_lock` key of guarded drain requests: the bytes of "dk-guard" as a 64-bit integer. */
export const GUARDED_DRAIN_LOCK_KEY = '7235927148675035748';

/** What {@link requestDrainKeepingGroups} did: a request recorded, or why none was. */
export type GuardedDrainOutcome =
  | { readonly kind: 'requested'; readonly requestId: number; readonly generation: number }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'restarted'; readonly generation: number }
  | { readonly kind: 'not-active'; readonly status: DrainState }
  | { readonly kind: 'already-pending'; readonly requestId: number; readonly requestedBy: string }
  /** Each label group (`k=v`, or `(no labels)`) that would have no available instance left. */
  | { readonly kind: 'groups-left-empty'; readonly groups: readonly string[] };

/**
 * Asks an active instance to drain unless that would leave one of its label groups (each
 * key=value label; "(no labels)" for an unlabelled instance) with no available instance: one
 * that is active and has no drain request pending (a pending request is a drain about to start),
 * nor one it has acknowledged (its row says 'draining' only from its drain start a moment later,
 * so such an instance is answered `not-active` with status 'draining'). `force` skips the group
 * check.
 *
 * The check and the insert are one transaction under an advisory lock, so two callers (two tabs,
 * two dashboards) draining the two instances of a group at the same instant cannot both pass the
 * check: the second one's check runs after the first one's request is committed. It is a script
 * (Postgres runs a multi-statement simple query as one transaction, pglite-socket and PGlite run
 * it as one unit) because a single statement's snapshot is taken before it waits on the lock, and
 * would not see the request that the lock's holder just committed. The values are inlined as hex,
 * so no text can break out of its literal.
 */
export async function requestDrainKeepingGroups(
  store: Store,
  target: { readonly instanceId: number; readonly generation?: number | undefined },
  request: { readonly requestedBy: string; readonly reason: string; readonly force: boolean },
): Promise<GuardedDrainOutcome> {
  for (const [name, value] of [['requestedBy', request.requestedBy], ['reason', request.reason]] as const) {
    if (typeof value !== 'string' || value.length === 0 || value.length > 1_000) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: requestDrainKeepingGroups ${name} got ${describe(value)}; accepted: a non-empty string of at most 1000 characters`);
    }
  }
  for (const [name, value] of [['instanceId', target.instanceId], ['generation', target.generation ?? 1]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: requestDrainKeepingGroups ${name} got ${describe(value)}; accepted: a positive integer`);
    }
  }
  const text = (s: string): string => `convert_from(decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
  const id = String(target.instanceId);
  const generation = target.generation === undefined ? 'NULL' : String(target.generation);
  // Refusals leave the block as exceptions (rolling the transaction back) with a marker the
  // caller parses: a script returns no rows.
  const script = `SELECT pg_advisory_xact_lock(${GUARDED_DRAIN_LOCK_KEY});
DO $drainkit$
DECLARE
  t record;
  p record;
  empty text;
BEGIN
  SELECT id, status, generation, labels INTO t FROM ServerInstance WHERE id = ${id};
  IF NOT FOUND THEN RAISE EXCEPTION 'drainkit-guard:not-found:'; END IF;
  IF ${generation}::int IS NOT NULL AND t.generation <> ${generation}::int THEN RAISE EXCEPTION 'drainkit-guard:restarted:%', t.generation; END IF;
  IF t.status <> 'active' THEN RAISE EXCEPTION 'drainkit-guard:not-active:%', t.status; END IF;
  -- Acknowledged by this registration, which writes 'draining' to its row only a moment later
  -- (its drain start): it is draining already, and must neither get a second request nor count
  -- as available to its groups below.
  IF EXISTS (SELECT 1 FROM DrainRequest d WHERE d.instance_id = t.id AND d.generation = t.generation AND d.outcome = 'draining') THEN
    RAISE EXCEPTION 'drainkit-guard:not-active:draining';
  END IF;
  SELECT id, requested_by INTO p FROM DrainRequest WHERE instance_id = t.id AND acknowledged_at IS NULL ORDER BY id LIMIT 1;
  IF FOUND THEN RAISE EXCEPTION 'drainkit-guard:already-pending:%:%', p.id, encode(convert_to(p.requested_by, 'UTF8'), 'hex'); END IF;
  IF NOT ${request.force ? 'true' : 'false'} THEN
    WITH available AS (
      SELECT s.labels FROM ServerInstance s
      WHERE s.id <> t.id AND s.status = 'active'
        AND NOT EXISTS (SELECT 1 FROM DrainRequest d WHERE d.instance_id = s.id
                        AND (d.acknowledged_at IS NULL OR (d.generation = s.generation AND d.outcome = 'draining')))
    ), groups AS (
      SELECT key || '=' || value AS name, jsonb_build_object(key, value) AS want FROM jsonb_each_text(COALESCE(t.labels, '{}'::jsonb))
    )
    SELECT CASE
      WHEN COALESCE(t.labels, '{}'::jsonb) = '{}'::jsonb THEN
        CASE WHEN EXISTS (SELECT 1 FROM available a WHERE COALESCE(a.labels, '{}'::jsonb) = '{}'::jsonb) THEN NULL ELSE '(no labels)' END
      ELSE (SELECT string_agg(g.name, ', ' ORDER BY g.name) FROM groups g WHERE NOT EXISTS (SELECT 1 FROM available a WHERE COALESCE(a.labels, '{}'::jsonb) @> g.want))
    END INTO empty;
    IF empty IS NOT NULL THEN RAISE EXCEPTION 'drainkit-guard:groups-left-empty:%', encode(convert_to(empty, 'UTF8'), 'hex'); END IF;
  END IF;
  INSERT INTO DrainRequest (instance_id, requested_by, reason, generation) VALUES (t.id, ${text(request.requestedBy)}, ${text(request.reason)}, t.generation);
  PERFORM pg_notify('${DRAIN_REQUEST_CHANNEL}', t.id::text);
END $drainkit$;`;
  try {
    await store.script(script);
  } catch (err) {
    const refusal = /drainkit-guard:([a-z-]+):([^\s]*)/.exec(err instanceof Error ? err.message : String(err));
    if (refusal === null) throw err;
    const [, kind, rest = ''] = refusal;
    const unhex = (h: string): string => Buffer.from(h, 'hex').toString('utf8');
    switch (kind) {
      case 'not-found': return { kind };
      case 'restarted': return { kind, generation: Number(rest) };
      case 'not-active': return { kind, status: rest as DrainState };
      case 'already-pending': {
        const [requestId = '0', by = ''] = rest.split(':');
        return { kind, requestId: Number(requestId), requestedBy: unhex(by) };
      }
      case 'groups-left-empty': return { kind, groups: unhex(rest).split(', ') };
      default: throw err;
    }
  }
  // The lock is released; the request is committed and is the newest of this instance with these
  // words (the instance may have acknowledged it already, so acknowledged ones count too).
  const rows = await store.query<{ id: number; generation: number }>(
    `SELECT id, generation FROM DrainRequest WHERE instance_id = $1::int AND requested_by = $2::text AND reason = $3::text ORDER BY id DESC LIMIT 1`,
    [target.instanceId, request.requestedBy, request.reason],
  );
  const row = rows[0];
  if (row === undefined) throw new RegistryError('ERR_DRAINKIT_REGISTRY_NOT_FOUND', `drainkit registry: the drain request for instance ${target.instanceId} was recorded but cannot be read back`);
  return { kind: 'requested', requestId: row.id, generation: row.generation };
}
