/**
 * The reporter's statements. Each is exactly one autocommit statement (data-modifying CTEs when
 * a row and an event change together), so it is atomic on Postgres and on pglite-socket's
 * shared session alike. Every parameter carries an explicit cast because on a shared session
 * the `pg` driver inlines parameters as untyped literals.
 *
 * Event timestamps and drain timestamps are the instance's clock at the moment of the
 * transition, passed in: a write retried after a database outage still records when it happened.
 *
 * The reporter's event statements are idempotent: each first looks for its own event (same
 * registration, type and instance timestamp, which a retry repeats exactly) and, when it is
 * there, changes nothing. A statement can land twice: the instance gives up waiting for an
 * answer that was lost (2 s of latency, packet loss) and retries, or a statement it gave up on
 * still sits in a closed socket's send queue and TCP delivers it once a partition heals, after
 * the retry. Without the check the event was written twice (the repository's test/faults/network.test.ts), and a
 * late `drain_start` could turn a stopped row back to draining. Two copies that run at the same
 * instant still both see no event (one statement, one snapshot); only a unique key in the
 * schema would close that window.
 *
 * Every statement an instance sends after registering names its registration, `$1` the row id
 * and `$2` the generation that registration returned: row changes apply only while the row is
 * still that registration's (a successor on the same host and port took it over otherwise), and
 * events are filed under the registration they belong to, whoever holds the row now.
 */

/**
 * $1 host, $2 port, $3 pid, $4 version, $5 labels (JSON), $6 inflight, $7 persistent, $8 details (JSON), $9 at,
 * $10 the instance's liveness write interval in ms (what the reaper judges its heartbeat's age by).
 * Takes the host:port row (a new one, or the next generation of an existing one); returns its id
 * and generation. `$9` is the same for every attempt of one registration, so a copy of one that
 * landed already (same pid and `registered_at`) changes nothing and returns that registration:
 * otherwise a retry after a lost answer took one more generation, and a late copy arriving after
 * it took the row from its own process, which then saw its identity "taken".
 */
export const REGISTER = `
WITH i AS (
  INSERT INTO ServerInstance AS s (host, port, status, inflight_count, drain_started_at, drained_at,
                                   pid, version, labels, persistent_count, phase, registered_at, last_heartbeat_at, generation, liveness_write_ms)
  VALUES ($1::text, $2::int, 'active', $6::int, NULL, NULL, $3::int, $4::text, $5::jsonb, $7::int, NULL, $9::timestamptz, now(), 1, $10::int)
  ON CONFLICT (host, port) DO UPDATE SET
    status = 'active', inflight_count = EXCLUDED.inflight_count, drain_started_at = NULL, drained_at = NULL,
    pid = EXCLUDED.pid, version = EXCLUDED.version, labels = EXCLUDED.labels,
    persistent_count = EXCLUDED.persistent_count, phase = NULL,
    registered_at = EXCLUDED.registered_at, last_heartbeat_at = now(), generation = s.generation + 1,
    drain_budget_ms = NULL, liveness_write_ms = EXCLUDED.liveness_write_ms
  WHERE s.pid IS DISTINCT FROM EXCLUDED.pid OR s.registered_at IS DISTINCT FROM EXCLUDED.registered_at
  RETURNING id, generation
), superseded AS (
  -- A request left pending for an earlier process on this host and port is not for this one.
  UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'superseded'
  WHERE instance_id IN (SELECT id FROM i) AND acknowledged_at IS NULL
  RETURNING id
), e AS (
  INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
  SELECT id, generation, 'registered', $9::timestamptz, $8::jsonb || jsonb_build_object('supersededRequests', (SELECT count(*) FROM superseded)) FROM i
  ON CONFLICT DO NOTHING
)
SELECT id, generation FROM i
UNION ALL
SELECT id, generation FROM ServerInstance
WHERE host = $1::text AND port = $2::int AND pid = $3::int AND registered_at = $9::timestamptz AND NOT EXISTS (SELECT 1 FROM i)`;

/**
 * $1 id, $2 generation, $3 inflight, $4 persistent. Returns one row while the host:port row
 * exists: `status` is the row's status when this registration still holds it (and was
 * refreshed), null when another registration took it over or the row is stopped (reaped, or a
 * late copy after drain_complete: a stopped row is never refreshed, so it cannot look alive
 * again); `current_*` then describe the row. No row: the row is gone (pruned).
 */
export const HEARTBEAT = `
WITH u AS (
  UPDATE ServerInstance SET inflight_count = $3::int, persistent_count = $4::int, last_heartbeat_at = now()
  WHERE id = $1::int AND generation = $2::int AND status <> 'stopped'
  RETURNING status
)
SELECT (SELECT status FROM u) AS status, s.status AS current_status, s.generation AS current_generation, s.pid AS current_pid
FROM ServerInstance s WHERE s.id = $1::int`;

/**
 * $1 id, $2 generation, $3 inflight, $4 persistent, $5 details (JSON), $6 at, $7 the drain's
 * budget in ms (window maximum + drain timeout). Requests still pending when the drain starts
 * (sent before it, not yet read) are answered `already_draining`.
 */
export const DRAIN_START = `
WITH fresh AS (
  SELECT NOT EXISTS (SELECT 1 FROM DrainEvent WHERE instance_id = $1::int AND generation = $2::int AND event_type = 'drain_start' AND timestamp = $6::timestamptz) AS yes
), u AS (
  UPDATE ServerInstance SET status = 'draining', drain_started_at = $6::timestamptz, drained_at = NULL, phase = 'deregistering', drain_budget_ms = $7::int,
                            inflight_count = $3::int, persistent_count = $4::int, last_heartbeat_at = now()
  WHERE id = $1::int AND generation = $2::int AND (SELECT yes FROM fresh)
  RETURNING id
), late AS (
  UPDATE DrainRequest SET acknowledged_at = $6::timestamptz, outcome = 'already_draining'
  WHERE instance_id IN (SELECT id FROM u) AND acknowledged_at IS NULL
  RETURNING id, requested_by, reason, requested_at
), late_events AS (
  INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
  SELECT $1::int, $2::int, 'drain_requested', $6::timestamptz,
         jsonb_build_object('requestId', id, 'requestedBy', requested_by, 'reason', reason, 'requestedAt', requested_at, 'outcome', 'already_draining')
  FROM late
  ON CONFLICT DO NOTHING
)
INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
SELECT $1::int, $2::int, 'drain_start', $6::timestamptz, $5::jsonb WHERE (SELECT yes FROM fresh)
ON CONFLICT DO NOTHING`;

/** $1 id, $2 generation, $3 phase, $4 event type, $5 details (JSON), $6 at, $7 inflight, $8 persistent. */
export const PHASE = `
WITH fresh AS (
  SELECT NOT EXISTS (SELECT 1 FROM DrainEvent WHERE instance_id = $1::int AND generation = $2::int AND event_type = $4::text AND timestamp = $6::timestamptz) AS yes
), u AS (
  UPDATE ServerInstance SET phase = $3::text, inflight_count = $7::int, persistent_count = $8::int
  WHERE id = $1::int AND generation = $2::int AND (SELECT yes FROM fresh)
  RETURNING id
)
INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
SELECT $1::int, $2::int, $4::text, $6::timestamptz, $5::jsonb WHERE (SELECT yes FROM fresh)
ON CONFLICT DO NOTHING`;

/** $1 id, $2 generation, $3 event type, $4 details (JSON), $5 at. */
export const EVENT = `
INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
SELECT $1::int, $2::int, $3::text, $5::timestamptz, $4::jsonb
WHERE NOT EXISTS (SELECT 1 FROM DrainEvent WHERE instance_id = $1::int AND generation = $2::int AND event_type = $3::text AND timestamp = $5::timestamptz)
ON CONFLICT DO NOTHING`;

/** $1 id, $2 generation, $3 details (JSON), $4 at. The instance's last write, after its shutdown hooks. */
export const DRAIN_COMPLETE = `
WITH fresh AS (
  SELECT NOT EXISTS (SELECT 1 FROM DrainEvent WHERE instance_id = $1::int AND generation = $2::int AND event_type = 'drain_complete' AND timestamp = $4::timestamptz) AS yes
), u AS (
  UPDATE ServerInstance SET status = 'stopped', drained_at = $4::timestamptz, phase = NULL,
                            inflight_count = 0, persistent_count = 0, last_heartbeat_at = now()
  WHERE id = $1::int AND generation = $2::int AND (SELECT yes FROM fresh)
  RETURNING id
)
INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
SELECT $1::int, $2::int, 'drain_complete', $4::timestamptz, $3::jsonb WHERE (SELECT yes FROM fresh)
ON CONFLICT DO NOTHING`;

/** $1 id. A read: is a drain request pending for this instance? */
export const PENDING_REQUEST = `
SELECT id FROM DrainRequest WHERE instance_id = $1::int AND acknowledged_at IS NULL LIMIT 1`;

/**
 * $1 id, $2 generation, $3 the instance's clock. Acknowledges every pending request with one
 * event each, only while this registration holds the row and is active; returns what was
 * acknowledged. The time comes from the instance, like every other instance event: with the
 * database's `now()` (µs) against the instance's millisecond clock, the `drain_start` written
 * right after could sort before its own `drain_requested` (seen in CI).
 */
export const ACKNOWLEDGE_REQUESTS = `
WITH owner AS (
  SELECT id FROM ServerInstance WHERE id = $1::int AND generation = $2::int AND status = 'active'
), a AS (
  UPDATE DrainRequest SET acknowledged_at = $3::timestamptz, outcome = 'draining'
  WHERE instance_id IN (SELECT id FROM owner) AND acknowledged_at IS NULL
  RETURNING id, instance_id, requested_by, reason, requested_at
)
INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details)
SELECT instance_id, $2::int, 'drain_requested', $3::timestamptz,
       jsonb_build_object('requestId', id, 'requestedBy', requested_by, 'reason', reason, 'requestedAt', requested_at)
FROM a
ON CONFLICT DO NOTHING
RETURNING details->>'requestedBy' AS requested_by, details->>'reason' AS reason`;

/** The NOTIFY channel for drain requests; the payload is the instance id. */
export const DRAIN_REQUEST_CHANNEL = 'drainkit_drain_request';

/**
 * $1 instance id (or null), $2 host, $3 port (or null), $4 requested by, $5 reason. Operator side:
 * one drain request for an active instance, and a NOTIFY on {@link DRAIN_REQUEST_CHANNEL} in the
 * same statement. Atomic against a concurrent request for the same instance: the partial unique
 * index of migration 5 makes the second INSERT a conflict, which does nothing; the request
 * already pending is then read back (`pending_*`). The read sees this statement's snapshot, so
 * a request committed by another session while this one waited on the index is not in it
 * (`request_id` and `pending_id` both null although the instance is active): the caller asks
 * again, and the next statement sees it.
 */
export const REQUEST_DRAIN = `
WITH t AS (
  SELECT id, host, port, status, generation, drain_started_at FROM ServerInstance
  WHERE ($1::int IS NOT NULL AND id = $1::int) OR (host = $2::text AND port = $3::int)
), r AS (
  INSERT INTO DrainRequest (instance_id, requested_by, reason, generation)
  SELECT id, $4::text, $5::text, generation FROM t WHERE status = 'active'
  ON CONFLICT (instance_id) WHERE acknowledged_at IS NULL DO NOTHING
  RETURNING id, instance_id, requested_at
), n AS (
  SELECT pg_notify('${DRAIN_REQUEST_CHANNEL}', instance_id::text) FROM r
), p AS (
  SELECT d.id, d.instance_id, d.requested_at, d.requested_by, d.reason, d.generation FROM DrainRequest d
  WHERE d.instance_id IN (SELECT id FROM t) AND d.acknowledged_at IS NULL AND NOT EXISTS (SELECT 1 FROM r)
)
SELECT t.id AS instance_id, t.host, t.port, t.status, t.generation, t.drain_started_at,
       r.id AS request_id, r.requested_at, (SELECT count(*) FROM n) AS notified,
       p.id AS pending_id, p.requested_at AS pending_requested_at, p.requested_by AS pending_requested_by,
       p.reason AS pending_reason, p.generation AS pending_generation
FROM t LEFT JOIN r ON r.instance_id = t.id LEFT JOIN p ON p.instance_id = t.id`;
