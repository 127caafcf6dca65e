/**
 * The reporter's statements. Each is exactly one autocommit statement (data-modifying CTEs when
 * a row and an event change together), so it is atomic on Postgres and on pglite-socket's
 * shared session alike. Every parameter carries an explicit cast because on a shared session
 * the `pg` driver inlines parameters as untyped literals.
 *
 * Event timestamps and drain timestamps are the instance's clock at the moment of the
 * transition, passed in: a write retried after a database outage still records when it happened.
 */

/** $1 host, $2 port, $3 pid, $4 version, $5 labels (JSON), $6 inflight, $7 persistent, $8 details (JSON), $9 at. */
export const REGISTER = `
WITH i AS (
  INSERT INTO ServerInstance AS s (host, port, status, inflight_count, drain_started_at, drained_at,
                                   pid, version, labels, persistent_count, phase, registered_at, last_heartbeat_at)
  VALUES ($1::text, $2::int, 'active', $6::int, NULL, NULL, $3::int, $4::text, $5::jsonb, $7::int, NULL, $9::timestamptz, now())
  ON CONFLICT (host, port) DO UPDATE SET
    status = 'active', inflight_count = EXCLUDED.inflight_count, drain_started_at = NULL, drained_at = NULL,
    pid = EXCLUDED.pid, version = EXCLUDED.version, labels = EXCLUDED.labels,
    persistent_count = EXCLUDED.persistent_count, phase = NULL,
    registered_at = EXCLUDED.registered_at, last_heartbeat_at = now()
  RETURNING id
), superseded AS (
  -- A request left pending for an earlier process on this host and port is not for this one.
  UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'superseded'
  WHERE instance_id IN (SELECT id FROM i) AND acknowledged_at IS NULL
  RETURNING id
), e AS (
  INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
  SELECT id, 'registered', $9::timestamptz, $8::jsonb || jsonb_build_object('supersededRequests', (SELECT count(*) FROM superseded)) FROM i
)
SELECT id FROM i`;

/** $1 id, $2 inflight, $3 persistent, $4 pid. Returns the row's status (none when the row is gone or another pid owns it). */
export const HEARTBEAT = `
UPDATE ServerInstance SET inflight_count = $2::int, persistent_count = $3::int, last_heartbeat_at = now()
WHERE id = $1::int AND pid = $4::int
RETURNING status`;

/** $1 id, $2 inflight, $3 persistent, $4 details (JSON), $5 at. */
export const DRAIN_START = `
WITH u AS (
  UPDATE ServerInstance SET status = 'draining', drain_started_at = $5::timestamptz, drained_at = NULL, phase = 'deregistering',
                            inflight_count = $2::int, persistent_count = $3::int, last_heartbeat_at = now()
  WHERE id = $1::int
  RETURNING id
)
INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
SELECT id, 'drain_start', $5::timestamptz, $4::jsonb FROM u`;

/** $1 id, $2 phase, $3 event type, $4 details (JSON), $5 at, $6 inflight, $7 persistent. */
export const PHASE = `
WITH u AS (
  UPDATE ServerInstance SET phase = $2::text, inflight_count = $6::int, persistent_count = $7::int
  WHERE id = $1::int
  RETURNING id
)
INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
SELECT id, $3::text, $5::timestamptz, $4::jsonb FROM u`;

/** $1 id, $2 event type, $3 details (JSON), $4 at. */
export const EVENT = `
INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
VALUES ($1::int, $2::text, $4::timestamptz, $3::jsonb)`;

/** $1 id, $2 details (JSON), $3 at. */
export const DRAIN_COMPLETE = `
WITH u AS (
  UPDATE ServerInstance SET status = 'stopped', drained_at = $3::timestamptz, phase = NULL,
                            inflight_count = 0, persistent_count = 0, last_heartbeat_at = now()
  WHERE id = $1::int
  RETURNING id
)
INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
SELECT id, 'drain_complete', $3::timestamptz, $2::jsonb FROM u`;

/** $1 id. A read: is a drain request pending for this instance? */
export const PENDING_REQUEST = `
SELECT id FROM DrainRequest WHERE instance_id = $1::int AND acknowledged_at IS NULL LIMIT 1`;

/**
 * $1 id, $2 the instance's clock. Acknowledges every pending request with one event each; returns
 * what was acknowledged. The time comes from the instance, like every other instance event: with
 * the database's `now()` (µs) against the instance's millisecond clock, the `drain_start` written
 * right after could sort before its own `drain_requested` (seen in CI).
 */
export const ACKNOWLEDGE_REQUESTS = `
WITH a AS (
  UPDATE DrainRequest SET acknowledged_at = $2::timestamptz, outcome = 'draining'
  WHERE instance_id = $1::int AND acknowledged_at IS NULL
  RETURNING id, instance_id, requested_by, reason, requested_at
)
INSERT INTO DrainEvent (instance_id, event_type, timestamp, details)
SELECT instance_id, 'drain_requested', $2::timestamptz,
       jsonb_build_object('requestId', id, 'requestedBy', requested_by, 'reason', reason, 'requestedAt', requested_at)
FROM a
RETURNING details->>'requestedBy' AS requested_by, details->>'reason' AS reason`;

/** The NOTIFY channel for drain requests; the payload is the instance id. */
export const DRAIN_REQUEST_CHANNEL = 'drainkit_drain_request';
