/**
 * The drain engine for one server: `createDrainer` and the drainer it returns. The drainer
 * composes the parts (tracker, health answers, server wiring, signal handlers, the drain
 * sequence, the exit) and is the one place that decides who may end the process: a drain a
 * signal started, or one asked for with `exit`, never a plain `drain()` call.
 */
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import { DrainLog, describeError } from './drain-log.js';
import { DrainkitError, describeValue } from './errors.js';
import { drainBegan, drainEnded, exitRequested, type ClosingHandles } from './exit.js';
import { markHealthWrapper } from './handler-guard.js';
import { HealthAnswers } from './health.js';
import { healthSocketsOpen, startHealthServer, stopHealthServer } from './health-server.js';
import { registerHook, type RegisteredHook } from './hooks.js';
import { Lifecycle } from './lifecycle.js';
import { resolveOptions } from './options.js';
import { Persistent } from './persistent.js';
import { DrainSequence, type SequenceEnd } from './sequence.js';
import { applyKeepAlive, attachTracker } from './server-wiring.js';
import { installSignalHandlers, warnAboutSignals, type SignalHandlers } from './signals.js';
import { supervisedWorker } from './supervised.js';
import { Tracker } from './tracker.js';
import {
  EXIT_CODE_DRAINED,
  EXIT_CODE_FORCED,
  type DrainableServer,
  type Drainer,
  type DrainerEvents,
  type DrainerOptions,
  type DrainPhase,
  type DrainRequest,
  type DrainResult,
  type DrainState,
  type HandledSignal,
  type HealthListener,
  type ResolvedOptions,
  type ShutdownHook,
  type WindowEnd,
} from './types.js';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

const attached = new WeakSet<object>();
/** How long the exit after a preStop-started drain waits for the kubelet's SIGTERM (see #finish). */
const KUBELET_SIGNAL_WAIT_MS = 2_000;

/**
 * Attaches drainkit to a `node:http`, `node:https` or `node:http2` server (plain or secure, with
 * or without `allowHTTP1`) and returns its drainer. Options are validated here: a bad option
 * throws a {@link DrainkitError} naming the option and what it accepts.
 *
 * drainkit adds listeners to the server and never replaces the server's own; `detach()` removes
 * them. It does not listen or close on your behalf before a drain starts. When anything fails
 * during creation (a plugin that throws, a request handler attached twice), everything already
 * done is undone before the error is thrown: the server is left as it was given.
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
  // Inside `drainkit cluster` the primary is the balancer: it takes the worker out of rotation
  // at once and sends drain orders over IPC (a short keep-alive wind-down replaces the window).
  const supervisor = supervisedWorker();
  const resolved = resolveOptions(options);
  attached.add(server);
  try {
    // The constructor undoes its own wiring when it throws.
    const drainer = new ServerDrainer(server, supervisor ? supervisor.adjust(resolved) : resolved);
    supervisor?.attach(drainer, server);
    return drainer;
  } catch (err) {
    attached.delete(server);
    throw err;
  }
}

class ServerDrainer extends EventEmitter implements Drainer {
  readonly options: ResolvedOptions;
  readonly persistent: Persistent;
  readonly readiness: HealthListener;
  readonly liveness: HealthListener;
  readonly #server: DrainableServer;
  readonly #tracker: Tracker;
  readonly #life = new Lifecycle();
  readonly #hooks: RegisteredHook[] = [];
  readonly #detachers: (() => void)[] = [];
  readonly #log: DrainLog;
  readonly #health: HealthAnswers;
  readonly #sequence: DrainSequence;
  #signals: SignalHandlers | undefined;
  #drain: Promise<DrainResult> | undefined;
  /** Whether the drain under way (or the next one) ends the process. */
  #exit = false;
  /** The preStop hook started (or joined) the drain and the kubelet's SIGTERM has not come yet. */
  #signalExpectedAfterPreStop = false;
  /** Set while the exit after a preStop-started drain waits for the kubelet's SIGTERM. */
  #releaseExit: (() => void) | undefined;
  #signalSeen = false;
  #healthServer: http.Server | undefined;

  constructor(server: DrainableServer, options: ResolvedOptions) {
    super();
    this.#server = server;
    this.options = options;
    this.#log = new DrainLog(options.logger);
    const health = options.health;
    this.#tracker = new Tracker(
      {
        lingerMs: options.lingerMs,
        onActivity: () => this.#sequence.noteActivity(),
        onRelease: () => this.#sequence.released(),
        // Must be seen even with no logger (a container has no terminal, so no default logger):
        // without one it is a process warning, which Node prints on stderr.
        onNodeAssumptionBroken: (r) =>
          this.#log.writeOrWarn(
            'warn',
            { event: 'drain_node_assumption', assumption: r.assumption, nodeVersion: r.nodeVersion },
            `${r.message} (assumption "${r.assumption}", Node ${r.nodeVersion})`,
            'DRAINKIT_NODE_ASSUMPTION',
          ),
      },
      health ? [health.readinessPath, health.livenessPath, ...(health.preStopPath === undefined ? [] : [health.preStopPath])] : [],
    );
    const life = this.#life;
    this.persistent = new Persistent({
      adopt: (res) => this.#tracker.adopt(res),
      onRelease: () => this.#sequence.released(),
      onShutdownBegin: () => this.#emit('persistentShutdown'),
      get draining() {
        return life.state !== 'active';
      },
    });
    this.#sequence = new DrainSequence({
      options,
      server,
      tracker: this.#tracker,
      persistent: this.persistent,
      life,
      hooks: this.#hooks,
      log: this.#log,
      emit: (event, ...args) => this.#emit(event, ...args),
      stopped: () => {
        // From here a signal is the process's again (default behaviour, or other handlers). Except
        // the kubelet's SIGTERM after a preStop hook, which may still be on its way while this
        // process exits: its default action would end the process by signal instead of exit 0.
        if (!(this.#exit && this.#signalExpectedAfterPreStop)) this.#signals?.remove();
        stopHealthServer(this.#healthServer);
      },
    });
    this.#health = new HealthAnswers(
      {
        get draining() {
          return life.state !== 'active';
        },
        get listening() {
          return server.listening;
        },
        noteProbe: (req) => this.#sequence.noteProbe(req),
        preStop: () => this.#preStop(),
        warn: (fields, message) => this.#log.write('warn', fields, message),
      },
      health,
      options.deregister.mode === 'fixed' ? options.deregister.delayMs : options.deregister.maxMs,
    );
    this.readiness = this.#health.readiness;
    this.liveness = this.#health.liveness;
    try {
      this.#detachers.push(attachTracker(server, this.#tracker));
      this.#attachSignals();
      this.#detachers.push(applyKeepAlive(server, options.keepAliveTimeoutMs));
      if (health && health.port !== undefined) {
        this.#healthServer = startHealthServer(health.port, health.host, (req, res) => this.#health.handle(req, res, 'health-port'), (err) => {
          this.#log.write('error', { event: 'health_server_error', err: err.message }, 'health server failed');
          this.emit('error', err);
        });
      }
      for (const plugin of options.plugins) {
        const detach = plugin(this, server);
        if (typeof detach === 'function') this.#detachers.push(detach);
      }
    } catch (err) {
      this.#teardown();
      throw err;
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
    return this.#tracker.connections;
  }

  get healthAddress(): { host: string; port: number } | undefined {
    const a = this.#healthServer?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  // ---- health ---------------------------------------------------------------------------

  handleHealth(req: AnyRequest, res: AnyResponse): boolean {
    return this.#health.handle(req, res);
  }

  withHealth<Req extends AnyRequest, Res extends AnyResponse>(handler: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
    if (typeof handler !== 'function') {
      throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: withHealth(handler) got ${describeValue(handler)}; accepted: a request handler function`);
    }
    const health = this.#health;
    const wrapped = (req: Req, res: Res): void => {
      if (!health.handle(req, res)) handler(req, res);
    };
    // Marked so that attaching it next to `handler` itself is refused (see handler-guard).
    return markHealthWrapper(wrapped, handler);
  }

  // ---- hooks ----------------------------------------------------------------------------

  onShutdown(name: string, hook: ShutdownHook, options?: { readonly timeoutMs?: number }): () => void {
    return registerHook(this.#hooks, name, hook, options?.timeoutMs, this.options.hookTimeoutMs);
  }

  // ---- the drain ------------------------------------------------------------------------

  drain(reason = 'api', request?: DrainRequest): Promise<DrainResult> {
    this.#requestExit(`drain("${reason}", request)`, request);
    return this.#start(reason, false);
  }

  force(reason = 'force', request?: DrainRequest): Promise<DrainResult> {
    this.#requestExit(`force("${reason}", request)`, request);
    const result = this.#start(reason, false);
    this.#sequence.force('force', reason);
    return result;
  }

  #requestExit(call: string, request: DrainRequest | undefined): void {
    if (exitRequested(call, request, this.options.exitOnDrain)) this.#exit = true;
  }

  #start(reason: string, skipWindow: boolean): Promise<DrainResult> {
    if (this.#drain) return this.#drain;
    drainBegan(this, () => this.#closingHandles());
    const run = this.#sequence.run(reason, skipWindow).then(
      (end) => this.#finish(end),
      (err: unknown) => {
        // Only a bug in drainkit itself gets here (listeners and loggers cannot throw into the
        // sequence): say so, and still release the process so an exit is not held forever.
        this.#log.writeOrWarn('error', { event: 'drain_failed', err: describeError(err) }, `drain failed: ${describeError(err)}`, 'DRAINKIT_DRAIN_FAILED');
        this.#signals?.remove();
        drainEnded(this, this.#exit ? { code: EXIT_CODE_FORCED, graceMs: this.options.exitGraceMs, log: this.#log } : undefined);
        throw err;
      },
    );
    this.#drain = run;
    return run;
  }

  /**
   * What this drain closed whose handles may still be closing (src/core/exit.ts): every tracked
   * connection (all destroyed once the drain has ended; each leaves the tracker on its 'close'),
   * the health server's, and the listener in the loop iteration it was closed in.
   */
  #closingHandles(): ClosingHandles {
    return {
      sockets: this.#tracker.connections + healthSocketsOpen(this.#healthServer),
      servers: this.#tracker.listenerClosing ? 1 : 0,
    };
  }

  #finish({ result, cleanupCut }: SequenceEnd): DrainResult {
    const code = result.success && !cleanupCut ? EXIT_CODE_DRAINED : EXIT_CODE_FORCED;
    const end = (): void => drainEnded(this, this.#exit ? { code, graceMs: this.options.exitGraceMs, log: this.#log } : undefined);
    if (this.#exit && this.#signalExpectedAfterPreStop) {
      // A drain the preStop hook started can end a few ms after the hook answered, before the
      // kubelet's SIGTERM arrives. Exiting then races that signal: while Node tears down it
      // closes its signal watchers, the default action comes back, and the late SIGTERM ends the
      // process by signal instead of with its exit code (seen in CI). So the exit waits for that
      // SIGTERM, which follows the hook's answer at once, and no longer than this bound.
      const hold = setTimeout(() => this.#releaseExit?.(), KUBELET_SIGNAL_WAIT_MS);
      this.#releaseExit = () => {
        this.#releaseExit = undefined;
        clearTimeout(hold);
        end();
      };
    } else {
      end();
    }
    return result;
  }

  // ---- signals --------------------------------------------------------------------------

  #attachSignals(): void {
    const signals = this.options.signals;
    if (signals.length === 0) return;
    const handlers = installSignalHandlers(this, signals, (signal) => this.#onSignal(signal));
    this.#signals = handlers;
    this.#detachers.push(() => handlers.remove());
    if (this.options.signalWarnings) warnAboutSignals(this.#log, signals, handlers.shared);
  }

  /**
   * The kubelet's preStop hook: like a signal, the process's owner speaking, so the drain ends the
   * process (with exitOnDrain). Resolves when the deregistration window is over.
   */
  #preStop(): Promise<WindowEnd> {
    if (this.options.exitOnDrain) this.#exit = true;
    if (this.#drain === undefined) {
      this.#log.write('info', { event: 'drain_prestop', joined: false }, 'preStop hook: drain started');
      this.#signalExpectedAfterPreStop = true;
      // As on the signal path: no caller awaits this drain.
      this.#start('preStop', false).catch(() => undefined);
    } else {
      this.#log.write('info', { event: 'drain_prestop', joined: true }, 'preStop hook: joined the drain under way');
      // Joining a drain that code started: the kubelet's SIGTERM still follows this hook.
      if (!this.#signalSeen) this.#signalExpectedAfterPreStop = true;
    }
    return this.#sequence.windowOver;
  }

  #onSignal(signal: HandledSignal): void {
    // A signal is the process's owner speaking: the drain ends the process (with exitOnDrain),
    // including a drain that code started earlier.
    if (this.options.exitOnDrain) this.#exit = true;
    this.#signalSeen = true;
    if (this.#signalExpectedAfterPreStop) {
      // The kubelet sends SIGTERM once the preStop hook has returned: the same drain, not a second signal.
      this.#signalExpectedAfterPreStop = false;
      this.#log.write('info', { event: 'drain_signal_after_prestop', signal }, `${signal} after the preStop hook: the drain goes on`);
      // Arrived after the drain ended (the handlers were kept for it): signals are the process's
      // again, and the exit held for this signal goes ahead.
      if (this.#life.state === 'stopped') this.#signals?.remove();
      this.#releaseExit?.();
      return;
    }
    if (this.#drain === undefined) {
      const interactive = signal === 'SIGINT' && this.options.interactiveSigintSkipsWindow && process.stdin.isTTY === true;
      // Never rejects in practice; the catch keeps a drainkit bug from becoming an unhandled
      // rejection (exit 1) on the signal path, where no caller awaits the drain.
      this.#start(signal, interactive).catch(() => undefined);
    } else {
      this.#log.write('warn', { event: 'drain_signal_again', signal }, `${signal} again: forcing the drain`);
      this.#sequence.force('signal', signal);
    }
  }

  // ---- events ---------------------------------------------------------------------------

  /**
   * Emits to each listener in turn; one that throws is reported (logged at error, or a process
   * warning without a logger) and the others still run. A drain never stops half-way because
   * of a listener.
   */
  #emit<E extends keyof DrainerEvents>(event: E, ...args: DrainerEvents[E]): void {
    for (const listener of this.rawListeners(event)) {
      try {
        const returned: unknown = (listener as (...a: unknown[]) => unknown).apply(this, args);
        // An async listener's rejection would otherwise be an unhandled rejection: exit 1.
        if (isThenable(returned)) returned.then(undefined, (err: unknown) => this.#listenerFailed(event, err));
      } catch (err) {
        this.#listenerFailed(event, err);
      }
    }
  }

  #listenerFailed(event: keyof DrainerEvents, err: unknown): void {
    this.#log.writeOrWarn(
      'error',
      { event: 'listener_error', listenerOf: event, err: describeError(err) },
      `a '${event}' listener threw (${describeError(err)}); the drain goes on`,
      'DRAINKIT_LISTENER_ERROR',
    );
  }

  // ---- detach ---------------------------------------------------------------------------

  detach(): void {
    this.#teardown();
    attached.delete(this.#server);
  }

  /** Undoes every attachment, last first; one detacher that throws does not stop the others. */
  #teardown(): void {
    for (const d of this.#detachers.splice(0).reverse()) {
      try {
        d();
      } catch (err) {
        this.#log.writeOrWarn('error', { event: 'detach_error', err: describeError(err) }, `a detacher threw (${describeError(err)})`, 'DRAINKIT_DETACH_ERROR');
      }
    }
    if (this.#life.state === 'active') {
      stopHealthServer(this.#healthServer);
      this.#healthServer = undefined;
    }
  }

  // Typed event methods: the runtime is EventEmitter's.
  declare on: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
  declare once: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
  declare off: <E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void) => this;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
