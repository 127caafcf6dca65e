/**
 * The cluster supervisor: N workers of one script on one port through `node:cluster`
 * (round-robin: the primary accepts and hands connections out, so it is the balancer), rolling
 * reloads that never hold fewer than N ready workers, crash replacement with backoff, and a
 * stop that drains every worker in parallel.
 */
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DrainkitError } from '../core/errors.js';
import { resolvePort } from './port.js';
import { resolveClusterOptions, type ResolvedClusterOptions } from './options.js';
import { decideRestart } from './restart-policy.js';
import { prepareClusterReporter, type ClusterReporter } from './registry-reporter.js';
import type { ClusterEvents, ClusterOptions, ReloadResult, Replacement, StopResult, WorkerDrain, WorkerInfo } from './types.js';
import { ManagedWorker, describeExit, type WorkerExit } from './worker.js';

export type ClusterErrorCode = 'ERR_DRAINKIT_CLUSTER_START' | 'ERR_DRAINKIT_CLUSTER_RUNNING';

/** A running cluster, returned by {@link startCluster} once every worker is ready. */
export interface Cluster {
  readonly host: string;
  readonly port: number;
  /** The primary's pid (this process). */
  readonly pid: number;
  /** Workers now alive, with their state (`starting`, `ready`, `draining`). */
  workers(): readonly WorkerInfo[];
  /**
   * Rolling reload: start up to `maxSurge` replacements, wait until each is ready, then drain one
   * old worker per ready replacement with drainkit's sequence, until every worker is new. A
   * replacement that exits or is not ready within `readyTimeoutMs` aborts the reload: the old
   * workers keep serving, nothing of theirs is killed, and the result says why. Never rejects.
   *
   * One reload runs at a time: requests during a reload are coalesced into one more reload
   * that starts when the current one ends (the code may have changed again meanwhile), and
   * all of them resolve with its result. During a stop, a reload resolves `ok: false` at once.
   */
  reload(trigger?: string): Promise<ReloadResult>;
  /** Drains every worker in parallel; the same promise on every call. Never rejects. */
  stop(reason?: string): Promise<StopResult>;
  /** Skips what is left of every drain (a second signal): starts the stop if needed. */
  force(): Promise<StopResult>;
  /** Settles when the cluster stopped, whoever stopped it (a stop, or a crash loop that left no worker). */
  readonly stopped: Promise<StopResult>;
  on<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): this;
  once<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): this;
  off<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): this;
}

/** Why `startCluster` failed; `crashLoop` when workers kept dying or never got ready. */
export class ClusterStartError extends DrainkitError<ClusterErrorCode> {
  readonly crashLoop: ClusterEvents['crashLoop'][0] | undefined;
  /** Set when a stop (a signal, `options.signal`) came before every worker was ready: what that stop did. */
  readonly stoppedEarly: StopResult | undefined;

  constructor(message: string, cause: { readonly crashLoop?: ClusterEvents['crashLoop'][0]; readonly stoppedEarly?: StopResult } = {}) {
    super('ERR_DRAINKIT_CLUSTER_START', message);
    this.name = 'ClusterStartError';
    this.crashLoop = cause.crashLoop;
    this.stoppedEarly = cause.stoppedEarly;
  }
}

let running = false;
const now = (): number => performance.now();

/**
 * Starts the workers and resolves once all of them are ready. Rejects with a `DrainkitError`
 * (`ERR_DRAINKIT_CLUSTER_START`) when workers crash or are not ready within `readyTimeoutMs`
 * `restart.maxFastCrashes` times in a row; the workers started are stopped first. One cluster
 * per process (`node:cluster` is a process-wide singleton), in the primary only.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const opts = resolveClusterOptions(options);
  if (running || !cluster.isPrimary) {
    throw new DrainkitError<ClusterErrorCode>('ERR_DRAINKIT_CLUSTER_RUNNING', 'drainkit cluster: a cluster already runs in this process (or this process is a worker); one per process');
  }
  running = true;
  try {
    // A bad URL, a missing `pg` or a bad registry option throws here, before any worker starts.
    const reporterFor = opts.databaseUrl === undefined ? undefined : prepareClusterReporter(opts.databaseUrl, opts.registry, opts.logger);
    const port = await resolvePort(opts.host, opts.port);
    const supervisor = new Supervisor(opts, port);
    if (reporterFor) supervisor.reportTo(reporterFor);
    void supervisor.stopped.then(() => (running = false));
    await supervisor.start(options.signal);
    return supervisor;
  } catch (err) {
    running = false;
    throw err;
  }
}

type Role = 'serving' | 'surge' | 'retiring';

class Supervisor extends EventEmitter implements Cluster {
  readonly host: string;
  readonly port: number;
  readonly pid = process.pid;
  readonly stopped: Promise<StopResult>;
  readonly #opts: ResolvedClusterOptions;
  readonly #roles = new Map<ManagedWorker, Role>();
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #fastCrashes = 0;
  #gaveUp = false;
  #started = false;
  #startFailed: ((err: Error) => void) | undefined;
  #startDone: (() => void) | undefined;
  #reloading: Promise<ReloadResult> | undefined;
  #queued: { trigger: string; resolve: (r: ReloadResult) => void; promise: Promise<ReloadResult> } | undefined;
  #stop: Promise<StopResult> | undefined;
  #resolveStopped!: (r: StopResult) => void;
  #reporter: ClusterReporter | undefined;

  constructor(opts: ResolvedClusterOptions, port: number) {
    super();
    this.#opts = opts;
    this.host = opts.host;
    this.port = port;
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    // Round-robin explicitly (NODE_CLUSTER_SCHED_POLICY could say otherwise): the primary
    // accepts every connection and hands it to a worker, and a worker that closes its listener
    // is taken out of that rotation after one IPC round trip; a connection already on its way
    // is handed back and given to another worker.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // stdout of the workers goes to our stderr: the primary's stdout is for its own event lines.
    cluster.setupPrimary({ exec: opts.script, args: [...opts.args], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  }

  start(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#startDone = resolve;
      this.#startFailed = reject;
      // The abort's reason names the stop when it is a string (the CLI passes the signal's name).
      const abort = (): void => void this.stop(typeof signal?.reason === 'string' ? signal.reason : 'start-aborted');
      if (signal?.aborted) {
        abort();
        return;
      }
      signal?.addEventListener('abort', abort, { once: true });
      void this.stopped.then(() => signal?.removeEventListener('abort', abort));
      for (let i = 0; i < this.#opts.workers; i += 1) this.#spawnServing(undefined);
    });
  }

  workers(): readonly WorkerInfo[] {
    return [...this.#roles.keys()].map((w) => ({ id: w.id, pid: w.pid, state: w.state, mode: w.mode, phase: w.phase, inflight: w.inflight, persistent: w.persistent }));
  }

  /** False once the stop began. */
  get accepting(): boolean {
    return this.#stop === undefined;
  }

  /** Reports this cluster to the registry from now on; its final writes come before {@link stopped} settles. */
  reportTo(start: (cluster: this) => ClusterReporter): void {
    this.#reporter = start(this);
  }

  /** The registry reporter's instance id once registered (undefined without a registry). */
  whenRegistered(): Promise<number> | undefined {
    return this.#reporter?.whenRegistered();
  }

  /** Ready workers in rotation. */
  #ready(): ManagedWorker[] {
    return [...this.#roles].filter(([w, role]) => role === 'serving' && w.state === 'ready').map(([w]) => w);
  }

  #fork(role: Role): ManagedWorker {
    const w = new ManagedWorker({ port: this.port, host: this.host, env: this.#opts.env, output: process.stderr });
    this.#roles.set(w, role);
    this.#log('info', { event: 'worker_fork', pid: w.pid, role }, `worker ${w.pid} started`);
    w.once('ready', () => {
      this.#log('info', { event: 'worker_ready', pid: w.pid, mode: w.mode }, `worker ${w.pid} ready (${w.mode === 'drainkit' ? 'drainkit' : 'no drainkit: disconnect mode'})`);
      this.emit('workerReady', { pid: w.pid, mode: w.mode });
    });
    w.once('selfDrain', (reason) => this.#onSelfDrain(w, reason));
    w.once('exit', (exit) => this.#onExit(w, exit));
    return w;
  }

  /** A worker meant to serve (at start, or replacing a dead one): ready within the bound, or killed and counted as a crash. */
  #spawnServing(replacing: number | undefined): void {
    if (this.#stop || this.#gaveUp) return;
    const w = this.#fork('serving');
    void w.whenReady(this.#opts.readyTimeoutMs).then((outcome) => {
      if (!outcome.ok) {
        this.#log('warn', { event: 'worker_not_ready', pid: w.pid, reason: outcome.reason }, outcome.reason);
        // Its exit is handled as a crash (backoff, then the crash-loop bound). Drained, not
        // killed: one that listens may already hold connections.
        void w.drain('cluster:not-ready', this.#opts.drainTimeoutMs);
        return;
      }
      if (replacing !== undefined) this.emit('workerReplaced', { oldPid: replacing, newPid: w.pid });
      this.#checkStarted();
    });
  }

  #checkStarted(): void {
    if (this.#started || this.#ready().length < this.#opts.workers) return;
    this.#started = true;
    this.#startDone?.();
    this.emit('listening', { host: this.host, port: this.port, pid: this.pid, workers: this.#ready().map((w) => w.pid) });
  }

  #onSelfDrain(w: ManagedWorker, reason: string): void {
    if (this.#stop || this.#roles.get(w) !== 'serving') return;
    // Someone signalled the worker itself: it drains on its own, and its replacement starts now
    // so the cluster is back to N ready workers as soon as possible.
    this.#roles.set(w, 'retiring');
    this.#log('info', { event: 'worker_self_drain', pid: w.pid, reason }, `worker ${w.pid} drains on its own (${reason}); starting its replacement`);
    void w.drain(reason, this.#opts.drainTimeoutMs);
    this.#spawnServing(w.pid);
  }

  #onExit(w: ManagedWorker, exit: WorkerExit): void {
    const role = this.#roles.get(w);
    this.#roles.delete(w);
    this.emit('workerExit', { id: w.id, pid: w.pid, mode: w.mode, code: exit.code, signal: exit.signal, role });
    this.#log(role === 'serving' && !this.#stop ? 'warn' : 'info', { event: 'worker_exit', pid: w.pid, code: exit.code, signal: exit.signal, role }, `worker ${w.pid} exited (${describeExit(exit)})`);
    // Surge workers belong to their reload; retiring ones were drained on purpose.
    if (this.#stop || role !== 'serving') return;
    const decision = decideRestart(this.#opts.restart, this.#fastCrashes, exit.livedMs);
    this.#fastCrashes = decision.fastCrashes;
    if (decision.action === 'give-up') {
      this.#gaveUp = true;
      const workersLeft = this.#ready().length;
      this.#log('error', { event: 'crash_loop', fastCrashes: decision.fastCrashes, workersLeft }, `crash loop: ${decision.fastCrashes} workers in a row died within ${this.#opts.restart.fastCrashMs} ms of starting; no more replacements (${workersLeft} left)`);
      const info = { fastCrashes: decision.fastCrashes, lastPid: w.pid, code: exit.code, signal: exit.signal, workersLeft };
      this.emit('crashLoop', info);
      if (!this.#started) {
        const fail = this.#startFailed;
        this.#startFailed = undefined;
        void this.stop('crash-loop').then(() =>
          fail?.(new ClusterStartError(`drainkit cluster: workers could not start: ${decision.fastCrashes} in a row died or were not ready (last: pid ${w.pid}, ${describeExit(exit)}); see the workers' output above`, { crashLoop: info })),
        );
      } else if (this.#roles.size === 0) {
        void this.stop('crash-loop');
      }
      return;
    }
    this.#log('warn', { event: 'worker_restart', pid: w.pid, delayMs: decision.delayMs, fastCrashes: decision.fastCrashes }, `replacing worker ${w.pid} in ${decision.delayMs} ms`);
    this.emit('workerRestart', { pid: w.pid, code: exit.code, signal: exit.signal, delayMs: decision.delayMs, fastCrashes: decision.fastCrashes });
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      this.#spawnServing(w.pid);
    }, decision.delayMs);
    this.#restartTimers.add(timer);
  }

  // ---- reload ---------------------------------------------------------------------------

  reload(trigger = 'api'): Promise<ReloadResult> {
    if (this.#stop) return Promise.resolve(this.#refuse(trigger, 'the cluster is stopping'));
    if (!this.#started) return Promise.resolve(this.#refuse(trigger, 'the cluster is not listening yet'));
    if (this.#reloading === undefined) {
      this.#reloading = this.#runReload(trigger);
      return this.#reloading;
    }
    if (this.#queued === undefined) {
      let resolve!: (r: ReloadResult) => void;
      const promise = new Promise<ReloadResult>((r) => (resolve = r));
      this.#queued = { trigger, resolve, promise };
      this.#log('info', { event: 'reload_queued', trigger }, 'a reload is running; this one starts when it ends');
    }
    return this.#queued.promise;
  }

  async #runReload(trigger: string): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      result = await this.#reloadOnce(trigger);
    } finally {
      this.#reloading = undefined;
    }
    const queued = this.#queued;
    if (queued) {
      this.#queued = undefined;
      if (this.#stop) queued.resolve(this.#refuse(queued.trigger, 'the cluster is stopping'));
      else {
        this.#reloading = this.#runReload(queued.trigger);
        queued.resolve(await this.#reloading);
      }
    }
    return result;
  }

  async #reloadOnce(trigger: string): Promise<ReloadResult> {
    const t0 = now();
    const old = this.#ready();
    const opts = this.#opts;
    this.#log('info', { event: 'reload_start', trigger, workers: old.map((w) => w.pid) }, `reload (${trigger}): replacing ${old.length} workers, ${opts.maxSurge} at a time`);
    this.emit('reloadStart', { trigger, workers: old.map((w) => w.pid) });
    const replaced: Promise<Replacement>[] = [];
    const failedPids: number[] = [];
    let reason: string | undefined;
    // Always N new workers: a cluster that lost workers to a crash loop is back to N after a reload.
    let toStart = opts.workers;
    while (toStart > 0 && reason === undefined) {
      const batch = Array.from({ length: Math.min(opts.maxSurge, toStart) }, () => this.#fork('surge'));
      toStart -= batch.length;
      const outcomes = await Promise.all(batch.map((w) => w.whenReady(opts.readyTimeoutMs)));
      const stopping = this.#stop !== undefined;
      if (stopping) reason = 'the cluster is stopping';
      else reason = outcomes.find((o) => !o.ok && 'reason' in o)?.reason;
      for (const [i, w] of batch.entries()) {
        if (reason !== undefined) {
          // Aborted: every replacement of the batch leaves; one that listens may already hold
          // connections and is drained like any other worker.
          // (A worker that never listened is killed by the drain itself: it has nothing to drain.)
          // A replacement the stop took did not fail: it is not listed.
          if (!outcomes[i]!.ok && !stopping) failedPids.push(w.pid);
          void this.#retire(w, 'cluster:reload-aborted');
          continue;
        }
        this.#roles.set(w, 'serving');
        // The new worker is in rotation: only now does an old one leave it, so N stay ready.
        const previous = this.#nextOld(old);
        if (previous) replaced.push(this.#retire(previous, 'cluster:reload').then((drain) => ({ oldPid: previous.pid, newPid: w.pid, drain })));
      }
    }
    if (reason === undefined) {
      this.#fastCrashes = 0;
      this.#gaveUp = false;
      // Replacements of workers that crashed during the reload can leave one too many.
      for (const extra of this.#ready().filter((w) => old.includes(w)).slice(0, Math.max(0, this.#ready().length - opts.workers))) {
        void this.#retire(extra, 'cluster:reload');
      }
    }
    const done = await Promise.all(replaced);
    const result: ReloadResult = {
      ok: reason === undefined,
      ...(reason !== undefined && { reason }),
      trigger,
      durationMs: now() - t0,
      replaced: done,
      failedPids,
    };
    if (result.ok) this.#log('info', { event: 'reload_complete', durationMs: Math.round(result.durationMs) }, `reload complete in ${Math.round(result.durationMs)} ms`);
    else if (this.#stop) this.#log('warn', { event: 'reload_aborted', reason }, 'reload cut short by the stop: every worker, old and new, is drained');
    else this.#log('error', { event: 'reload_aborted', reason }, `reload aborted: ${reason}; the old workers keep serving`);
    this.emit('reloadComplete', result);
    return result;
  }

  /** A reload that cannot run is still answered, and reported like any other. */
  #refuse(trigger: string, reason: string): ReloadResult {
    const result: ReloadResult = { ok: false, reason, trigger, durationMs: 0, replaced: [], failedPids: [] };
    this.#log('warn', { event: 'reload_refused', trigger, reason }, `reload (${trigger}) refused: ${reason}`);
    this.emit('reloadComplete', result);
    return result;
  }

  /** The next old worker still in rotation, if any (one may have crashed meanwhile). */
  #nextOld(old: ManagedWorker[]): ManagedWorker | undefined {
    while (old.length > 0) {
      const w = old.shift()!;
      if (this.#roles.get(w) === 'serving' && w.state === 'ready') return w;
    }
    return undefined;
  }

  #retire(w: ManagedWorker, reason: string): Promise<WorkerDrain> {
    // An exited worker is gone from the roles already and must not come back.
    if (this.#roles.has(w)) this.#roles.set(w, 'retiring');
    this.#log('info', { event: 'worker_drain', pid: w.pid, reason }, `draining worker ${w.pid} (${reason})`);
    return w.drain(reason, this.#opts.drainTimeoutMs).then((drain) => {
      const how = drain.success ? 'drained' : `forced (${drain.forcedBy ?? describeExit(drain.exit)})`;
      this.#log(drain.success ? 'info' : 'warn', { event: 'worker_drained', pid: w.pid, success: drain.success, durationMs: Math.round(drain.durationMs) }, `worker ${w.pid} ${how} in ${Math.round(drain.durationMs)} ms`);
      return drain;
    });
  }

  // ---- stop -----------------------------------------------------------------------------

  stop(reason = 'api'): Promise<StopResult> {
    this.#stop ??= this.#runStop(reason);
    return this.#stop;
  }

  force(): Promise<StopResult> {
    const stopping = this.stop('force');
    this.#log('warn', { event: 'force' }, 'forcing every drain');
    for (const w of this.#roles.keys()) w.force('force');
    return stopping;
  }

  async #runStop(reason: string): Promise<StopResult> {
    const t0 = now();
    for (const t of this.#restartTimers) clearTimeout(t);
    this.#restartTimers.clear();
    const workers = [...this.#roles.keys()];
    this.#log('info', { event: 'stop', reason, workers: workers.map((w) => w.pid) }, `stopping (${reason}): draining ${workers.length} workers`);
    this.emit('stopping', { reason, workers: workers.map((w) => w.pid) });
    const drains = await Promise.all(workers.map((w) => this.#retire(w, `cluster:${reason}`)));
    // A reload under way ends by itself now (its replacements were drained with the rest).
    await this.#reloading;
    const result: StopResult = { ok: drains.every((d) => d.success), reason, durationMs: now() - t0, workers: drains };
    // The registry's `stopped` means every worker is gone: written before the cluster says so.
    if (this.#reporter && !(await this.#reporter.finish(result))) {
      this.#log('warn', { event: 'registry_final_write_lost' }, 'the registry did not take the final writes in time (see the registry logs above)');
    }
    this.emit('stopped', result);
    this.#resolveStopped(result);
    if (!this.#started && this.#startFailed) {
      this.#startFailed(new ClusterStartError(`drainkit cluster: stopped (${reason}) before every worker was ready`, { stoppedEarly: result }));
    }
    return result;
  }

  #log(level: 'info' | 'warn' | 'error', obj: object, msg: string): void {
    try {
      this.#opts.logger?.[level]({ drainkit: 'cluster', ...obj }, msg);
    } catch {
      // A broken logger must not break the supervisor.
    }
  }

  declare on: <E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void) => this;
  declare once: <E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void) => this;
  declare off: <E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void) => this;
}

