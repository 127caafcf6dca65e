/**
 * The drain engine for one server: `createDrainer` and the drainer it returns. The drainer
 * composes the parts: the tracker, the health answers, the server wiring, the drain sequence,
 * and the process owner (src/core/process-owner.ts: signals, preStop and the exit, which
 * decides who may end the process: a drain a signal started, or one asked for with `exit`,
 * never a plain `drain()` call).
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { EventEmitter, NetServer } from './builtins.js';
import { DrainLog, describeError } from './drain-log.js';
import { DrainkitError, describeValue } from './errors.js';
import type { ClosingHandles } from './exit.js';
import { markHealthWrapper } from './handler-guard.js';
import { HealthAnswers } from './health.js';
import { healthSocketsOpen, startHealthServer, stopHealthServer } from './health-server.js';
import { registerHook, type RegisteredHook } from './hooks.js';
import { Lifecycle } from './lifecycle.js';
import { resolveOptions } from './options.js';
import { Persistent } from './persistent.js';
import { ProcessOwner } from './process-owner.js';
import { DrainSequence } from './sequence.js';
import { applyKeepAlive, attachTracker, finishClose } from './server-wiring.js';
import { insideCluster, supervisedWorker } from './supervised.js';
import { Tracker } from './tracker.js';
import {
  type DrainableServer,
  type Drainer,
  type DrainerEvents,
  type DrainerOptions,
  type DrainPhase,
  type DrainRequest,
  type DrainResult,
  type DrainState,
  type HealthListener,
  type ResolvedOptions,
  type ShutdownHook,
} from './types.js';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

const attached = new WeakSet<object>();

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
  if (!(server instanceof NetServer)) {
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
  readonly #owner: ProcessOwner;
  #drain: Promise<DrainResult> | undefined;
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
        server,
        leaveIdleToClient: insideCluster(),
        idleCloseAtExit: () => this.#owner.exitsWhenDrained() && this.#hooks.length === 0 && this.persistent.size === 0,
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
    this.#owner = new ProcessOwner({
      options,
      log: this.#log,
      drainStarted: () => this.#drain !== undefined,
      stopped: () => life.state === 'stopped',
      start: (reason, skipWindow) => this.#start(reason, skipWindow),
      forceBySignal: (signal) => this.#sequence.force('signal', signal),
      windowOver: () => this.#sequence.windowOver,
    });
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
        this.#owner.drainStopped();
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
        preStop: () => this.#owner.preStop(),
        warn: (fields, message) => this.#log.write('warn', fields, message),
      },
      health,
      options.deregister.mode === 'fixed' ? options.deregister.delayMs : options.deregister.maxMs,
    );
    this.readiness = this.#health.readiness;
    this.liveness = this.#health.liveness;
    try {
      this.#detachers.push(attachTracker(server, this.#tracker));
      this.#owner.installSignals((detach) => this.#detachers.push(detach));
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
    this.#owner.requestExit(`drain("${reason}", request)`, request);
    return this.#start(reason, false);
  }

  force(reason = 'force', request?: DrainRequest): Promise<DrainResult> {
    this.#owner.requestExit(`force("${reason}", request)`, request);
    const result = this.#start(reason, false);
    this.#sequence.force('force', reason);
    return result;
  }

  #start(reason: string, skipWindow: boolean): Promise<DrainResult> {
    if (this.#drain) return this.#drain;
    this.#owner.drainBegan({
      closing: () => this.#closingHandles(),
      closeDeferred: () => this.#tracker.closeDeferred(),
      livingOn: () => {
        this.#tracker.closeDeferred();
        finishClose(this.#server);
      },
    });
    const run = this.#sequence.run(reason, skipWindow).then(
      (end) => {
        this.#owner.drainEnded(end);
        return end.result;
      },
      (err: unknown) => {
        // Only a bug in drainkit itself gets here (listeners and loggers cannot throw into the
        // sequence): say so, and still release the process so an exit is not held forever.
        this.#log.writeOrWarn('error', { event: 'drain_failed', err: describeError(err) }, `drain failed: ${describeError(err)}`, 'DRAINKIT_DRAIN_FAILED');
        this.#owner.drainFailed();
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
