/**
 * A cluster primary's registry reporter. Identity decision: the primary is the
 * `ServerInstance` of the cluster's host:port (the seed's `UNIQUE (host, port)` stays: the
 * workers share that port and only the primary can drain "that address"), and its workers are
 * rows of `ClusterWorker`, written by the primary from what they report over IPC (state, drain
 * phase, in-flight and persistent counts). The instance row carries the sums. Reloads, worker
 * exits, restarts and crash loops are events of the instance; a drain request for it stops the
 * whole cluster, as SIGTERM would (see `docs/registry-cluster.md`).
 *
 * Built from the instance reporter's parts: the same write queue (in order, bounded, retried),
 * the same registration and heartbeat statements (generations, rejoin after a reap, a row taken
 * by another live process left alone), the same remote-drain reader and reaper.
 */
import { log, type Level } from '../registry/log.js';
import { reap } from '../registry/reaper.js';
import { RemoteDrain } from '../registry/remote-drain.js';
import { resolveReporterOptions, type ResolvedReporterOptions } from '../registry/reporter-options.js';
import { registerRow } from '../registry/register.js';
import { migrate } from '../registry/schema.js';
import * as sql from '../registry/statements.js';
import { SYNC_WORKERS } from '../registry/cluster-statements.js';
import { ReporterConnection } from '../registry/connection.js';
import { WriteQueue, type Registration } from '../registry/writer.js';
import type { Logger } from '../core/types.js';
import type { ClusterEvents, ClusterRegistryOptions, ReloadResult, StopResult, WorkerDrain, WorkerInfo } from './types.js';

/** What the reporter needs of a running cluster. */
export interface ReportedCluster {
  readonly port: number;
  readonly pid: number;
  workers(): readonly WorkerInfo[];
  /** False once the cluster stops: a drain request then has nothing left to start. */
  readonly accepting: boolean;
  stop(reason: string): Promise<StopResult>;
  on<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): unknown;
  off<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): unknown;
}

/** The reporter's handle, held by the supervisor. */
export interface ClusterReporter {
  /** The final writes (every worker exited, `drain_complete`, row `stopped`), bounded by `shutdownFlushMs`; then closes the store. Resolves true when they landed. */
  finish(result: StopResult): Promise<boolean>;
  /** Resolves with the instance id once registered (tests, logs). */
  whenRegistered(): Promise<number>;
}

/** One `ClusterWorker` row as the primary writes it (snake case: the statement's record). */
interface WorkerRecord {
  readonly worker_id: number;
  readonly pid: number;
  readonly status: WorkerInfo['state'];
  readonly mode: WorkerInfo['mode'];
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  readonly exit_code: number | null;
  readonly exit_signal: string | null;
}

/**
 * Checks the options at once (a bad URL, a missing `pg` or a bad value throws here, before
 * any worker starts) and returns a function that starts the reporter for the cluster.
 */
export function prepareClusterReporter(databaseUrl: string, options: ClusterRegistryOptions, logger: Logger | undefined): (cluster: ReportedCluster) => ClusterReporter {
  const check = (port: number): ResolvedReporterOptions =>
    resolveReporterOptions(
      {
        databaseUrl,
        port,
        ...(options.host !== undefined && { host: options.host }),
        ...(options.labels !== undefined && { labels: options.labels }),
        ...(options.version !== undefined && { version: options.version }),
        ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
        ...(options.livenessWriteMs !== undefined && { livenessWriteMs: options.livenessWriteMs }),
        ...(options.shutdownFlushMs !== undefined && { shutdownFlushMs: options.shutdownFlushMs }),
        ...(logger !== undefined && { logger }),
      },
      undefined,
    );
  check(0);
  return (cluster) => new PrimaryReporter(cluster, check(cluster.port));
}

class PrimaryReporter implements ClusterReporter {
  readonly #cluster: ReportedCluster;
  readonly #o: ResolvedReporterOptions;
  readonly #queue: WriteQueue;
  readonly #remote: RemoteDrain;
  readonly #detachers: (() => void)[] = [];
  readonly #registered: Promise<number>;
  #resolveRegistered!: (id: number) => void;
  readonly #db: ReporterConnection;
  readonly #tick: NodeJS.Timeout;
  /** Workers that exited since the last sync, to be written once as `exited`. */
  readonly #exited = new Map<number, WorkerRecord>();
  /** What was last written per worker id (JSON), for this registration. */
  #written = new Map<number, string>();
  #lastHeartbeat = { inflight: -1, persistent: -1, at: 0 };
  #lastReapAt = 0;
  #takenOverBy: number | undefined;
  /** When the registration under way began: every attempt of it sends this. */
  #registeringSince: Date | undefined;
  #draining = false;
  #finished = false;

  constructor(cluster: ReportedCluster, options: ResolvedReporterOptions) {
    this.#cluster = cluster;
    this.#o = options;
    this.#db = new ReporterConnection({ databaseUrl: options.databaseUrl, queryTimeoutMs: options.queryTimeoutMs });
    this.#registered = new Promise((resolve) => (this.#resolveRegistered = resolve));
    this.#queue = new WriteQueue({ register: () => this.#register(), logger: options.logger, onRegistered: (r) => this.#onRegistered(r) });
    this.#remote = new RemoteDrain({
      store: () => this.#db.store(),
      registration: () => this.#queue.registration,
      accepting: () => cluster.accepting && !this.#draining,
      drain: (reason) => void cluster.stop(`remote: ${reason}`),
      queryTimeoutMs: options.queryTimeoutMs,
      logger: options.logger,
    });
    this.#attach();
    this.#queue.start();
    this.#tick = setInterval(() => this.#onTick(), options.heartbeatMs);
    this.#tick.unref();
  }

  whenRegistered(): Promise<number> {
    return this.#registered;
  }

  #attach(): void {
    const on = <E extends keyof ClusterEvents>(event: E, fn: (...args: ClusterEvents[E]) => void): void => {
      this.#cluster.on(event, fn);
      this.#detachers.push(() => this.#cluster.off(event, fn));
    };
    on('reloadStart', ({ trigger, workers }) => this.#event('reload_start', { trigger, workers }));
    on('reloadComplete', (r) => this.#event('reload_complete', reloadDetails(r)));
    on('workerExit', (info) => {
      this.#exited.set(info.id, { worker_id: info.id, pid: info.pid, status: 'exited', mode: info.mode, phase: null, inflight: 0, persistent: 0, exit_code: info.code, exit_signal: info.signal });
      // Only exits nobody asked for are events; drained workers are in their reload or stop.
      if (info.role === 'serving' && this.#cluster.accepting) this.#event('worker_exit', { pid: info.pid, code: info.code, signal: info.signal });
    });
    on('workerRestart', (info) => this.#event('worker_restart', info));
    on('crashLoop', (info) => this.#event('crash_loop', info));
    on('stopping', ({ reason, workers }) => this.#onStopping(reason, workers));
  }

  #onStopping(reason: string, workers: readonly number[]): void {
    this.#draining = true;
    void this.#remote.close();
    const { inflight, persistent } = this.#sums();
    const at = new Date();
    const details = { reason, inflight, persistent, pid: this.#o.pid, workers };
    // (No budget, null: the cluster's stop is its workers' drains, each bounded by its own options.)
    this.#queue.push({ label: 'drain_start', retry: true, run: (r) => this.#db.query(sql.DRAIN_START, [r.id, r.generation, inflight, persistent, JSON.stringify(details), at, null]) });
    // The cluster's own phase while its workers drain (each worker's phase is in its row).
    const phase = { phase: 'waiting', workers, inflight, persistent };
    this.#queue.push({ label: 'waiting', retry: true, run: (r) => this.#db.query(sql.PHASE, [r.id, r.generation, 'waiting', 'waiting', JSON.stringify(phase), at, inflight, persistent]) });
    this.#syncWorkers();
  }

  async finish(result: StopResult): Promise<boolean> {
    if (this.#finished) return true;
    this.#finished = true;
    clearInterval(this.#tick);
    this.#syncWorkers();
    const at = new Date();
    const details = stopDetails(result);
    this.#queue.push({ label: 'drain_complete', retry: true, run: (r) => this.#db.query(sql.DRAIN_COMPLETE, [r.id, r.generation, JSON.stringify(details), at]) });
    const landed = await this.#queue.flush(this.#o.shutdownFlushMs);
    for (const detach of this.#detachers.splice(0)) detach();
    this.#queue.stop();
    await this.#remote.close();
    await this.#db.close();
    return landed;
  }

  // ---- registration ---------------------------------------------------------------------

  async #register(): Promise<Registration> {
    const store = await this.#db.store();
    const o = this.#o;
    if (o.migrate) await migrate(store, { appliedBy: `${o.host}:${o.port} cluster pid ${o.pid}` });
    const { inflight, persistent } = this.#sums();
    const workers = this.#cluster.workers().length;
    const details = { host: o.host, port: o.port, pid: o.pid, version: o.version, labels: o.labels, cluster: { workers }, rejoined: this.#queue.instanceId !== undefined };
    this.#registeringSince ??= new Date();
    const { host, port, pid, version, labels } = o;
    const registration = await registerRow(store, { host, port, pid, version, labels, inflight, persistent, details, since: this.#registeringSince, livenessWriteMs: o.livenessWriteMs }, o.queryTimeoutMs);
    this.#lastHeartbeat = { inflight, persistent, at: Date.now() };
    return registration;
  }

  #onRegistered(r: Registration): void {
    this.#takenOverBy = undefined;
    this.#registeringSince = undefined;
    // A new registration has no worker rows yet: write them all.
    this.#written = new Map();
    this.#syncWorkers();
    this.#log('info', { event: 'registry_registered', instanceId: r.id, generation: r.generation, host: this.#o.host, port: this.#o.port }, `registered in the registry as ${this.#o.host}:${this.#o.port}`);
    this.#resolveRegistered(r.id);
    if (this.#cluster.accepting && !this.#draining) this.#remote.start();
  }

  // ---- tick: workers, heartbeat, drain requests, reaper ---------------------------------

  #onTick(): void {
    if (!this.#queue.idle) return; // registering, or writes pending: the next tick catches up
    this.#syncWorkers();
    const { inflight, persistent } = this.#sums();
    const now = Date.now();
    const changed = inflight !== this.#lastHeartbeat.inflight || persistent !== this.#lastHeartbeat.persistent;
    if (changed || now - this.#lastHeartbeat.at >= this.#o.livenessWriteMs) {
      this.#queue.push({ label: 'heartbeat', retry: false, run: (r) => this.#heartbeat(r) });
    }
    if (this.#cluster.accepting && !this.#draining) {
      void this.#remote.poll();
      const ttl = this.#o.reapTtlMs;
      if (ttl !== false && now - this.#lastReapAt >= ttl / 3) {
        this.#lastReapAt = now;
        void this.#reap(ttl);
      }
    }
  }

  /**
   * Queues one write of the workers whose row changed (and those that exited). Retried like a
   * transition: what it carries is remembered as written, and the queue is busy meanwhile, so
   * ticks add nothing while the database is away.
   */
  #syncWorkers(): void {
    const records: WorkerRecord[] = [];
    const live = new Set<number>();
    for (const w of this.#cluster.workers()) {
      live.add(w.id);
      if (this.#exited.has(w.id)) continue;
      records.push({ worker_id: w.id, pid: w.pid, status: w.state, mode: w.mode, phase: w.phase ?? null, inflight: w.inflight, persistent: w.persistent, exit_code: null, exit_signal: null });
    }
    records.push(...this.#exited.values());
    const changed = records.filter((r) => this.#written.get(r.worker_id) !== JSON.stringify(r));
    for (const r of changed) this.#written.set(r.worker_id, JSON.stringify(r));
    // Exited workers are written once; forget them (their row stays `exited`).
    for (const id of this.#exited.keys()) if (!live.has(id)) this.#exited.delete(id);
    if (changed.length === 0) return;
    const at = new Date();
    const payload = JSON.stringify(changed);
    this.#queue.push({ label: 'cluster_workers', retry: true, run: (r) => this.#db.query(SYNC_WORKERS, [r.id, r.generation, payload, at]) });
  }

  async #heartbeat(registration: Registration): Promise<void> {
    const { inflight, persistent } = this.#sums();
    const rows = (await this.#db.query(sql.HEARTBEAT, [registration.id, registration.generation, inflight, persistent])) as HeartbeatRow[];
    this.#lastHeartbeat = { inflight, persistent, at: Date.now() };
    if (this.#draining) return;
    const row = rows[0];
    if (row === undefined || row.status === 'stopped' || (row.status === null && row.current_status === 'stopped')) {
      this.#log('warn', { event: 'registry_rejoin', instanceId: registration.id, status: row === undefined ? 'missing' : 'stopped' }, 'registry row was stopped or gone; registering again');
      this.#queue.reRegister();
    } else if (row.status === null && this.#takenOverBy !== row.current_generation) {
      this.#takenOverBy = row.current_generation;
      this.#log(
        'error',
        { event: 'registry_identity_taken', instanceId: registration.id, byGeneration: row.current_generation, byPid: row.current_pid, host: this.#o.host, port: this.#o.port },
        `another process (pid ${row.current_pid ?? 'unknown'}) registered as ${this.#o.host}:${this.#o.port}; this cluster no longer updates the row. Give each process its own host:port identity (do not also use the registry plugin in the workers)`,
      );
    }
  }

  async #reap(ttlMs: number): Promise<void> {
    try {
      const store = await this.#db.store();
      const lost = await reap(store, { ttlMs, reapedBy: `${this.#o.host}:${this.#o.port} cluster pid ${this.#o.pid}`, timeoutMs: this.#o.queryTimeoutMs });
      for (const l of lost) this.#log('warn', { event: 'registry_instance_lost', ...l }, `instance ${l.host}:${l.port} stopped heartbeating; marked lost`);
    } catch {
      // The next run tries again; a database that is away is logged by the write queue.
    }
  }

  #sums(): { inflight: number; persistent: number } {
    let inflight = 0;
    let persistent = 0;
    for (const w of this.#cluster.workers()) {
      inflight += w.inflight;
      persistent += w.persistent;
    }
    return { inflight, persistent };
  }

  #event(type: string, details: object): void {
    const at = new Date();
    const json = JSON.stringify(details);
    this.#queue.push({ label: type, retry: true, run: (r) => this.#db.query(sql.EVENT, [r.id, r.generation, type, json, at]) });
  }

  #log(level: Level, obj: object, msg: string): void {
    log(this.#o.logger, level, { drainkit: 'cluster', ...obj }, msg);
  }
}

interface HeartbeatRow {
  readonly status: string | null;
  readonly current_status: string;
  readonly current_generation: number;
  readonly current_pid: number | null;
}

/** A worker's drain for an event: how it ended and its drain's main counts, without the whole report. */
function drainSummary(d: WorkerDrain): object {
  const r = d.result;
  return {
    pid: d.pid,
    mode: d.mode,
    success: d.success,
    forcedBy: d.forcedBy ?? null,
    durationMs: Math.round(d.durationMs),
    exit: d.exit,
    ...(r !== undefined && {
      outcome: r.outcome,
      requestsAtStart: r.requestsAtStart,
      requestsCompleted: r.requestsCompleted,
      requestsRemaining: r.requestsRemaining,
      persistentRemaining: r.persistentRemaining,
      connectionsForced: r.connectionsForced,
      // The drain's timeline, so a reader of the event (the demo's report, a dashboard) can say
      // what each worker's drain spent its time on without the worker's own log.
      window: r.window,
      phases: r.phases,
    }),
  };
}

function reloadDetails(r: ReloadResult): object {
  return {
    ok: r.ok,
    ...(r.reason !== undefined && { reason: r.reason }),
    trigger: r.trigger,
    durationMs: Math.round(r.durationMs),
    replaced: r.replaced.map((x) => ({ oldPid: x.oldPid, newPid: x.newPid, drain: drainSummary(x.drain) })),
    failedPids: r.failedPids,
  };
}

function stopDetails(r: StopResult): object {
  const sum = (pick: (d: WorkerDrain) => number | undefined): number => r.workers.reduce((n, d) => n + (pick(d) ?? 0), 0);
  return {
    success: r.ok,
    outcome: r.ok ? 'drained' : 'forced',
    reason: r.reason,
    durationMs: Math.round(r.durationMs),
    requestsAtStart: sum((d) => d.result?.requestsAtStart),
    requestsCompleted: sum((d) => d.result?.requestsCompleted),
    requestsRemaining: sum((d) => d.result?.requestsRemaining),
    persistentRemaining: sum((d) => d.result?.persistentRemaining),
    connectionsForced: sum((d) => d.result?.connectionsForced),
    workers: r.workers.map(drainSummary),
  };
}
