/**
 * The registry's schema and its versioned migrations.
 *
 * Migration 1 creates the `ServerInstance` and `DrainEvent` tables and their index in their
 * original form (columns, types, constraints), then adds what the registry needs with separate
 * `ALTER TABLE`/`CREATE` statements, so that original DDL stays recognisable, unchanged, for
 * anyone who already has those tables or queries them.
 *
 * All migrations run as one script under `pg_advisory_xact_lock`: Postgres runs a
 * multi-statement simple query as one implicit transaction, so the lock is held until every
 * pending migration is committed, and twenty instances that start at once against an empty
 * database migrate it once (the others wait on the lock, then find every version applied).
 * pglite-socket runs the same script as one unit of its queue.
 */
import { RegistryError, messageOf } from './errors.js';
import type { Store } from './driver.js';

/** `pg_advisory_xact_lock` key: the bytes of "drainkit" as a 64-bit integer. */
export const MIGRATION_LOCK_KEY = '7237954656589801844';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** DDL, run inside a PL/pgSQL block: no transaction control, no dollar quotes. */
  readonly sql: string;
}

/** The original DDL of the two base tables, unchanged (the registry's additions follow). */
const SEED_SCHEMA = `
CREATE TABLE ServerInstance (
    id               SERIAL PRIMARY KEY,
    host             TEXT NOT NULL,
    port             INT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','draining','stopped')),
    inflight_count   INT NOT NULL DEFAULT 0,
    drain_started_at TIMESTAMPTZ,
    drained_at       TIMESTAMPTZ,
    UNIQUE (host, port)
);

CREATE TABLE DrainEvent (
    id          SERIAL PRIMARY KEY,
    instance_id INT REFERENCES ServerInstance(id),
    event_type  TEXT NOT NULL,
    timestamp   TIMESTAMPTZ NOT NULL DEFAULT now(),
    details     JSONB
);

CREATE INDEX idx_drain_instance ON DrainEvent (instance_id, timestamp);
`;

/** drainkit's additions; see docs/registry.md for why each exists. */
const REGISTRY_ADDITIONS = `
ALTER TABLE ServerInstance
    ADD COLUMN pid               INT,
    ADD COLUMN version           TEXT,
    ADD COLUMN labels            JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN persistent_count  INT NOT NULL DEFAULT 0,
    ADD COLUMN phase             TEXT,
    ADD COLUMN registered_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN last_heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now();

CREATE INDEX idx_instance_heartbeat ON ServerInstance (last_heartbeat_at) WHERE status <> 'stopped';
CREATE INDEX idx_instance_labels ON ServerInstance USING gin (labels);
CREATE INDEX idx_drain_event_timestamp ON DrainEvent (timestamp);

CREATE TABLE DrainRequest (
    id              SERIAL PRIMARY KEY,
    instance_id     INT NOT NULL REFERENCES ServerInstance(id) ON DELETE CASCADE,
    requested_by    TEXT NOT NULL,
    reason          TEXT NOT NULL,
    requested_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    acknowledged_at TIMESTAMPTZ,
    outcome         TEXT CHECK (outcome IN ('draining','superseded'))
);

CREATE INDEX idx_drain_request_pending ON DrainRequest (instance_id) WHERE acknowledged_at IS NULL;
`;

/**
 * Registrations: a host:port row is taken over by every process that registers on it, and each
 * registration gets the next `generation`. Every write an instance makes is guarded by its
 * (id, generation), so a draining predecessor can no longer change its successor's row, and each
 * event records the registration it belongs to. Drain requests get the outcomes of requests that
 * reach an instance already draining, or one that was reaped.
 */
const REGISTRATIONS = `
ALTER TABLE ServerInstance ADD COLUMN generation INT NOT NULL DEFAULT 1;
ALTER TABLE DrainEvent ADD COLUMN generation INT;
UPDATE DrainEvent d SET generation = s.generation FROM ServerInstance s WHERE d.instance_id = s.id;
CREATE INDEX idx_drain_event_registration ON DrainEvent (instance_id, generation, timestamp);
ALTER TABLE DrainRequest ADD COLUMN generation INT;
ALTER TABLE DrainRequest DROP CONSTRAINT drainrequest_outcome_check;
ALTER TABLE DrainRequest ADD CONSTRAINT drainrequest_outcome_check CHECK (outcome IN ('draining','superseded','already_draining','lost'));
`;

/** The channel on which every change to the registry's tables is announced (migration 3). */
export const FLEET_CHANGE_CHANNEL = 'drainkit_fleet_change';

/**
 * Change feeds: one statement-level trigger per table NOTIFYs {@link FLEET_CHANGE_CHANNEL} with
 * the table's name, so a dashboard LISTENs once instead of polling. Statement-level and with a
 * fixed payload, Postgres folds the notifications of one transaction into one, so a heartbeat
 * costs one notification whatever it touched.
 */
const CHANGE_FEED = `
CREATE OR REPLACE FUNCTION drainkit_notify_fleet_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('${FLEET_CHANGE_CHANNEL}', lower(TG_TABLE_NAME));
  RETURN NULL;
END
$fn$;
CREATE TRIGGER drainkit_instance_change AFTER INSERT OR UPDATE OR DELETE ON ServerInstance
  FOR EACH STATEMENT EXECUTE FUNCTION drainkit_notify_fleet_change();
CREATE TRIGGER drainkit_event_change AFTER INSERT OR UPDATE OR DELETE ON DrainEvent
  FOR EACH STATEMENT EXECUTE FUNCTION drainkit_notify_fleet_change();
CREATE TRIGGER drainkit_request_change AFTER INSERT OR UPDATE OR DELETE ON DrainRequest
  FOR EACH STATEMENT EXECUTE FUNCTION drainkit_notify_fleet_change();
`;

/**
 * Clusters: a `drainkit cluster` primary holds the `ServerInstance` row of its host:port (the
 * seed's `UNIQUE (host, port)` stays: the workers share the port, and the primary is the one
 * balancer a drain of that address can speak to); its workers are rows here, written by the
 * primary from what they report over IPC. Keyed by the registration (instance id, generation)
 * and `node:cluster`'s worker id, which, unlike a pid, is never reused within one primary.
 * Deleted with their instance (prune).
 */
const CLUSTER_WORKERS = `
CREATE TABLE ClusterWorker (
    instance_id      INT NOT NULL REFERENCES ServerInstance(id) ON DELETE CASCADE,
    generation       INT NOT NULL,
    worker_id        INT NOT NULL,
    pid              INT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('starting','ready','draining','exited')),
    mode             TEXT NOT NULL CHECK (mode IN ('drainkit','disconnect')),
    phase            TEXT,
    inflight_count   INT NOT NULL DEFAULT 0,
    persistent_count INT NOT NULL DEFAULT 0,
    started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    exited_at        TIMESTAMPTZ,
    exit_code        INT,
    exit_signal      TEXT,
    PRIMARY KEY (instance_id, generation, worker_id)
);
`;

/**
 * One pending drain request per instance, enforced by the database: two operators (or a roll and
 * an operator) asking at the same moment used to leave two pending rows, and the instance then
 * acknowledged both as one drain. A partial unique index makes the second INSERT a conflict that
 * `requestDrain` answers with the request already pending (`ON CONFLICT … DO NOTHING`, then a
 * read). Pending duplicates left by earlier versions are answered `superseded` first, the oldest
 * one standing, or the index could not be built.
 */
const ONE_PENDING_REQUEST = `
UPDATE DrainRequest d SET acknowledged_at = now(), outcome = 'superseded'
WHERE d.acknowledged_at IS NULL
  AND EXISTS (SELECT 1 FROM DrainRequest o WHERE o.instance_id = d.instance_id AND o.acknowledged_at IS NULL AND o.id < d.id);
DROP INDEX idx_drain_request_pending;
CREATE UNIQUE INDEX idx_drain_request_one_pending ON DrainRequest (instance_id) WHERE acknowledged_at IS NULL;
`;

/**
 * A drain's budget: the longest its drain may take before the core forces what remains (the
 * deregistration window's maximum plus the drain timeout), written by the instance with
 * `drain_start`, so that the fleet view shows time spent against it ("1.2 s of 35 s") without
 * knowing each instance's options. Null while active, and for instances of earlier versions.
 */
const DRAIN_BUDGET = `
ALTER TABLE ServerInstance ADD COLUMN drain_budget_ms INT;
`;

/**
 * Each event once, enforced by the database. Every instance event statement already looks for
 * its own event first (same registration, type and instance timestamp, which a retry or a late
 * copy repeats exactly) and writes nothing when it is there; but two copies executing at the
 * same instant both look before either has committed, and both inserted. With this index the
 * second copy's INSERT meets the first's row (it waits for the first to commit) and its
 * `ON CONFLICT DO NOTHING` drops it. Copies that versions before this one let in are deleted
 * first, the earliest standing, or the index could not be built: they are by definition the
 * same event twice. Rows without a generation (written before migration 2) are not covered, as
 * NULLs never conflict.
 */
const EVENT_ONCE = `
DELETE FROM DrainEvent d USING DrainEvent o
WHERE o.instance_id = d.instance_id AND o.generation = d.generation AND o.event_type = d.event_type
  AND o.timestamp = d.timestamp AND o.id < d.id;
CREATE UNIQUE INDEX idx_drain_event_once ON DrainEvent (instance_id, generation, event_type, timestamp);
`;

/**
 * Each registration's liveness write interval (`livenessWriteMs`: the longest an idle, live
 * instance goes without refreshing `last_heartbeat_at`), written at register, so that every
 * reaper judges a row by the instance's own interval: a row is lost only once its heartbeat is
 * older than both the reap's TTL and twice that interval. Without it a reap with the default
 * 30 s TTL took an instance that writes every 60 s for lost while it was alive. Null for
 * instances of earlier versions, which the reaper treats as writing at the default interval.
 */
const LIVENESS_WRITE = `
ALTER TABLE ServerInstance ADD COLUMN liveness_write_ms INT;
`;

/**
 * Every migration, in order of version (keep it sorted: {@link LATEST_VERSION} is the last one).
 * A version may be missing (a gap is harmless: each migration is guarded by its own row in
 * `drainkit_migrations`, so one added later with a lower number is still applied). An applied migration is never edited. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'seed schema and registry additions', sql: SEED_SCHEMA + REGISTRY_ADDITIONS },
  { version: 2, name: 'registration generations', sql: REGISTRATIONS },
  { version: 3, name: 'change feed notifications', sql: CHANGE_FEED },
  { version: 4, name: 'cluster workers', sql: CLUSTER_WORKERS },
  { version: 5, name: 'one pending drain request per instance', sql: ONE_PENDING_REQUEST },
  { version: 6, name: 'drain budget', sql: DRAIN_BUDGET },
  { version: 7, name: 'each event once', sql: EVENT_ONCE },
  { version: 8, name: 'liveness write interval', sql: LIVENESS_WRITE },
]);

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** The single script that applies whatever is pending, under the advisory lock. */
export function migrationScript(migrations: readonly Migration[], appliedBy: string): string {
  const by = quote(appliedBy);
  const steps = migrations.map(
    (m) => `DO $drainkit$ BEGIN
IF NOT EXISTS (SELECT 1 FROM drainkit_migrations WHERE version = ${m.version}) THEN
${m.sql}
INSERT INTO drainkit_migrations (version, name, applied_by) VALUES (${m.version}, ${quote(m.name)}, ${by});
END IF;
END $drainkit$;`,
  );
  return [
    `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY});`,
    `CREATE TABLE IF NOT EXISTS drainkit_migrations (
    version    INT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    applied_by TEXT
);`,
    ...steps,
  ].join('\n');
}

export interface MigrateOptions {
  /** Recorded in `drainkit_migrations.applied_by`. Default `pid <pid>`. */
  readonly appliedBy?: string;
  /** Bound of the whole script, lock wait included. Default 30 000 ms. */
  readonly timeoutMs?: number;
}

/** Applies pending migrations; safe to call from many processes at once. */
export async function migrate(store: Store, options: MigrateOptions = {}): Promise<void> {
  // A read first: when every migration is applied there is nothing to run. This is what lets an
  // instance log in with the least-privilege instance role (`drainkit registry roles`), which may
  // not CREATE in the schema: the script's `CREATE TABLE IF NOT EXISTS` needs that privilege even
  // when the table exists. Any failure of the read (no table yet) falls through to the script.
  if (await allApplied(store, options.timeoutMs ?? 30_000)) return;
  try {
    await store.script(migrationScript(MIGRATIONS, options.appliedBy ?? `pid ${process.pid}`), { timeoutMs: options.timeoutMs ?? 30_000 });
  } catch (err) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_MIGRATION', `drainkit registry: migration failed: ${messageOf(err)}`, { cause: err });
  }
}

async function allApplied(store: Store, timeoutMs: number): Promise<boolean> {
  try {
    const rows = await store.query<{ version: number }>('SELECT version FROM drainkit_migrations', [], { timeoutMs });
    const applied = new Set(rows.map((r) => Number(r.version)));
    return MIGRATIONS.every((m) => applied.has(m.version));
  } catch {
    return false;
  }
}

function quote(text: string): string {
  if (text.includes('\0')) throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', 'drainkit registry: appliedBy must not contain NUL');
  return `'${text.replace(/'/g, "''")}'`;
}
