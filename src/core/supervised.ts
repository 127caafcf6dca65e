/**
 * The worker side of `drainkit cluster`: a process started by the cluster supervisor (a
 * `node:cluster` worker whose environment carries {@link SUPERVISOR_ENV}) makes every drainer it
 * creates cluster-aware, without code changes in the application:
 *
 * - it tells the primary over IPC when it is ready (the server listens on `PORT` and readiness
 *   is true), and how its drains go (state, phases, result);
 * - it takes drain and force orders from the primary;
 * - it leaves rotation at the drain's first instant: the primary is the balancer, and the moment
 *   the worker closes its listener the primary stops handing it connections (one already in the
 *   handoff is given to another worker); the window that follows, {@link CLUSTER_WINDOW_MS}, is
 *   for the keep-alive connections already open, not for routing;
 * - SIGINT is left to the primary (a Ctrl-C in a terminal reaches the whole process group, and
 *   the primary drains every worker itself); SIGTERM to one worker still drains that worker, a
 *   second SIGTERM to it forces, but a SIGTERM that finds the primary's drain order under way
 *   (one signal sent to the whole group) does not;
 * - when the IPC channel closes without a drain order (the primary died), the worker drains
 *   and exits instead of being cut at once, so no worker outlives its primary.
 *
 * Node built-ins only; the supervisor lives in `drainkit/cluster` and speaks the protocol
 * typed here.
 */
import type * as net from 'node:net';
import { cluster, NetServer } from './builtins.js';
import { DEFAULTS } from './options.js';
import type { DrainableServer, Drainer, DrainPhase, DrainResult, DrainState, ResolvedOptions } from './types.js';

/** Environment variable the supervisor sets in its workers; its value is the protocol version. */
export const SUPERVISOR_ENV = 'DRAINKIT_CLUSTER';
/** The protocol version this build speaks. */
export const PROTOCOL = 'drainkit-cluster/1';

/**
 * The deregistration window inside the cluster. Routing needs none (the listener closes at the
 * drain's first instant, and the primary stops handing the worker connections one IPC round
 * trip later), but keep-alive connections already open do: during this window each connection
 * that carries a request gets `Connection: close` on its response and ends cleanly. Those still
 * idle at its end are not closed by the worker (see {@link insideCluster}): the client retires
 * them, within the keep-alive timeout the worker announced ({@link CLUSTER_KEEP_ALIVE_MS}).
 */
export const CLUSTER_WINDOW_MS = 1_000;

/**
 * The keep-alive timeout a worker announces (`Keep-Alive: timeout=5`) unless the application
 * chose its own: Node's own default. It bounds a drain: an idle connection is left for the
 * client to close, and a client that honours the announcement (undici, Node's agent) closes it
 * before this timeout; Node itself closes it at this timeout. drainkit's default elsewhere, 65 s,
 * outlives a cloud balancer's idle timeout; inside the cluster it would hold every drain for a
 * minute.
 */
export const CLUSTER_KEEP_ALIVE_MS = 5_000;

/**
 * How often a worker samples its serving drainer's in-flight and persistent counts (two
 * getters) and sends them when they changed. Off the request path, so the rate of requests
 * never sets the rate of IPC messages.
 */
export const LOAD_SAMPLE_MS = 250;

/** Messages a supervised worker sends to the primary. */
export type WorkerMessage =
  /** A drainer was created: this worker drains with drainkit (not the weaker disconnect mode). */
  | { readonly protocol: typeof PROTOCOL; readonly type: 'hello'; readonly pid: number }
  /** The server on `PORT` is listening and readiness is true: the worker may take traffic. */
  | { readonly protocol: typeof PROTOCOL; readonly type: 'ready'; readonly pid: number; readonly port: number }
  | { readonly protocol: typeof PROTOCOL; readonly type: 'state'; readonly state: DrainState; readonly reason: string }
  | { readonly protocol: typeof PROTOCOL; readonly type: 'phase'; readonly phase: DrainPhase }
  /** The serving drainer's counts, sent when they change (sampled every {@link LOAD_SAMPLE_MS}): what the primary reports to a registry. */
  | { readonly protocol: typeof PROTOCOL; readonly type: 'load'; readonly inflight: number; readonly persistent: number }
  /** The drain ended (after the shutdown hooks); the worker exits next. */
  | { readonly protocol: typeof PROTOCOL; readonly type: 'drained'; readonly result: DrainResult };

/** Orders the primary sends to a supervised worker. */
export type PrimaryMessage =
  | { readonly protocol: typeof PROTOCOL; readonly type: 'drain'; readonly reason: string }
  | { readonly protocol: typeof PROTOCOL; readonly type: 'force'; readonly reason: string };

function isProtocolMessage(value: unknown): value is { protocol: string; type: string } {
  return typeof value === 'object' && value !== null && (value as { protocol?: unknown }).protocol === PROTOCOL && typeof (value as { type?: unknown }).type === 'string';
}

/** True for a message of this protocol sent by a worker (anything else on the channel is the app's). */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return isProtocolMessage(value) && ['hello', 'ready', 'state', 'phase', 'load', 'drained'].includes(value.type);
}

/** True for an order of this protocol sent by the primary. */
export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return isProtocolMessage(value) && (value.type === 'drain' || value.type === 'force') && typeof (value as { reason?: unknown }).reason === 'string';
}

/** What `createDrainer` does in a supervised worker. */
export interface SupervisedWorker {
  /** The options the drainer runs with inside the cluster (the cluster's window, SIGINT and SIGTERM handled here, exit after the drain). */
  adjust(options: ResolvedOptions): ResolvedOptions;
  /** Connects a new drainer to the primary. */
  attach(drainer: Drainer, server: DrainableServer): void;
}

let singleton: SupervisedWorker | undefined;

/**
 * True in a worker of `drainkit cluster`. There the worker never closes an idle keep-alive
 * connection itself (Tracker#closeIdle): its clients talk to it directly (the primary balances
 * whole connections), an HTTP/1.1 server has no way to tell a client that an idle connection is
 * going away, and a FIN it sends may cross a request the client is writing on that connection
 * at that moment (`other side closed`, or a reset) that no one retries. Only the client can
 * close an idle connection without that race: it does so on its next response, which carries
 * `Connection: close`, or at its own idle timeout, which the announced keep-alive timeout bounds.
 */
export function insideCluster(): boolean {
  return supervisedWorker() !== undefined;
}

/**
 * The supervision of this process, or `undefined` when it is not a worker of `drainkit cluster`
 * (a plain `node:cluster` worker of another supervisor included).
 */
export function supervisedWorker(): SupervisedWorker | undefined {
  if (!cluster.isWorker || process.env[SUPERVISOR_ENV] !== PROTOCOL || typeof process.send !== 'function') return undefined;
  singleton ??= new Supervision();
  return singleton;
}

/**
 * The primary's orders (and this worker's own SIGTERM) start drains on the process owner's
 * behalf: like a signal's, they end the process once drained (the adjusted options set
 * `exitOnDrain`).
 */
const AS_OWNER = { exit: 'as-signal' } as const;

class Supervision implements SupervisedWorker {
  readonly #drainers: Drainer[] = [];
  readonly #results = new Map<Drainer, DrainResult>();
  /** Options (as adjusted) of the drainers that asked for SIGTERM handling. */
  readonly #wantsSigterm = new WeakSet<ResolvedOptions>();
  #sigterms = 0;
  readonly #port = portFromEnv();
  /** The drainer of the server on the cluster's port: its result is the one the primary records. */
  #serving: Drainer | undefined;

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      for (const d of this.#drainers) void (message.type === 'drain' ? d.drain(message.reason, AS_OWNER) : d.force(message.reason, AS_OWNER));
    });
    // Prepended, so it runs before node:cluster's own listener, which exits the worker at once
    // (dropping what is in flight) when the channel closes without a disconnect of its own.
    process.prependOnceListener('disconnect', () => {
      const worker = cluster.worker;
      if (!worker || worker.exitedAfterDisconnect) return;
      worker.exitedAfterDisconnect = true;
      for (const d of this.#drainers) void d.drain('cluster:primary-gone', AS_OWNER);
    });
    // A Ctrl-C reaches every process of the terminal's group: the primary receives it too and
    // orders the drains (and forces them on a second Ctrl-C), so the worker only acknowledges it.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => {
      this.#sigterms += 1;
      for (const d of this.#drainers) {
        if (!this.#wantsSigterm.has(d.options)) continue;
        if (d.state === 'active') void d.drain('SIGTERM', AS_OWNER);
        // Only this worker's own second SIGTERM forces; the primary forces on its own second signal.
        else if (this.#sigterms > 1) void d.force('SIGTERM', AS_OWNER);
      }
    });
  }

  adjust(options: ResolvedOptions): ResolvedOptions {
    const adjusted: ResolvedOptions = Object.freeze({
      ...options,
      deregister: Object.freeze({ mode: 'fixed', delayMs: CLUSTER_WINDOW_MS }),
      // The application's own choice stands; drainkit's default (for a cloud balancer) does not.
      keepAliveTimeoutMs: options.keepAliveTimeoutMs === DEFAULTS.keepAliveTimeoutMs ? CLUSTER_KEEP_ALIVE_MS : options.keepAliveTimeoutMs,
      signals: Object.freeze(options.signals.filter((s) => s !== 'SIGINT' && s !== 'SIGTERM')),
      exitOnDrain: true,
    });
    if (options.signals.includes('SIGTERM')) this.#wantsSigterm.add(adjusted);
    return adjusted;
  }

  attach(drainer: Drainer, server: DrainableServer): void {
    this.#drainers.push(drainer);
    this.#send({ protocol: PROTOCOL, type: 'hello', pid: process.pid });
    drainer.on('state', (state, reason) => {
      if (state === 'draining') unroute(server);
      this.#send({ protocol: PROTOCOL, type: 'state', state, reason });
    });
    drainer.on('phase', (phase) => this.#send({ protocol: PROTOCOL, type: 'phase', phase }));
    drainer.on('drained', (result) => {
      this.#results.set(drainer, result);
      this.#drained();
    });
    const check = (): void => this.#checkReady(drainer, server);
    server.on('listening', check);
    check();
  }

  #checkReady(drainer: Drainer, server: DrainableServer): void {
    if (this.#serving !== undefined || drainer.state !== 'active' || !server.listening) return;
    const address = (server as net.Server).address();
    const port = address !== null && typeof address === 'object' ? address.port : undefined;
    // Only the server on the cluster's port makes the worker ready: an admin or health server
    // listening first must not put it into rotation.
    if (port === undefined || (this.#port !== undefined && port !== this.#port)) return;
    this.#serving = drainer;
    this.#send({ protocol: PROTOCOL, type: 'ready', pid: process.pid, port });
    this.#sampleLoad(drainer);
  }

  /** Sends the serving drainer's counts when they change, until it stopped. The timer never holds the process. */
  #sampleLoad(drainer: Drainer): void {
    let last = '';
    const timer = setInterval(() => {
      if (drainer.state === 'stopped') {
        clearInterval(timer);
        return;
      }
      const inflight = drainer.inflight;
      const persistent = drainer.persistent.size;
      const key = `${inflight}/${persistent}`;
      if (key === last) return;
      last = key;
      this.#send({ protocol: PROTOCOL, type: 'load', inflight, persistent });
    }, LOAD_SAMPLE_MS);
    timer.unref();
  }

  /** Once every drainer of the process has drained: report, then leave the cluster. */
  #drained(): void {
    if (this.#results.size < this.#drainers.length) return;
    const result = this.#results.get(this.#serving ?? this.#drainers[0]!)!;
    if (!process.connected) return;
    // Leaving the cluster on our own account once the report is written: the primary sees a
    // planned exit, and nothing of node:cluster holds the event loop after the drain.
    const leave = (): void => {
      if (process.connected) cluster.worker?.disconnect();
    };
    try {
      process.send!({ protocol: PROTOCOL, type: 'drained', result } satisfies WorkerMessage, undefined, {}, leave);
    } catch {
      // The channel closed meanwhile: the primary is gone and sees nothing either way.
    }
  }

  /** Best effort: a closed channel means the primary is gone, and the drain goes on regardless. */
  #send(message: WorkerMessage): void {
    if (!process.connected) return;
    try {
      process.send!(message);
    } catch {
      // The channel closed between the check and the send.
    }
  }
}

/**
 * Closes the listening handle only: net.Server's close, without http.Server's closing of idle
 * keep-alive connections (those wind down during the window). In a cluster worker this tells
 * the primary to stop handing the worker connections; the drain's own close at the window's end
 * then finds the listener closed and closes what is idle.
 */
function unroute(server: DrainableServer): void {
  if (server.listening) NetServer.prototype.close.call(server, () => undefined);
}

function portFromEnv(): number | undefined {
  const raw = process.env.PORT;
  return raw !== undefined && /^\d{1,5}$/.test(raw) ? Number(raw) : undefined;
}
