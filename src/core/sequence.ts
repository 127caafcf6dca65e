/**
 * The drain sequence itself, once started: deregistration window, stop accepting, persistent
 * connections, the event-driven wait, the force, the shutdown hooks, `stopped`. It owns the
 * drain's timing state (window, deadline, what forced it) and nothing else: events and logs go
 * through its host, which guarantees that neither can throw into the sequence.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { DrainLog } from './drain-log.js';
import { runHooks, type RegisteredHook } from './hooks.js';
import type { Lifecycle } from './lifecycle.js';
import type { Persistent } from './persistent.js';
import { drainReport } from './report.js';
import { closeListener } from './server-wiring.js';
import type { Tracker } from './tracker.js';
import type { DrainerEvents, DrainOutcome, DrainPhase, DrainResult, ForceCause, PhaseInfo, PhaseRecord, ResolvedOptions, WindowEnd } from './types.js';
import {
  decideWindow,
  openWindow,
  recordActivity,
  recordBalancerState,
  recordConnectionExplained,
  recordConnectionOpened,
  recordFailedProbe,
  type WindowState,
} from './window.js';

/** How many paths the `waiting` and `forcing` phases name (PhaseInfo.paths), and how long each may be. */
const INFLIGHT_PATHS_MAX = 3;
const INFLIGHT_PATH_MAX_LENGTH = 120;

export const now = (): number => performance.now();

export interface SequenceHost {
  readonly options: ResolvedOptions;
  readonly server: net.Server;
  readonly tracker: Tracker;
  readonly persistent: Persistent;
  readonly life: Lifecycle;
  readonly hooks: readonly RegisteredHook[];
  readonly log: DrainLog;
  /** Emits to the drainer's listeners; a listener that throws is reported, never rethrown. */
  emit<E extends keyof DrainerEvents>(event: E, ...args: DrainerEvents[E]): void;
  /** The drain reached `stopped` (called before `drained` is emitted). */
  stopped(): void;
}

/** A finished drain, with whether its shutdown was cut short (hooks aborted or skipped). */
export interface SequenceEnd {
  readonly result: DrainResult;
  readonly cleanupCut: boolean;
}

export class DrainSequence {
  readonly #host: SequenceHost;
  readonly #phases: PhaseRecord[] = [];
  /** Aborts the running shutdown hook when the drain is forced during cleanup. */
  readonly #cut = new AbortController();
  /**
   * Whether cleanup was cut short, kept apart from `#cut.signal.aborted`: Node creates the signal
   * on its first read, and a drain with no hook never needs it (on the exit's path, measured).
   */
  #cutShort = false;
  #startedAt = 0;
  #force: { readonly cause: ForceCause; readonly reason: string } | undefined;
  #window: WindowState | undefined;
  #wakeWindow: (() => void) | undefined;
  #wakeWait: (() => void) | undefined;
  #windowOver: (endedBy: WindowEnd) => void = () => undefined;
  /** Resolves, with what ended it, once this drain's deregistration window is over (pending until then). */
  readonly windowOver: Promise<WindowEnd>;

  constructor(host: SequenceHost) {
    this.#host = host;
    this.windowOver = new Promise((resolve) => {
      this.#windowOver = resolve;
    });
  }

  /** Traffic arrived during the drain (adaptive window evidence). */
  noteActivity(): void {
    if (this.#window) recordActivity(this.#window, now());
  }

  /** A readiness probe was answered 503. */
  noteProbe(req: http.IncomingMessage | http2.Http2ServerRequest): void {
    const w = this.#window;
    if (!w) return;
    const t = now();
    const opts = this.#host.options.deregister;
    const byState = recordBalancerState(opts, w, req.headers['x-haproxy-server-state'], t);
    const byCount = recordFailedProbe(opts, w, t);
    // A connection opened for a probe is not traffic (HTTP/1 on this server: its socket is the key).
    const byProbe = 'socket' in req && recordConnectionExplained(w, req.socket);
    if (byState || byCount || byProbe) this.#wakeWindow?.();
  }

  /** Something the wait waits for went away. */
  released(): void {
    this.#wakeWait?.();
  }

  /**
   * Skip what is left of the window and the wait. The first cause is kept. During cleanup, the
   * running hook's signal is aborted and the remaining hooks are skipped.
   */
  force(cause: ForceCause, reason: string): void {
    this.#force ??= { cause, reason };
    this.#wakeWindow?.();
    this.#wakeWait?.();
    const life = this.#host.life;
    if (life.state === 'draining' && life.phase === 'cleanup' && !this.#cutShort) {
      this.#host.log.write('warn', { event: 'drain_cleanup_cut', cause, reason }, `shutdown hooks cut short (${reason})`);
      this.#cutShort = true;
      this.#cut.abort(new Error(`drainkit: shutdown cut short (${reason})`));
    }
  }

  async run(reason: string, skipWindow: boolean): Promise<SequenceEnd> {
    const { tracker, persistent, options: opts, life, log } = this.#host;
    const host = this.#host;
    this.#startedAt = now();
    const requestsAtStart = tracker.inflight;
    life.transition('draining');
    log.write('info', { event: 'drain_start', reason, inflight: requestsAtStart, persistent: persistent.size }, 'drain started');
    host.emit('state', 'draining', reason);

    this.#enter('deregistering');
    tracker.startDrain();
    if (opts.persistentShutdown === 'drain-start') persistent.beginShutdown(spreadWithin(opts));
    const endedBy = await this.#awaitWindow(skipWindow);
    const windowMs = now() - this.#startedAt;
    this.#windowOver(endedBy);
    log.write('info', { event: 'drain_window_end', endedBy, windowMs: round(windowMs) }, `deregistration window ended (${endedBy})`);
    host.emit('windowEnd', { endedBy, durationMs: windowMs });

    this.#enter('closing');
    const requestsAtWindowEnd = tracker.inflight;
    tracker.deadline = now() + opts.drainTimeoutMs;
    await closeListener(host.server, tracker);
    // Node emits the server's 'close' when the listener is closed and the last of its connections
    // has been destroyed, a loop phase before the sockets' own 'close' events: the wait can end
    // then (Tracker#holdsNothing), and the exit comes that much sooner.
    host.server.once('close', () => this.#wakeWait?.());

    this.#enter('persistent');
    persistent.beginShutdown(spreadWithin(opts));

    this.#enter('waiting');
    const completed = await this.#awaitIdle();
    let requestsRemaining = 0;
    let persistentRemaining = 0;
    let connectionsForced = 0;
    // Whatever the outcome: upgraded connections no integration manages have no way to end but
    // this one. Counted apart from the forced ones, and said out loud.
    const upgradesClosed = tracker.upgraded.size === 0 ? 0 : tracker.closeUpgraded();
    if (upgradesClosed > 0) {
      log.write(
        'warn',
        { event: 'drain_upgrades_closed', upgradesClosed },
        `closed ${upgradesClosed} upgraded connection(s) that no drainkit integration manages (use drainkit/ws, or persistent.add, to close them cleanly)`,
      );
    }
    const force = this.#force ?? { cause: 'timeout' as const, reason: 'timeout' };
    if (!completed) {
      this.#enter('forcing');
      requestsRemaining = tracker.inflight;
      persistentRemaining = persistent.size;
      persistent.terminateAll();
      tracker.closeDeferred();
      connectionsForced = tracker.destroyAll();
      log.write('warn', { event: 'drain_forced', by: force.cause, forceReason: force.reason, requestsRemaining, persistentRemaining, connectionsForced }, `drain forced (${force.cause === 'timeout' ? 'drain timeout' : force.reason})`);
    } else {
      // Sockets that never completed a request header (slowloris, preconnects) hold nothing.
      tracker.destroyAll();
    }
    // What server.close() does besides (finishClose) matters only to a process that lives on:
    // done then (DrainHandles#livingOn in src/core/exit.ts).

    this.#enter('cleanup');
    const outcome: DrainOutcome = {
      success: completed,
      outcome: completed ? 'completed' : 'forced',
      reason,
      ...(!completed && { forcedBy: force.cause }),
      ...(!completed && force.cause !== 'timeout' && { forceReason: force.reason }),
      durationMs: now() - this.#startedAt,
      window: { durationMs: windowMs, endedBy },
      requestsCompleted: tracker.completedDuringDrain,
      requestsAtStart,
      requestsAtWindowEnd,
      requestsRemaining,
      persistentRemaining,
      connectionsForced,
      upgradesClosed,
      persistentClosed: persistent.tally(),
      longestRequestMs: tracker.longestDuringDrainMs,
      phases: [...this.#phases],
    };
    host.emit('settled', outcome);
    // With no hook registered (a 'settled' listener may still register one) nothing is awaited:
    // the drain ends in the task that ended its wait (the last socket's 'close', say), and the
    // exit's immediate comes one loop iteration later (src/core/exit.ts).
    // A hook (one a 'settled' listener registered, say) runs before the exit: the idle
    // connections left for the exit (Tracker#closeIdle) must not stay open that long.
    if (host.hooks.length > 0) tracker.closeDeferred();
    const hooks = host.hooks.length === 0 ? [] : await runHooks(host.hooks, this.#cut.signal);
    for (const h of hooks) {
      if (h.outcome !== 'ok') log.write('warn', { event: 'drain_hook', ...h }, `shutdown hook "${h.name}" ${h.outcome}${h.error === undefined ? '' : `: ${h.error}`}`);
    }
    life.transition('stopped');
    host.stopped();
    host.emit('state', 'stopped', reason);

    const result: DrainResult = { ...outcome, durationMs: now() - this.#startedAt, phases: [...this.#phases], hooks };
    // The report exists for these lines only: without a logger it is not built (it is the
    // largest part of the drain's epilogue, and all of it runs for the first time here).
    if (log.enabled) logCompletion(log, result, opts);
    host.emit('drained', result);
    return { result, cleanupCut: this.#cutShort };
  }

  #enter(phase: DrainPhase): void {
    this.#host.life.enterPhase(phase);
    const atMs = now() - this.#startedAt;
    this.#phases.push({ phase, atMs });
    const inflight = this.#host.tracker.inflight;
    // What a waiting (or forced) drain waits for, by path: read here, once per phase.
    const paths = (phase === 'waiting' || phase === 'forcing') && inflight > 0 ? this.#host.tracker.inflightPaths(INFLIGHT_PATHS_MAX, INFLIGHT_PATH_MAX_LENGTH) : undefined;
    const info: PhaseInfo = { atMs, inflight, persistent: this.#host.persistent.size, ...(paths !== undefined && { paths }) };
    // The cleanup line says how many shutdown hooks run, so a reader need not guess whether any do.
    const extra = phase === 'cleanup' ? { hooks: this.#host.hooks.length } : paths !== undefined ? { paths } : {};
    this.#host.log.write('info', { event: 'drain_phase', phase, atMs: round(atMs), inflight: info.inflight, persistent: info.persistent, ...extra }, `phase ${phase}`);
    this.#host.emit('phase', phase, info);
  }

  /** Waits, event-driven, for the deregistration window to end. */
  #awaitWindow(skip: boolean): Promise<WindowEnd> {
    if (skip || this.#force !== undefined) return Promise.resolve('skipped');
    const opts = this.#host.options.deregister;
    const w = (this.#window = openWindow(this.#startedAt));
    const unwatch = opts.mode === 'adaptive' && opts.confirm === 'traffic' ? this.#watchConnections(w) : undefined;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        clearTimeout(timer);
        const t = now();
        const decision = this.#force !== undefined ? ({ done: true, endedBy: 'skipped' } as const) : decideWindow(opts, w, t);
        if (decision.done) {
          this.#wakeWindow = undefined;
          unwatch?.();
          resolve(decision.endedBy);
          return;
        }
        timer = setTimeout(check, Math.max(1, Math.ceil(decision.recheckAt - t)));
        timer.unref();
      };
      this.#wakeWindow = check;
      check();
    });
  }

  /**
   * For a window confirmed by traffic: a new connection is traffic until it closes or its first
   * request is a probe (a request dispatched just before the balancer stopped may be behind it).
   * Returns the function that stops watching.
   */
  #watchConnections(w: WindowState): () => void {
    const server = this.#host.server;
    // Keyed by the accepted socket. A probe over TLS (or HTTP/2) reads its request from another
    // object, so it is explained only when it closes: a draining probe's connection is closed at
    // once, so that costs at most the few milliseconds it lives.
    const onConnection = (socket: net.Socket): void => {
      recordConnectionOpened(w, socket, now());
      socket.once('close', () => {
        if (recordConnectionExplained(w, socket)) this.#wakeWindow?.();
      });
    };
    server.on('connection', onConnection);
    return () => {
      server.off('connection', onConnection);
    };
  }

  /** Resolves true the moment nothing is left, false when forced or at the deadline. */
  #awaitIdle(): Promise<boolean> {
    const { tracker, persistent } = this.#host;
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.#wakeWait = undefined;
        resolve(ok);
      };
      const check = (): void => {
        if (this.#force !== undefined) finish(false);
        else if (tracker.holdsNothing() && persistent.size === 0) finish(true);
      };
      const timer = setTimeout(() => {
        this.#force ??= { cause: 'timeout', reason: 'timeout' };
        finish(false);
      }, Math.max(0, tracker.deadline - now()));
      timer.unref();
      this.#wakeWait = check;
      check();
    });
  }
}

/** The `drain_complete` line, then one `drain_hint` line per hint of the drain's report. */
function logCompletion(log: DrainLog, result: DrainResult, opts: ResolvedOptions): void {
  const report = drainReport(result, opts);
  log.write(
    result.success ? 'info' : 'warn',
    { event: 'drain_complete', ...summary(result), phases: report.phases.map((p) => ({ phase: p.phase, ms: round(p.durationMs) })), hints: report.hints.map((h) => h.code) },
    `drain ${result.outcome} in ${round(result.durationMs)} ms`,
  );
  for (const hint of report.hints) {
    const suggestion = hint.suggestedDrainTimeoutMs === undefined ? {} : { suggestedDrainTimeoutMs: hint.suggestedDrainTimeoutMs };
    log.write(hint.level, { event: 'drain_hint', code: hint.code, ...suggestion, evidence: hint.evidence }, hint.message);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function summary(r: DrainResult): Record<string, unknown> {
  return {
    success: r.success,
    outcome: r.outcome,
    reason: r.reason,
    ...(r.forcedBy !== undefined && { forcedBy: r.forcedBy }),
    durationMs: round(r.durationMs),
    windowMs: round(r.window.durationMs),
    windowEndedBy: r.window.endedBy,
    requestsCompleted: r.requestsCompleted,
    requestsRemaining: r.requestsRemaining,
    persistentRemaining: r.persistentRemaining,
    persistentClosed: r.persistentClosed,
    connectionsForced: r.connectionsForced,
    upgradesClosed: r.upgradesClosed,
    longestRequestMs: round(r.longestRequestMs),
  };
}

/**
 * The go-away spread, at most half the drain timeout: a connection told last must still have
 * time to close (a WebSocket's close handshake, an SSE client's read) before the deadline
 * terminates it. Without this cap a short drain timeout with the default spread ended in a
 * forced drain that cut a share of the connections the spread was meant to close cleanly.
 */
function spreadWithin(opts: { readonly persistentSpreadMs: number; readonly drainTimeoutMs: number }): number {
  return Math.min(opts.persistentSpreadMs, Math.floor(opts.drainTimeoutMs / 2));
}
