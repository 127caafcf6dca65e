/**
 * The drain engine for one server: wires the tracker, the deregistration window, health
 * answers, signals, shutdown hooks and exit into the sequence of DESIGN.md.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { DrainkitError, describeValue } from './errors.js';
import { answer, pathOf } from './health.js';
import { runHooks, type RegisteredHook } from './hooks.js';
import { Lifecycle } from './lifecycle.js';
import { markCoreListener } from './listeners.js';
import { integerOption, resolveOptions } from './options.js';
import { Persistent } from './persistent.js';
import { drainReport } from './report.js';
import { supervisedWorker } from './supervised.js';
import { Tracker } from './tracker.js';
import {
  EXIT_CODE_DRAINED,
  EXIT_CODE_FORCED,
  type DrainableServer,
  type Drainer,
  type DrainerEvents,
  type DrainerOptions,
  type DrainOutcome,
  type DrainPhase,
  type DrainResult,
  type DrainState,
  type HandledSignal,
  type HealthListener,
  type PhaseRecord,
  type ResolvedOptions,
  type ShutdownHook,
  type WindowEnd,
} from './types.js';
import { decideWindow, openWindow, recordActivity, recordBalancerState, recordFailedProbe, type WindowState } from './window.js';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

const attached = new WeakSet<object>();
const now = (): number => performance.now();

/**
 * Attaches drainkit to a `node:http`, `node:https` or `node:http2` server (plain or secure, with
 * or without `allowHTTP1`) and returns its drainer. Options are validated here: a bad option
 * throws a {@link DrainkitError} naming the option and what it accepts.
 *
 * drainkit adds listeners to the server and never replaces the server's own; `detach()` removes
 * them. It does not listen or close on your behalf before a drain starts.
 */
export function createDrainer(server: DrainableServer, options?: DrainerOptions): Drainer {
  if (!(server instanceof net.Server)) {
    throw new DrainkitError(
      'ERR_DRAINKIT_INVALID_SERVER',
      `drainkit: createDrainer(server) got ${describeValue(server)}; accepted: a server from node:http, node:https or node:http2`,
    );
  }
  if (attached.has(server)) {
    throw new DrainkitError('ERR_DRAINKIT_ALREADY_ATTACHED', 'drainkit: this server already has a drainer; call detach() on it first');
  }
  // Inside `drainkit cluster` the primary is the balancer: zero window, drain orders over IPC.
  const supervisor = supervisedWorker();
  const resolved = resolveOptions(options);
  const drainer = new ServerDrainer(server, supervisor ? supervisor.adjust(resolved) : resolved);
  attached.add(server);
  supervisor?.attach(drainer, server);
  return drainer;
}

class ServerDrainer extends EventEmitter implements Drainer {
  readonly options: ResolvedOptions;
  readonly persistent: Persistent;
  readonly #server: DrainableServer;
  readonly #tracker: Tracker;
  readonly #life = new Lifecycle();
  readonly #hooks: RegisteredHook[] = [];
  readonly #phases: PhaseRecord[] = [];
  readonly #detachers: (() => void)[] = [];
  #drain: Promise<DrainResult> | undefined;
  #startedAt = 0;
  #forcedBy: string | undefined;
  #window: WindowState | undefined;
  #wakeWindow: (() => void) | undefined;
  #wakeWait: (() => void) | undefined;
  #healthServer: http.Server | undefined;

  constructor(server: DrainableServer, options: ResolvedOptions) {
    super();
    this.#server = server;
    this.options = options;
    const health = options.health;
    const isDraining = (): boolean => this.#life.state !== 'active';
    this.#tracker = new Tracker(
      {
        lingerMs: options.lingerMs,
        onActivity: () => {
          if (this.#window) recordActivity(this.#window, now());
        },
        onRelease: () => this.#wakeWait?.(),
      },
      health ? [health.readinessPath, health.livenessPath] : [],
    );
    this.persistent = new Persistent({
      adopt: (res) => this.#tracker.adopt(res),
      onRelease: () => this.#wakeWait?.(),
      onShutdownBegin: () => this.emit('persistentShutdown'),
      get draining() {
        return isDraining();
      },
    });
    this.#attachServer();
    this.#attachSignals();
    this.#applyKeepAlive();
    if (health && health.port !== undefined) this.#startHealthServer(health.port, health.host);
    for (const plugin of options.plugins) {
      const detach = plugin(this, server);
      if (typeof detach === 'function') this.#detachers.push(detach);
    }
  }

  // ---- read-only views ------------------------------------------------------------------

  get state(): DrainState {
    return this.#life.state;
  }

  get phase(): DrainPhase | undefined {
    return this.#life.phase;
  }

  get inflight(): number {
    return this.#tracker.inflight;
  }

  get connections(): number {
    return this.#tracker.sockets.size;
  }

  get healthAddress(): { host: string; port: number } | undefined {
    const a = this.#healthServer?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  // ---- health ---------------------------------------------------------------------------

  readonly readiness: HealthListener = (req, res) => {
    const draining = this.#life.state !== 'active';
    if (draining) this.#noteProbe(req);
    const ready = !draining && this.#server.listening;
    answer(req, res, ready ? 200 : 503, ready ? 'ok\n' : draining ? 'draining\n' : 'not listening\n', draining);
  };

  readonly liveness: HealthListener = (req, res) => {
    answer(req, res, 200, 'ok\n', this.#life.state !== 'active');
  };

  handleHealth(req: AnyRequest, res: AnyResponse): boolean {
    const health = this.options.health;
    if (!health) return false;
    const path = pathOf(req.url);
    if (path === health.readinessPath) this.readiness(req, res);
    else if (path === health.livenessPath) this.liveness(req, res);
    else return false;
    return true;
  }

  withHealth<Req extends AnyRequest, Res extends AnyResponse>(handler: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
    if (typeof handler !== 'function') {
      throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: withHealth(handler) got ${describeValue(handler)}; accepted: a request handler function`);
    }
    return (req, res) => {
      if (!this.handleHealth(req, res)) handler(req, res);
    };
  }

  #noteProbe(req: AnyRequest): void {
    const w = this.#window;
    if (!w) return;
    const t = now();
    const opts = this.options.deregister;
    const byState = recordBalancerState(opts, w, req.headers['x-haproxy-server-state'], t);
    const byCount = recordFailedProbe(opts, w, t);
    if (byState || byCount) this.#wakeWindow?.();
  }

  // ---- hooks ----------------------------------------------------------------------------

  onShutdown(name: string, hook: ShutdownHook, options?: { readonly timeoutMs?: number }): () => void {
    if (typeof name !== 'string' || name.length === 0) {
      throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: onShutdown(name) got ${describeValue(name)}; accepted: a non-empty string`);
    }
    if (typeof hook !== 'function') {
      throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: onShutdown("${name}", hook) got ${describeValue(hook)}; accepted: a function`);
    }
    const timeoutMs = integerOption('onShutdown timeoutMs', options?.timeoutMs, 0, 600_000, this.options.hookTimeoutMs);
    const entry: RegisteredHook = { name, hook, timeoutMs };
    this.#hooks.push(entry);
    return () => {
      const i = this.#hooks.indexOf(entry);
      if (i !== -1) this.#hooks.splice(i, 1);
    };
  }

  // ---- the drain ------------------------------------------------------------------------

  drain(reason = 'api'): Promise<DrainResult> {
    this.#drain ??= this.#run(reason, false);
    return this.#drain;
  }

  force(reason = 'force'): Promise<DrainResult> {
    this.#forcedBy ??= reason;
    const result = this.drain(reason);
    this.#wakeWindow?.();
    this.#wakeWait?.();
    return result;
  }

  async #run(reason: string, skipWindow: boolean): Promise<DrainResult> {
    const tracker = this.#tracker;
    const opts = this.options;
    this.#startedAt = now();
    const requestsAtStart = tracker.inflight;
    this.#life.transition('draining');
    this.#log('info', { event: 'drain_start', reason, inflight: requestsAtStart, persistent: this.persistent.size }, 'drain started');
    this.emit('state', 'draining', reason);

    this.#enter('deregistering');
    tracker.startDrain();
    if (opts.persistentShutdown === 'drain-start') this.persistent.beginShutdown(opts.persistentSpreadMs);
    const endedBy = await this.#awaitWindow(skipWindow);
    const windowMs = now() - this.#startedAt;
    this.#log('info', { event: 'drain_window_end', endedBy, windowMs: round(windowMs) }, `deregistration window ended (${endedBy})`);
    this.emit('windowEnd', { endedBy, durationMs: windowMs });

    this.#enter('closing');
    tracker.deadline = now() + opts.drainTimeoutMs;
    this.#closeListener();

    this.#enter('persistent');
    this.persistent.beginShutdown(opts.persistentSpreadMs);

    this.#enter('waiting');
    const completed = await this.#awaitIdle();
    let requestsRemaining = 0;
    let persistentRemaining = 0;
    let connectionsForced = 0;
    // Whatever the outcome: upgraded connections no integration manages have no way to end but
    // this one. Counted apart from the forced ones, and said out loud.
    const upgradesClosed = tracker.closeUpgraded();
    if (upgradesClosed > 0) {
      this.#log(
        'warn',
        { event: 'drain_upgrades_closed', upgradesClosed },
        `closed ${upgradesClosed} upgraded connection(s) that no drainkit integration manages (use drainkit/ws, or persistent.add, to close them cleanly)`,
      );
    }
    if (!completed) {
      this.#enter('forcing');
      requestsRemaining = tracker.inflight;
      persistentRemaining = this.persistent.size;
      this.persistent.terminateAll();
      connectionsForced = tracker.destroyAll();
      this.#log('warn', { event: 'drain_forced', by: this.#forcedBy ?? 'timeout', requestsRemaining, persistentRemaining, connectionsForced }, 'drain forced');
    } else {
      // Sockets that never completed a request header (slowloris, preconnects) hold nothing.
      tracker.destroyAll();
    }

    this.#enter('cleanup');
    const outcome: DrainOutcome = {
      success: completed,
      outcome: completed ? 'completed' : 'forced',
      reason,
      ...(!completed && { forcedBy: this.#forcedBy === 'timeout' ? 'timeout' : 'force' }),
      durationMs: now() - this.#startedAt,
      window: { durationMs: windowMs, endedBy },
      requestsCompleted: tracker.completedDuringDrain,
      requestsAtStart,
      requestsRemaining,
      persistentRemaining,
      connectionsForced,
      upgradesClosed,
      persistentClosed: this.persistent.tally(),
      longestRequestMs: tracker.longestDuringDrainMs,
      phases: [...this.#phases],
    };
    this.emit('settled', outcome);
    const hooks = await runHooks(this.#hooks);
    for (const h of hooks) {
      if (h.outcome !== 'ok') this.#log('warn', { event: 'drain_hook', ...h }, `shutdown hook "${h.name}" ${h.outcome}`);
    }
    this.#life.transition('stopped');
    this.emit('state', 'stopped', reason);
    this.#healthServer?.close();
    this.#healthServer?.closeAllConnections();

    const result: DrainResult = { ...outcome, durationMs: now() - this.#startedAt, phases: [...this.#phases], hooks };
    const report = drainReport(result, opts);
    this.#log(
      completed ? 'info' : 'warn',
      { event: 'drain_complete', ...summary(result), phases: report.phases.map((p) => ({ phase: p.phase, ms: round(p.durationMs) })), hints: report.hints.map((h) => h.code) },
      `drain ${result.outcome} in ${round(result.durationMs)} ms`,
    );
    for (const hint of report.hints) this.#log('warn', { event: 'drain_hint', code: hint.code, suggestedDrainTimeoutMs: hint.suggestedDrainTimeoutMs }, hint.message);
    this.emit('drained', result);
    if (opts.exitOnDrain) this.#exitAfter(result);
    return result;
  }

  #enter(phase: DrainPhase): void {
    this.#life.enterPhase(phase);
    const atMs = now() - this.#startedAt;
    this.#phases.push({ phase, atMs });
    const info = { atMs, inflight: this.#tracker.inflight, persistent: this.persistent.size };
    this.#log('info', { event: 'drain_phase', phase, atMs: round(atMs), inflight: info.inflight, persistent: info.persistent }, `phase ${phase}`);
    this.emit('phase', phase, info);
  }

  /** Waits, event-driven, for the deregistration window to end. */
  #awaitWindow(skip: boolean): Promise<WindowEnd> {
    if (skip || this.#forcedBy !== undefined) return Promise.resolve('skipped');
    const opts = this.options.deregister;
    const w = (this.#window = openWindow(this.#startedAt));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        clearTimeout(timer);
        const t = now();
        const decision = this.#forcedBy !== undefined ? ({ done: true, endedBy: 'skipped' } as const) : decideWindow(opts, w, t);
        if (decision.done) {
          this.#wakeWindow = undefined;
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

  /** Resolves true the moment nothing is left, false when forced or at the deadline. */
  #awaitIdle(): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.#wakeWait = undefined;
        resolve(ok);
      };
      const check = (): void => {
        if (this.#forcedBy !== undefined) finish(false);
        else if (this.#tracker.inflight === 0 && this.persistent.size === 0 && this.#tracker.lingering.size === 0) finish(true);
      };
      const timer = setTimeout(() => {
        this.#forcedBy ??= 'timeout';
        finish(false);
      }, Math.max(0, this.#tracker.deadline - now()));
      timer.unref();
      this.#wakeWait = check;
      check();
    });
  }

  #closeListener(): void {
    const server = this.#server as net.Server & { closeIdleConnections?: () => void };
    // Node ≥ 19 http/https close() also closes connections idle at the parser; errors here only
    // mean "was not listening", which is fine.
    server.close(() => undefined);
    // http, https and (Node 20's) http2 with allowHTTP1 all close HTTP/1 connections idle at the
    // parser in close(); the tracker's own idle close is the fallback where that is missing.
    const parserAware = typeof server.closeIdleConnections === 'function';
    this.#tracker.closeIdle(parserAware);
  }

  // ---- wiring ---------------------------------------------------------------------------

  #attachServer(): void {
    const server = this.#server as net.Server;
    const t = this.#tracker;
    const on = (event: string, fn: (...args: never[]) => void, prepend = false): void => {
      if (prepend) server.prependListener(event, fn as (...args: unknown[]) => void);
      else server.on(event, fn as (...args: unknown[]) => void);
      this.#detachers.push(() => server.removeListener(event, fn as (...args: unknown[]) => void));
    };
    // 'connection' carries the raw TCP socket for plain and TLS servers alike, so sockets still
    // in their TLS handshake are counted and forced too.
    on('connection', t.onConnection);
    // Prepended: most servers are created with the application's handler already attached
    // (`http.createServer(app)`, Hono's `serve()`), and a handler that answers synchronously
    // would otherwise send its response before drainkit marks it `Connection: close` during
    // the window.
    on('request', markCoreListener(t.onRequest), true);
    this.#followAppListeners(server, {
      checkContinue: t.onRequest,
      checkExpectation: t.onRequest,
      upgrade: markCoreListener(t.onUpgrade),
      connect: t.onUpgrade,
    });
    if (isHttp2Server(server)) {
      on('session', t.onSession);
      on('stream', t.onStream);
    }
  }

  /**
   * Node decides some things by whether the application listens for an event at all: a request
   * with `Expect:` goes to 'checkContinue' (or 'checkExpectation') instead of 'request' only
   * when someone listens, else Node answers 100 Continue (or 417) itself; an `Upgrade:` or
   * `CONNECT` request is handed over through 'upgrade' (or 'connect') only when someone listens,
   * else it is served as a plain request. A listener of drainkit's own would change those
   * answers, so drainkit listens on these events exactly while the application does, first, and
   * follows the application's listeners as they come and go.
   */
  #followAppListeners(server: net.Server, trackers: Readonly<Record<string, (...args: never[]) => void>>): void {
    const events = new Map(Object.entries(trackers) as [string, (...args: unknown[]) => void][]);
    const sync = (event: string, adding: boolean): void => {
      const track = events.get(event)!;
      const ours = server.listeners(event).includes(track);
      // 'newListener' fires before the application's listener is added, 'removeListener' after.
      const theirs = server.listenerCount(event) - (ours ? 1 : 0) + (adding ? 1 : 0);
      if (theirs > 0 && !ours) server.prependListener(event, track);
      else if (theirs === 0 && ours) server.removeListener(event, track);
    };
    const onNew = (event: string | symbol, listener: unknown): void => {
      if (typeof event === 'string' && events.has(event) && listener !== events.get(event)) sync(event, true);
    };
    const onRemoved = (event: string | symbol, listener: unknown): void => {
      if (typeof event === 'string' && events.has(event) && listener !== events.get(event)) sync(event, false);
    };
    server.on('newListener', onNew);
    server.on('removeListener', onRemoved);
    for (const event of events.keys()) sync(event, false);
    this.#detachers.push(() => {
      server.removeListener('newListener', onNew);
      server.removeListener('removeListener', onRemoved);
      for (const [event, track] of events) server.removeListener(event, track);
    });
  }

  #attachSignals(): void {
    const signals = this.options.signals;
    if (signals.length === 0) return;
    const handler = (signal: HandledSignal): void => {
      if (this.#drain === undefined) {
        const interactive = signal === 'SIGINT' && this.options.interactiveSigintSkipsWindow && process.stdin.isTTY === true;
        this.#drain = this.#run(signal, interactive);
      } else {
        this.#log('warn', { event: 'drain_signal_again', signal }, `${signal} again: forcing the drain`);
        void this.force(signal);
      }
    };
    for (const s of signals) {
      process.on(s, handler);
      this.#detachers.push(() => process.removeListener(s, handler));
    }
  }

  #applyKeepAlive(): void {
    const ms = this.options.keepAliveTimeoutMs;
    const server = this.#server as Partial<http.Server>;
    if (ms === null || typeof server.keepAliveTimeout !== 'number') return;
    const before = { keepAliveTimeout: server.keepAliveTimeout, headersTimeout: server.headersTimeout };
    server.keepAliveTimeout = ms;
    // headersTimeout must stay above keepAliveTimeout or a slow second request on a pooled
    // connection is cut by the wrong timer.
    if (typeof server.headersTimeout === 'number' && server.headersTimeout <= ms) server.headersTimeout = ms + 1_000;
    this.#detachers.push(() => Object.assign(server, before));
  }

  #startHealthServer(port: number, host: string): void {
    const hs = http.createServer((req, res) => {
      if (!this.handleHealth(req, res)) answer(req, res, 404, 'not found\n', false);
    });
    hs.on('error', (err) => {
      this.#log('error', { event: 'health_server_error', err: err.message }, 'health server failed');
      this.emit('error', err);
    });
    hs.listen(port, host);
    hs.unref();
    this.#healthServer = hs;
  }

  detach(): void {
    for (const d of this.#detachers.splice(0).reverse()) d();
    if (this.#life.state === 'active') {
      this.#healthServer?.close();
      this.#healthServer?.closeAllConnections();
    }
    attached.delete(this.#server);
  }

  // ---- exit -----------------------------------------------------------------------------

  /**
   * Lets the process end on its own with the drain's exit code (so loggers flush), and ends it
   * after `exitGraceMs` if something still holds the event loop.
   */
  #exitAfter(result: DrainResult): void {
    const code = result.success ? EXIT_CODE_DRAINED : EXIT_CODE_FORCED;
    process.exitCode = code;
    const timer = setTimeout(() => {
      this.#log('warn', { event: 'exit_forced', code, holding: process.getActiveResourcesInfo() }, 'event loop still busy after the drain; exiting');
      // eslint-disable-next-line no-restricted-properties -- the documented exit-on-drain behaviour
      process.exit(code);
    }, this.options.exitGraceMs);
    timer.unref();
  }

  #log(level: 'info' | 'warn' | 'error', obj: object, msg: string): void {
    const logger = this.options.logger;
    if (!logger) return;
    try {
      logger[level]({ drainkit: true, ...obj }, `drainkit: ${msg}`);
    } catch {
      // A broken logger must not break a drain.
    }
  }

  // Typed event methods: the runtime is EventEmitter's.
  declare on: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
  declare once: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
  declare off: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
}

function isHttp2Server(server: net.Server): boolean {
  // Http2Server and Http2SecureServer both carry a `setTimeout` and emit 'session'; the public
  // marker that survives across Node versions is the http2 `updateSettings` method.
  return typeof (server as unknown as { updateSettings?: unknown }).updateSettings === 'function';
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function summary(r: DrainResult): Record<string, unknown> {
  return {
    success: r.success,
    outcome: r.outcome,
    reason: r.reason,
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
