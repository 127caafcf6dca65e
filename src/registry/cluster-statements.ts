/**
 * Statements of a cluster primary's reporter for its workers (table `ClusterWorker`, migration
 * 4). Like every registry write, each is one autocommit statement, names the registration it
 * belongs to (`$1` instance id, `$2` generation) and applies only while that registration holds
 * the host:port row: a cluster that took over the address from an earlier primary never writes
 * into its predecessor's workers, nor the predecessor into its.
 */

/**
 * $1 id, $2 generation, $3 workers (JSON array of `{ worker_id, pid, status, mode, phase,
 * inflight, persistent, exit_code, exit_signal }`), $4 at. Upserts the workers whose state
 * changed; `exited_at` is set once, when a worker is first written as exited.
 */
export const SYNC_WORKERS = `
WITH owner AS (
  SELECT id, generation FROM ServerInstance WHERE id = $1::int AND generation = $2::int
)
INSERT INTO ClusterWorker AS c (instance_id, generation, worker_id, pid, status, mode, phase, inflight_count, persistent_count,
                               started_at, updated_at, exited_at, exit_code, exit_signal)
SELECT o.id, o.generation, w.worker_id, w.pid, w.status, w.mode, w.phase, w.inflight, w.persistent,
       $4::timestamptz, $4::timestamptz, CASE WHEN w.status = 'exited' THEN $4::timestamptz END, w.exit_code, w.exit_signal
FROM owner o,
     jsonb_to_recordset($3::jsonb) AS w(worker_id int, pid int, status text, mode text, phase text, inflight int, persistent int, exit_code int, exit_signal text)
ON CONFLICT (instance_id, generation, worker_id) DO UPDATE SET
  pid = EXCLUDED.pid, status = EXCLUDED.status, mode = EXCLUDED.mode, phase = EXCLUDED.phase,
  inflight_count = EXCLUDED.inflight_count, persistent_count = EXCLUDED.persistent_count, updated_at = EXCLUDED.updated_at,
  exited_at = COALESCE(c.exited_at, EXCLUDED.exited_at), exit_code = EXCLUDED.exit_code, exit_signal = EXCLUDED.exit_signal`;

/** $1 id, $2 generation (optional: null for the row's current one). Read API. */
export const LIST_WORKERS = `
SELECT c.instance_id, c.generation, c.worker_id, c.pid, c.status, c.mode, c.phase, c.inflight_count, c.persistent_count,
       c.started_at, c.updated_at, c.exited_at, c.exit_code, c.exit_signal, s.status AS instance_status
FROM ClusterWorker c JOIN ServerInstance s ON s.id = c.instance_id
WHERE c.instance_id = $1::int AND c.generation = COALESCE($2::int, s.generation)
ORDER BY c.started_at, c.worker_id`;
