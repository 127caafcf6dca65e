/**
 * The instance reporter: keeps one drainer's row and events in the registry.
 *
 * - Start: migrate, upsert on (host, port) as `active` with drain timestamps cleared, event
 *   `registered`. A database that is down only delays this: it is retried in the background and
 *   the server serves meanwhile.
 * - Heartbeat tick (`heartbeatMs`): reads `drainer.inflight` and `drainer.persistent.size` and
 *   writes them only when they changed, or when the row's `last_heartbeat_at` is due
 *   (`livenessWriteMs`). The request path is never touched.
 * - Transitions: drain start, window end, each phase and drain end, each one statement, queued
 *   in order. Listeners only queue; the drain never awaits the database. A shutdown hook (run by
 *   the core after the wait, bounded by `shutdownFlushMs`) gives the queue time to land what is
 *   pending. The final `drain_complete` (row `stopped`) is queued on `drained`, after every hook,
 *   and bounded on its own; whatever is still unsent then is dropped and logged.
 * - Remote drain ({@link RemoteDrain}): pending `DrainRequest` rows are read on each tick and, on
 *   real Postgres, at once on NOTIFY; acknowledged, then `drainer.drain('remote: …')`.
 * - Reaper: each reporter runs {@link reap} every `reapTtlMs / 3` while active.
 */
import type { Drainer, DrainerEvents, DrainPhase } from '../core/types.js';
import { drainBudgetMs } from './drain-budget.js';
import { RegistryError, messageOf } from './errors.js';
import { log, type Level } from './log.js';
import { reap } from './reaper.js';
import { RemoteDrain } from './remote-drain.js';
import { resolveReporterOptions, type ReporterOptions, type ResolvedReporterOptions } from './reporter-options.js';
import { registerRow } from './register.js';
import { migrate } from './schema.js';
import * as sql from './statements.js';
import { ReporterConnection } from './connection.js';
import { WriteQueue, type Registration } from './writer.js';

export type { ReporterOptions } from './reporter-options.js';

/** How much longer than the final write's budget the process is held for it (see 'drained'). */
const FINAL_WRITE_HOLD_MARGIN_MS = 100;

/** The handle returned by {@link startReporter}. */
export interface Reporter {
  /** The `ServerInstance.id`, once registered. */
  readonly instanceId: number | undefined;
  /** Resolves with the id once registered; rejects with `ERR_DRAINKIT_REGISTRY_CLOSED` if stopped first. */
  whenRegistered(): Promise<number>;
  /** Resolves true once every queued write landed (or was given up as unfixable, and logged); false after `timeoutMs`, or when {@link Reporter.stop} dropped what was pending. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Detach from the drainer, stop timers and the subscription, drop unsent writes (logged), close an owned store. Idempotent. */
  stop(): Promise<void>;
}

/** Event types written for each phase (`deregistering` is the `drain_start` event itself). */
const PHASE_EVENTS: Readonly<Partial<Record<DrainPhase, string>>> = {
  closing: 'listener_closed',
  persistent: 'persistent_notified',
  waiting: 'waiting',
  forcing: 'forced',
  cleanup: 'cleanup',
};

/**
 * Starts reporting `drainer` to the registry. Returns at once: registration happens in the
 * background. Throws only on invalid options (`ERR_DRAINKIT_REGISTRY_INVALID_OPTION`,
 * `..._UNKNOWN_OPTION`, `..._NO_DATABASE`).
 */
export function startReporter(drainer: Drainer, options: ReporterOptions): Reporter {
  return new InstanceReporter(drainer, resolveReporterOptions(options, drainer));
}

class InstanceReporter implements Reporter {
  readonly #drainer: Drainer;
  readonly #o: ResolvedReporterOptions;
  readonly #queue: WriteQueue;
  readonly #detachers: (() => void)[] = [];
  readonly #registeredWaiters: { resolve: (id: number) => void; reject: (err: Error) => void }[] = [];
  readonly #db: ReporterConnection;
  #tick: NodeJS.Timeout | undefined;
  readonly #remote: RemoteDrain;
  #lastWritten = { inflight: -1, persistent: -1, at: 0 };
  #lastReapAt = 0;
  /** The generation that took this host:port over while this process was active (logged once). */
  #takenOverBy: number | undefined;
  #drainStartedAt = 0;
  /** When the registration under way began: every attempt of it sends this (see sql.REGISTER). */
  #registeringSince: Date | undefined;
  #stopped: Promise<void> | undefined;

  constructor(drainer: Drainer, options: ResolvedReporterOptions) {
    this.#drainer = drainer;
    this.#o = options;
    this.#db = new ReporterConnection(options);
    this.#queue = new WriteQueue({
      register: () => this.#register(),
      logger: options.logger,
      onRegistered: (id) => this.#onRegistered(id),
    });
    this.#remote = new RemoteDrain({
      store: () => this.#db.store(),
      registration: () => this.#queue.registration,
      accepting: () => this.#drainer.state === 'active' && this.#stopped === undefined,
      drain: (reason) => void this.#drainer.drain(`remote: ${reason}`, { exit: 'as-signal' }),
      queryTimeoutMs: options.queryTimeoutMs,
      logger: options.logger,
    });
    this.#attach();
    this.#queue.start();
    this.#tick = setInterval(() => this.#onTick(), options.heartbeatMs);
    this.#tick.unref();
  }

  get instanceId(): number | undefined {
    return this.#queue.instanceId;
  }

  whenRegistered(): Promise<number> {
    const id = this.#queue.instanceId;
    if (id !== undefined) return Promise.resolve(id);
    if (this.#stopped) return Promise.reject(closed());
    return new Promise((resolve, reject) => this.#registeredWaiters.push({ resolve, reject }));
  }

  flush(timeoutMs = this.#o.shutdownFlushMs): Promise<boolean> {
    return this.#queue.flush(timeoutMs);
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  // ---- wiring -----------------------------------------------------------------------------

  #attach(): void {
    const d = this.#drainer;
    const on = <E extends keyof DrainerEvents>(event: E, fn: (...args: DrainerEvents[E]) => void): void => {
      d.on(event, fn);
      this.#detachers.push(() => d.off(event, fn));
    };
    on('state', (state, reason) => {
      if (state === 'draining') this.#onDrainStart(reason);
    });
    on('windowEnd', ({ endedBy, durationMs }) => this.#event('window_end', { endedBy, durationMs: round(durationMs) }));
    on('phase', (phase, info) => {
      const type = PHASE_EVENTS[phase];
      if (type === undefined) return;
      const details = { phase, atMs: round(info.atMs), inflight: info.inflight, persistent: info.persistent, ...(info.paths !== undefined && { paths: info.paths }) };
      const at = new Date();
      this.#queue.push({ label: type, retry: true, run: async (r) => this.#db.query(sql.PHASE, [r.id, r.generation, phase, type, JSON.stringify(details), at, info.inflight, info.persistent]) });
      this.#noteWritten(info.inflight, info.persistent);
    });
    // The instance's last write comes after its shutdown hooks, so that `stopped` in the registry
    // (what `drainkit registry drain --wait` waits for) means the process is done, hooks included.
    // The flush hook below lands everything before it; this one gets a bound of its own.
    on('drained', (result) => {
      const details = {
        success: result.success,
        outcome: result.outcome,
        reason: result.reason,
        forcedBy: result.forcedBy ?? null,
        forceReason: result.forceReason ?? null,
        durationMs: round(result.durationMs),
        windowMs: round(result.window.durationMs),
        windowEndedBy: result.window.endedBy,
        requestsAtStart: result.requestsAtStart,
        requestsCompleted: result.requestsCompleted,
        requestsRemaining: result.requestsRemaining,
        persistentRemaining: result.persistentRemaining,
        persistentClosed: result.persistentClosed,
        connectionsForced: result.connectionsForced,
        upgradesClosed: result.upgradesClosed,
        longestRequestMs: round(result.longestRequestMs),
        hooks: result.hooks.map((h) => ({ name: h.name, outcome: h.outcome, durationMs: round(h.durationMs), ...(h.error !== undefined && { error: h.error }) })),
      };
      const at = new Date();
      this.#queue.push({ label: 'drain_complete', retry: true, run: async (r) => this.#db.query(sql.DRAIN_COMPLETE, [r.id, r.generation, JSON.stringify(details), at]) });
      // The flush's own timer does not hold the process (a flush elsewhere must never keep it
      // alive), and while the queue sleeps between retries nothing else may either: the process
      // would then end before the final write was given up, and the loss would go unlogged.
      // This timer holds it until the flush has settled: it outlasts the flush's own timer (a
      // timer of the same length may fire first, in an earlier timers phase, and let the process
      // go), and the final write's budget stays within the exit grace, which bounds it anyway.
      const budgetMs = this.#finalWriteBudgetMs();
      const hold = setTimeout(() => undefined, budgetMs + FINAL_WRITE_HOLD_MARGIN_MS);
      void this.#queue.flush(budgetMs).then(() => {
        clearTimeout(hold);
        return this.stop();
      });
    });
    const unhook = d.onShutdown(
      'drainkit-registry',
      async (signal) => {
        // Bounded by the core too (timeoutMs below); the margin lets this return before the abort.
        await this.#queue.flush(Math.max(0, this.#o.shutdownFlushMs - 50), signal);
      },
      { timeoutMs: this.#o.shutdownFlushMs },
    );
    this.#detachers.push(unhook);
  }

  /**
   * How long the final write may take after the hooks. A process that exits on drain is ended
   * by the core `exitGraceMs` after the hooks if something (this write) still holds it: stop at
   * 80 % of that, so the loss is logged rather than cut short. Otherwise the flush bound.
   */
  #finalWriteBudgetMs(): number {
    const { exitOnDrain, exitGraceMs } = this.#drainer.options;
    return exitOnDrain ? Math.floor(0.8 * exitGraceMs) : this.#o.shutdownFlushMs;
  }

  #onDrainStart(reason: string): void {
    this.#drainStartedAt = Date.now();
    const inflight = this.#drainer.inflight;
    const persistent = this.#drainer.persistent.size;
    const budgetMs = drainBudgetMs(this.#drainer.options);
    const details = { reason, inflight, persistent, pid: this.#o.pid, budgetMs };
    const at = new Date(this.#drainStartedAt);
    this.#queue.push({ label: 'drain_start', retry: true, run: async (r) => this.#db.query(sql.DRAIN_START, [r.id, r.generation, inflight, persistent, JSON.stringify(details), at, budgetMs]) });
    this.#noteWritten(inflight, persistent);
    // No more remote drains to hear about.
    void this.#remote.close();
  }

  #event(type: string, details: object): void {
    const at = new Date();
    this.#queue.push({ label: type, retry: true, run: async (r) => this.#db.query(sql.EVENT, [r.id, r.generation, type, JSON.stringify(details), at]) });
  }

  // ---- registration -------------------------------------------------------------------------

  async #register(): Promise<Registration> {
    const store = await this.#db.store();
    if (this.#o.migrate) await migrate(store, { appliedBy: `${this.#o.host}:${this.#o.port} pid ${this.#o.pid}` });
    const inflight = this.#drainer.inflight;
    const persistent = this.#drainer.persistent.size;
    const o = this.#o;
    const details = { host: o.host, port: o.port, pid: o.pid, version: o.version, labels: o.labels, rejoined: this.#queue.instanceId !== undefined };
    this.#registeringSince ??= new Date();
    const { host, port, pid, version, labels } = o;
    const registration = await registerRow(store, { host, port, pid, version, labels, inflight, persistent, details, since: this.#registeringSince, livenessWriteMs: o.livenessWriteMs }, o.queryTimeoutMs);
    this.#noteWritten(inflight, persistent);
    return registration;
  }

  #onRegistered({ id, generation }: Registration): void {
    this.#takenOverBy = undefined;
    this.#registeringSince = undefined;
    for (const w of this.#registeredWaiters.splice(0)) w.resolve(id);
    this.#log('info', { event: 'registry_registered', instanceId: id, generation, host: this.#o.host, port: this.#o.port }, 'registered in the registry');
    if (this.#drainer.state === 'active') this.#remote.start();
  }

  // ---- heartbeat, reaper ---------------------------------------------------------------------

  #onTick(): void {
    const d = this.#drainer;
    if (d.state === 'stopped') return;
    if (!this.#queue.idle) return; // registering, or transitions pending: they carry the counts
    const inflight = d.inflight;
    const persistent = d.persistent.size;
    const now = Date.now();
    const changed = inflight !== this.#lastWritten.inflight || persistent !== this.#lastWritten.persistent;
    if (changed || now - this.#lastWritten.at >= this.#o.livenessWriteMs) {
      this.#queue.push({ label: 'heartbeat', retry: false, run: (r) => this.#heartbeat(r) });
    }
    if (d.state === 'active') {
      void this.#remote.poll();
      const ttl = this.#o.reapTtlMs;
      if (ttl !== false && now - this.#lastReapAt >= ttl / 3) {
        this.#lastReapAt = now;
        void this.#reap(ttl);
      }
    }
  }

  async #heartbeat(registration: Registration): Promise<void> {
    const inflight = this.#drainer.inflight;
    const persistent = this.#drainer.persistent.size;
    const rows = (await this.#db.query(sql.HEARTBEAT, [registration.id, registration.generation, inflight, persistent])) as HeartbeatRow[];
    this.#noteWritten(inflight, persistent);
    if (this.#drainer.state !== 'active') return;
    const row = rows[0];
    const id = registration.id;
    if (row === undefined || row.status === 'stopped' || (row.status === null && row.current_status === 'stopped')) {
      // Pruned, or reaped while we could not reach the database (or our successor's row was):
      // nobody live holds this host:port, so take it again.
      this.#log('warn', { event: 'registry_rejoin', instanceId: id, status: row === undefined ? 'missing' : 'stopped' }, 'registry row was stopped or gone; registering again');
      this.#queue.reRegister();
    } else if (row.status === null && this.#takenOverBy !== row.current_generation) {
      // Another live process registered on the same host and port. Taking the row back would
      // start a tug of war between two processes that claim one identity: say so, once.
      this.#takenOverBy = row.current_generation;
      this.#log(
        'error',
        { event: 'registry_identity_taken', instanceId: id, generation: registration.generation, byGeneration: row.current_generation, byPid: row.current_pid, host: this.#o.host, port: this.#o.port },
        `another process (pid ${row.current_pid ?? 'unknown'}) registered as ${this.#o.host}:${this.#o.port}; this one no longer updates the row. Give each process its own host:port identity`,
      );
    }
  }

  #noteWritten(inflight: number, persistent: number): void {
    this.#lastWritten = { inflight, persistent, at: Date.now() };
  }

  async #reap(ttlMs: number): Promise<void> {
    try {
      const store = await this.#db.store();
      const lost = await reap(store, { ttlMs, reapedBy: `${this.#o.host}:${this.#o.port} pid ${this.#o.pid}`, timeoutMs: this.#o.queryTimeoutMs });
      for (const l of lost) this.#log('warn', { event: 'registry_instance_lost', ...l }, `instance ${l.host}:${l.port} stopped heartbeating; marked lost`);
    } catch (err) {
      this.#log('debug', { event: 'registry_reap_failed', err: messageOf(err) }, 'reaper run failed');
    }
  }

  // ---- shutdown -----------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    clearInterval(this.#tick);
    for (const detach of this.#detachers.splice(0)) detach();
    this.#queue.stop();
    for (const w of this.#registeredWaiters.splice(0)) w.reject(closed());
    await this.#remote.close();
    await this.#db.close();
  }

  #log(level: Level, obj: object, msg: string): void {
    log(this.#o.logger, level, obj, msg);
  }

}

/** What {@link sql.HEARTBEAT} returns. */
interface HeartbeatRow {
  readonly status: string | null;
  readonly current_status: string;
  readonly current_generation: number;
  readonly current_pid: number | null;
}

function closed(): RegistryError {
  return new RegistryError('ERR_DRAINKIT_REGISTRY_CLOSED', 'drainkit registry: the reporter was stopped');
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
