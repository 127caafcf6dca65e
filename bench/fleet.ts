/**
 * A fleet on one Postgres registry: what the registry costs the database as the fleet grows.
 *
 * 1. **200 instances** (10 processes of 20, test/scale/fixtures/fleet-process.mjs: each process
 *    shares one pool and one LISTEN connection among its reporters), heartbeat 1 s, liveness
 *    write 2 s, under a load spread over every instance: rows written per second
 *    (pg_stat_user_tables), transactions per second (pg_stat_database, reads and notification
 *    reads included), change-feed notifications per second, and the CPU the database's backends
 *    spent (from /proc, per second of the window).
 * 2. **What a LISTEN connection per instance costs** (the library's default when each reporter
 *    gets a `databaseUrl`): every NOTIFY in a database wakes every backend listening in it,
 *    whatever the channel, and the change-feed triggers NOTIFY on every heartbeat write. So
 *    `L` backends LISTENing on `drainkit_drain_request` (as instances do) while heartbeat
 *    UPDATEs run through the real trigger: the listeners' CPU (from /proc) per write, for
 *    L = 0, 10, 40, interleaved, and the time each write takes. A fleet of N instances, each
 *    with its own LISTEN, writing W rows a second, spends about N × W times that: the square of
 *    the fleet. Then 40 listeners again with {@link QUIET_HEARTBEAT_TRIGGER}, a proposed trigger
 *    that does not NOTIFY heartbeat-only updates.
 *
 *     node --import tsx bench/run.ts fleet [--quick]
 *
 * Needs Postgres on 127.0.0.1:5432 (DRAINKIT_TEST_PG_URL to override) and `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { DRAIN_REQUEST_CHANNEL, migrate, type Store } from '../src/registry/index.js';
import { killAll, spawnServer, type ServerProcess } from '../test/helpers/processes.js';
import { createDatabase, postgresSkip, type TestDatabase } from '../test/registry/databases.js';
import { spreadLoad } from '../test/scale/fixtures/spread-load.js';
import { round } from './lib/stats.js';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.js';

const FIXTURE = 'test/scale/fixtures/fleet-process.mjs';
const HEARTBEAT_MS = 1_000;
const LIVENESS_WRITE_MS = 2_000;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Config {
  readonly label: string;
  readonly processes: number;
  readonly perProcess: number;
  /** Concurrent load workers spread over every instance; 0 for an idle fleet. */
  readonly loadWorkers: number;
}

interface Sample {
  readonly config: string;
  readonly instances: number;
  readonly windowS: number;
  readonly connections: number;
  readonly listenConnections: number;
  readonly rowsPerS: number;
  readonly transactionsPerS: number;
  readonly notificationsPerS: number;
  readonly backendCpuMsPerS: number;
  readonly requests: number;
  readonly failedRequests: number;
}

async function counters(store: Store): Promise<{ rows: number; commits: number; pids: number[]; listening: number }> {
  const rows = await store.query<{ rows: number; commits: number; pids: number[] | null; listening: number }>(
    `SELECT (SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables
             WHERE relname IN ('serverinstance', 'drainevent', 'drainrequest'))::bigint::int AS rows,
            (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::bigint::int AS commits,
            (SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend') AS pids,
            (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%')::int AS listening`,
  );
  const r = rows[0]!;
  return { rows: r.rows, commits: r.commits, pids: r.pids ?? [], listening: r.listening };
}

/** CPU time (ms) a process has used so far, from /proc/<pid>/stat (utime + stime); 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

async function measure(config: Config, windowMs: number, warmupMs: number, log: (line: string) => void): Promise<Sample> {
  const db: TestDatabase = await createDatabase('postgres');
  const children: ServerProcess[] = [];
  const listener = new pg.Client({ connectionString: db.url });
  try {
    const started = await Promise.all(
      Array.from({ length: config.processes }, (_, i) =>
        spawnServer({
          args: [FIXTURE, '--database-url', db.url, '--process', String(i), '--count', String(config.perProcess), '--heartbeat-ms', String(HEARTBEAT_MS),
            '--liveness-write-ms', String(LIVENESS_WRITE_MS)],
          readyTimeoutMs: 120_000,
        }),
      ),
    );
    children.push(...started);
    const ports = started.flatMap((c) => c.events[0]!.ports as number[]);
    let notifications = 0;
    await listener.connect();
    listener.on('notification', () => {
      notifications += 1;
    });
    await listener.query('LISTEN drainkit_fleet_change');
    const load = config.loadWorkers > 0 ? spreadLoad(ports, config.loadWorkers, 1_000_000) : undefined;
    await new Promise((r) => setTimeout(r, warmupMs));
    const before = await counters(db.store);
    const cpuBefore = new Map(before.pids.map((pid) => [pid, cpuMs(pid)]));
    const notificationsBefore = notifications;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const after = await counters(db.store);
    const seconds = (performance.now() - t0) / 1_000;
    const cpu = after.pids.reduce((sum, pid) => sum + cpuMs(pid) - (cpuBefore.get(pid) ?? 0), 0);
    const notified = notifications - notificationsBefore;
    const loadResult = await load?.stop();
    const sample: Sample = {
      config: config.label,
      instances: config.processes * config.perProcess,
      windowS: round(seconds, 1),
      connections: after.pids.length,
      listenConnections: after.listening,
      rowsPerS: round((after.rows - before.rows) / seconds, 1),
      transactionsPerS: round((after.commits - before.commits) / seconds, 1),
      notificationsPerS: round(notified / seconds, 1),
      backendCpuMsPerS: round(cpu / seconds, 1),
      requests: loadResult?.total ?? 0,
      failedRequests: loadResult?.failed ?? 0,
    };
    log(`fleet: ${JSON.stringify(sample)}`);
    return sample;
  } finally {
    await listener.end().catch(() => undefined);
    await killAll(children);
    await db.close();
  }
}

const LISTENER_COUNTS = [0, 10, 40] as const;
const MAX_LISTENERS = 40;

/**
 * A proposed schema change, measured here and not shipped (the schema belongs to migrations): the
 * change feed NOTIFYs when a row changes in a way an operator watches (status, phase,
 * generation, identity), not on heartbeat-only updates (counts and last_heartbeat_at), which the
 * dashboard would pick up on its poll instead.
 */
export const QUIET_HEARTBEAT_TRIGGER = `
DROP TRIGGER drainkit_instance_change ON ServerInstance;
CREATE TRIGGER drainkit_instance_change AFTER INSERT OR DELETE ON ServerInstance
  FOR EACH STATEMENT EXECUTE FUNCTION drainkit_notify_fleet_change();
CREATE TRIGGER drainkit_instance_transition AFTER UPDATE ON ServerInstance
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.phase IS DISTINCT FROM NEW.phase
                     OR OLD.generation IS DISTINCT FROM NEW.generation OR OLD.pid IS DISTINCT FROM NEW.pid
                     OR OLD.version IS DISTINCT FROM NEW.version OR OLD.labels IS DISTINCT FROM NEW.labels)
  EXECUTE FUNCTION drainkit_notify_fleet_change();`;

interface ListenSample {
  readonly listeners: number;
  /** Whether {@link QUIET_HEARTBEAT_TRIGGER} replaced the change feed's statement trigger. */
  readonly quietHeartbeats: boolean;
  readonly writes: number;
  readonly writeLoopMs: number;
  /** CPU the listening backends spent, per heartbeat write. */
  readonly listenerCpuUsPerWrite: number;
}

/** `listeners` backends LISTEN on the drain-request channel; `writes` heartbeat UPDATEs go through the change-feed trigger. */
export async function listenerCost(listeners: number, writes: number, quietHeartbeats: boolean, log: (line: string) => void): Promise<ListenSample> {
  const db = await createDatabase('postgres');
  const clients: pg.Client[] = [];
  try {
    await migrate(db.store);
    if (quietHeartbeats) await db.store.script(QUIET_HEARTBEAT_TRIGGER);
    const [row] = await db.store.query<{ id: number }>(
      `INSERT INTO ServerInstance (host, port, status, inflight_count, last_heartbeat_at) VALUES ('bench', 1, 'active', 0, now()) RETURNING id`,
    );
    const pids: number[] = [];
    for (let i = 0; i < listeners; i += 1) {
      const c = new pg.Client({ connectionString: db.url });
      clients.push(c);
      await c.connect();
      pids.push((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      await c.query(`LISTEN ${DRAIN_REQUEST_CHANNEL}`);
    }
    const writer = new pg.Client({ connectionString: db.url });
    clients.push(writer);
    await writer.connect();
    const before = pids.map(cpuMs);
    const t0 = performance.now();
    for (let i = 0; i < writes; i += 1) {
      await writer.query('UPDATE ServerInstance SET inflight_count = $2, last_heartbeat_at = now() WHERE id = $1', [row!.id, i % 7]);
    }
    const writeLoopMs = performance.now() - t0;
    // Let the listeners finish reading the queue.
    await new Promise((r) => setTimeout(r, 500));
    const cpu = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - before[i]!, 0);
    const sample = { listeners, quietHeartbeats, writes, writeLoopMs: round(writeLoopMs, 0), listenerCpuUsPerWrite: round((cpu * 1_000) / writes, 1) };
    log(`fleet: ${JSON.stringify(sample)}`);
    return sample;
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await db.close();
  }
}

async function run({ quick, log }: BenchOptions): Promise<BenchResult> {
  const skip = await postgresSkip();
  if (skip !== false) throw new Error(`fleet benchmark: ${skip}`);
  // Idle listeners publish their statistics about every 10 s: windows span several of those.
  const windowMs = quick ? 5_000 : 30_000;
  const warmupMs = quick ? 2_000 : 12_000;
  const rounds = quick ? 1 : 2;
  const writes = quick ? 500 : 2_000;

  const fleet200 = await measure({ label: '200 instances, one LISTEN per process, under load', processes: 10, perProcess: 20, loadWorkers: 48 }, windowMs, warmupMs, log);

  const listenRuns: ListenSample[] = [];
  for (let i = 0; i < rounds; i += 1) {
    for (const listeners of LISTENER_COUNTS) listenRuns.push(await listenerCost(listeners, writes, false, log));
    listenRuns.push(await listenerCost(MAX_LISTENERS, writes, true, log));
  }
  const meanOf = (listeners: number, quiet: boolean, key: 'listenerCpuUsPerWrite' | 'writeLoopMs'): number => {
    const xs = listenRuns.filter((r) => r.listeners === listeners && r.quietHeartbeats === quiet).map((r) => r[key]);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const usPerListenerPerWrite = round(meanOf(MAX_LISTENERS, false, 'listenerCpuUsPerWrite') / MAX_LISTENERS, 1);
  const writeMs = (listeners: number, quiet: boolean): number => round(meanOf(listeners, quiet, 'writeLoopMs') / writes, 2);
  const heartbeatWriteMs = { listeners0: writeMs(0, false), listeners10: writeMs(10, false), listeners40: writeMs(MAX_LISTENERS, false), listeners40QuietTrigger: writeMs(MAX_LISTENERS, true) };
  // 200 instances each with its own LISTEN, writing at the rate part 1 measured.
  const ownListen200CpuPerS = round((200 * fleet200.rowsPerS * usPerListenerPerWrite) / 1_000_000, 3);
  const writesPerInstance = round(fleet200.rowsPerS / fleet200.instances, 2);
  return {
    benchmark: 'fleet',
    target: 'registry writes per instance independent of the request rate (≤ about 1 per second)',
    met: writesPerInstance <= 1,
    headline: `200 instances: ${fleet200.rowsPerS} rows/s (${writesPerInstance} per instance) under ${round(fleet200.requests / (windowMs / 1_000 + warmupMs / 1_000), 0)} req/s; ` +
      `each LISTEN costs ${usPerListenerPerWrite} µs of backend CPU per heartbeat write, so 200 instances with a LISTEN each would spend ${ownListen200CpuPerS} CPU-s/s on wake-ups; ` +
      `a heartbeat write takes ${heartbeatWriteMs.listeners40} ms with 40 listeners against ${heartbeatWriteMs.listeners0} ms with none (${heartbeatWriteMs.listeners40QuietTrigger} ms with heartbeat-only updates not notified)`,
    heartbeatMs: HEARTBEAT_MS,
    livenessWriteMs: LIVENESS_WRITE_MS,
    windowMs,
    warmupMs,
    fleet200,
    listenRuns,
    usPerListenerPerWrite,
    ownListen200CpuPerS,
    heartbeatWriteMs,
  };
}

export const fleet: Benchmark = { name: 'fleet', run };
