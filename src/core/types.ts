/**
 * Public types of the drain engine. Everything here is part of drainkit's stable contract:
 * later layers (integrations, registry, control plane) depend only on these, never on the
 * engine's internals.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';

/** Lifecycle states, exactly those of the registry schema: `active → draining → stopped`. */
export type DrainState = 'active' | 'draining' | 'stopped';

/**
 * Phases of a drain, in order. Every drain passes through all of them except `forcing`, which
 * happens only when the drain timeout expires or a second signal arrives.
 *
 * - `deregistering`: readiness answers 503, the server still accepts and serves, every response
 *   carries `Connection: close`, HTTP/2 sessions get the two-phase GOAWAY.
 * - `closing`: the listener is closed and keep-alive connections idle at the parser are closed.
 * - `persistent`: persistent connections (WebSocket, SSE, long-poll) are told to go away.
 * - `waiting`: waiting, event-driven, for in-flight requests and persistent connections to end.
 * - `forcing`: the drain timeout expired (or a second signal came); what remains is destroyed.
 * - `cleanup`: the user's shutdown hooks run, each bounded.
 */
export type DrainPhase = 'deregistering' | 'closing' | 'persistent' | 'waiting' | 'forcing' | 'cleanup';

/** What ended the deregistration window. */
export type WindowEnd =
  /** The fixed window ran its full length. */
  | 'fixed'
  /** The balancer confirmed (HAProxy `send-state` said the server is not UP). */
  | 'balancer-state'
  /** The readiness probe was answered 503 as many times as the balancer's failure threshold. */
  | 'probe-threshold'
  /**
   * `confirm: 'traffic'`: after `minMs`, no request and no new connection (health probes aside)
   * arrived for `quietMs`, so the balancer has stopped sending here.
   */
  | 'traffic-quiet'
  /** The adaptive window reached its maximum without confirmation. */
  | 'max'
  /** The window was skipped: Ctrl-C in a terminal, a zero-length window, or a forced drain. */
  | 'skipped';

/**
 * The deregistration window, as given in {@link DrainerOptions.deregister}: how long the server
 * keeps serving after readiness turns 503. An adaptive window may be partial (the fields left
 * out take the defaults in `DEFAULTS.deregister`); a fixed one must say how long it is.
 */
export type DeregisterOptions =
  | {
      /** Wait exactly `delayMs` (a classic preStop-style sleep, but inside the process). */
      readonly mode: 'fixed';
      /**
       * The window's length. Required, no default: it is the balancer's reaction time (probe
       * interval × failure threshold, or endpoint propagation), which only the deployment knows.
       * Range 0 … 3 600 000; 0 skips the window.
       */
      readonly delayMs: number;
    }
  | {
      /**
       * End as soon as the balancer confirmed it stopped routing here and no new request
       * arrived for `quietMs`, never before `minMs` and never after `maxMs`.
       */
      readonly mode: 'adaptive';
      /** The window never ends before this. Default 0. Range 0 … `maxMs`. */
      readonly minMs?: number | undefined;
      /** The window ends at this at the latest, confirmed or not. Default 5000. Range 0 … 3 600 000. */
      readonly maxMs?: number | undefined;
      /**
       * After the confirmation, how long no request may arrive before the window ends (a request
       * dispatched just before the balancer flipped may still be on the wire). Default 500.
       * Range 0 … 60 000.
       */
      readonly quietMs?: number | undefined;
      /**
       * The balancer's failure threshold (HAProxy `fall`, Kubernetes `failureThreshold`): after
       * this many readiness probes answered 503 the balancer has marked the instance down.
       * Default: none. Leave it out when several balancers probe the same instance or the
       * threshold is unknown; HAProxy's `http-check send-state` header is then the only
       * confirmation. Range 1 … 100.
       */
      readonly probeFailureThreshold?: number | undefined;
      /**
       * What may confirm the window. `'balancer'` (default): only the balancer's own word, HAProxy's
       * `send-state` header or `probeFailureThreshold` probes answered 503; without either the
       * window runs to `maxMs`. `'traffic'`: for balancers that say nothing the app can read
       * (Kubernetes endpoints, nginx, cloud load balancers), the traffic itself confirms: once
       * `minMs` has passed, the window ends after `quietMs` without a new request or connection
       * (health probes excluded), and `endedBy` is `'traffic-quiet'`. The balancer's word still
       * ends it when it comes. With `'traffic'`, `minMs` is required: it is the longest the
       * balancer may keep sending new traffic after readiness turned 503 (endpoint propagation,
       * probe period × failure threshold), and a quiet spell before it proves nothing.
       */
      readonly confirm?: 'balancer' | 'traffic' | undefined;
    };

/** {@link DeregisterOptions} with every default applied, as in `drainer.options.deregister`. */
export type ResolvedDeregisterOptions =
  | { readonly mode: 'fixed'; readonly delayMs: number }
  | {
      readonly mode: 'adaptive';
      readonly minMs: number;
      readonly maxMs: number;
      readonly quietMs: number;
      /** Absent when not given: only the balancer's state header confirms the window then. */
      readonly probeFailureThreshold?: number;
      /** Present only when traffic confirms the window (`confirm: 'traffic'`); absent means `'balancer'`. */
      readonly confirm?: 'traffic';
    };

/** A pino-shaped logger: `info(obj, msg)`; pino, and anything with the same three methods. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export type HandledSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR2';

/**
 * Options of {@link createDrainer}. Every field is optional (`undefined` means the default);
 * defaults are documented per field and exported as `DEFAULTS`.
 */
export interface DrainerOptions {
  /**
   * How long in-flight requests and persistent connections may take once the deregistration
   * window has ended, before what remains is destroyed. Default 30 000 ms. Range 0 … 3 600 000.
   */
  readonly drainTimeoutMs?: number | undefined;
  /**
   * The deregistration window. Default `{ mode: 'adaptive', minMs: 0, maxMs: 5000, quietMs: 500 }`
   * (`DEFAULTS.deregister`): at most 5 s, ended early by HAProxy's `send-state` header (or by
   * `probeFailureThreshold` probes answered 503). An adaptive object may be partial, e.g.
   * `{ mode: 'adaptive', maxMs: 3000 }`; `{ mode: 'fixed', delayMs }` needs its `delayMs`.
   */
  readonly deregister?: DeregisterOptions | undefined;
  /**
   * Health endpoints. `readinessPath` (default `/readyz`) and `livenessPath` (default `/healthz`)
   * are answered by {@link Drainer.handleHealth}; with `port` set, drainkit also runs a small
   * health server of its own on that port that answers both paths automatically.
   * `false` disables the paths (the {@link Drainer.readiness} and {@link Drainer.liveness}
   * listeners still work).
   */
  readonly health?: HealthOptions | false | undefined;
  /**
   * Signals that start a drain; a second one during a drain forces it (during the cleanup phase:
   * aborts the running shutdown hook and skips the rest). The handlers are removed once the drain
   * has stopped, so a later signal gets the process's default behaviour (or its other handlers)
   * again. Default `['SIGTERM', 'SIGINT']`. `false` installs no signal handler (for embedding and
   * tests).
   */
  readonly signals?: readonly HandledSignal[] | false | undefined;
  /**
   * Ctrl-C in a terminal (SIGINT while stdin is a TTY) skips the deregistration window: no
   * balancer is watching a developer's laptop. Default true.
   */
  readonly interactiveSigintSkipsWindow?: boolean | undefined;
  /**
   * After a drain that a signal started (or one started with `drain(reason, { exit: 'as-signal' })`,
   * as a fleet's remote drain request is), end the process: exit code 0 when the drain completed,
   * {@link EXIT_CODE_FORCED} when it was forced or a second signal cut the shutdown hooks short.
   * When all that holds the event loop is what the drains closed (their destroyed sockets, whose
   * FINs are sent, and their listeners), the process ends at once; otherwise it is left to exit
   * on its own (so loggers flush), and if something still holds the event loop `exitGraceMs`
   * later, it is ended with `process.exit`. When several drains run in one
   * process, the exit waits until every one of them has ended.
   *
   * A drain started by calling `drainer.drain()` (a framework's `close()`, a test) never ends the
   * process, whatever this says, unless asked with `drain(reason, { exit: true })`.
   * Default: true when signals are handled, false otherwise.
   */
  readonly exitOnDrain?: boolean | undefined;
  /** See `exitOnDrain`. Default 1000 ms. Range 0 … 60 000. */
  readonly exitGraceMs?: number | undefined;
  /**
   * The server's `keepAliveTimeout`, kept above the balancer's idle timeout so that the server
   * never closes a pooled connection first (which causes steady 502s). Default 65 000 ms (above
   * the AWS ALB's 60 s). `headersTimeout` is raised to stay above it. `null` leaves the server's
   * own settings untouched. Range 1 000 … 3 600 000.
   */
  readonly keepAliveTimeoutMs?: number | null | undefined;
  /**
   * After the last response on a connection that is closing, how long to wait for the client's
   * FIN after our own half-close before the socket is destroyed. Default 2000 ms; always bounded
   * by the drain deadline. Range 0 … 60 000.
   */
  readonly lingerMs?: number | undefined;
  /** When persistent connections are told to go away. Default `'window-end'`. */
  readonly persistentShutdown?: 'window-end' | 'drain-start' | undefined;
  /**
   * Persistent connections are told to go away spread evenly at random over this span, so the
   * survivors do not take every reconnect in the same instant. Default 2500 ms (chosen from the
   * reconnect-storm benchmark, docs/integrations.md). Range 0 … 60 000. Capped at half of
   * `drainTimeoutMs`, so the connection told last still has time to close cleanly.
   */
  readonly persistentSpreadMs?: number | undefined;
  /** Default bound of each shutdown hook. Default 5000 ms. Range 0 … 600 000. */
  readonly hookTimeoutMs?: number | undefined;
  /**
   * Where phase transitions and the drain report are logged. Default: when stderr is a terminal,
   * one plain line per phase and outcome on stderr (`drainkit: …`); otherwise (a pipe, a file,
   * a container's log) nothing, since structured logs there should come from your own logger.
   * `false` logs nothing, even on a terminal.
   */
  readonly logger?: Logger | false | undefined;
  /**
   * Log a hint after a drain when its timeout looks wrong for what the drain observed: at `warn`
   * when the timeout forced work, at `info` when it was tight or far longer than needed (only
   * with enough completed requests to go by). Default true; `false` turns hints off.
   */
  readonly hints?: boolean | undefined;
  /**
   * Warn once at creation (only when signals are handled) when drainkit can tell the
   * orchestrator's signals may not reach it: started through `npm run`, `npm exec`/`npx`, or a
   * `sh -c` wrapper, none of which pass SIGTERM on reliably; or another drainer in this process
   * handles the same signals. Default true; `false` turns these warnings off.
   */
  readonly signalWarnings?: boolean | undefined;
  /** Attached in order once the drainer exists, detached by `detach()` in reverse order. Default `[]`. */
  readonly plugins?: readonly DrainerPlugin[] | undefined;
}

export interface HealthOptions {
  /** Answered 200 while active, 503 from the first instant of a drain. Default `'/readyz'`. */
  readonly readinessPath?: string | undefined;
  /** Answered 200 until the process exits. Default `'/healthz'`. */
  readonly livenessPath?: string | undefined;
  /** Run a dedicated health server on this port (0 picks one) that answers both paths. Default: none. Range 0 … 65 535. */
  readonly port?: number | undefined;
  /** Host of the dedicated health server (only used with `port`). Default `'0.0.0.0'`, reachable by the kubelet on the pod's address. */
  readonly host?: string | undefined;
  /**
   * The preStop endpoint, for Kubernetes `lifecycle.preStop.httpGet` (e.g. `'/prestop'`). Default:
   * none. A request to it starts the drain at once, as SIGTERM would (readiness 503; the process
   * exits at the end with `exitOnDrain`), and is answered 200 when the deregistration window has
   * ended, so the kubelet's preStop wait and the window are one interval; the SIGTERM the kubelet
   * sends next is then part of the same drain, not a second signal. Hooks are delivered at least
   * once: a repeated call joins the same drain (after the window it is answered at once). The
   * answer never waits longer than the window's maximum plus one second.
   *
   * Draining is not for the service's clients: the endpoint is served on the dedicated health
   * server (`port`), which the kubelet reaches and the load balancer does not, and on the main
   * server only with a `preStopToken`. Needs `port`, `preStopToken`, or both.
   */
  readonly preStopPath?: string | undefined;
  /**
   * A secret the preStop request must carry in its `x-drainkit-prestop` header (set it with the
   * hook's `httpGet.httpHeaders`). With it, the endpoint is also served on the main server (the
   * balancer forwards the path, but not a valid secret); it is then required on every port.
   * 16 to 256 visible ASCII characters. A request without it, or with a wrong one, is answered 403
   * and logged; on the main server without a configured secret the path is answered 404 and logged.
   */
  readonly preStopToken?: string | undefined;
}

/** Outcome of one shutdown hook. */
export interface HookReport {
  readonly name: string;
  /**
   * `ok`, `error` (threw or rejected), `timeout` (exceeded its bound; its signal was aborted),
   * `aborted` (a second signal or `force()` cut it short; its signal was aborted) or `skipped`
   * (not run, because the shutdown had been cut short before its turn).
   */
  readonly outcome: 'ok' | 'error' | 'timeout' | 'aborted' | 'skipped';
  readonly durationMs: number;
  readonly error?: string;
}

/** One entry of a drain's phase log. */
export interface PhaseRecord {
  readonly phase: DrainPhase;
  /** Milliseconds since the drain started. */
  readonly atMs: number;
}

/** What a drain did. Resolved by {@link Drainer.drain} once the drain (and its hooks) ended. */
export interface DrainResult {
  /** True when every request and persistent connection ended on its own before the timeout. */
  readonly success: boolean;
  /** `'completed'` or `'forced'` (timeout or second signal). */
  readonly outcome: 'completed' | 'forced';
  /** What started the drain: a signal name, `'api'`, or the caller's reason. */
  readonly reason: string;
  /**
   * What forced it, when it was forced: `'timeout'` (the drain timeout expired), `'signal'` (a
   * second signal) or `'force'` (a call to `force()`, whatever reason string it was given).
   * Absent when the drain completed.
   */
  readonly forcedBy?: ForceCause;
  /** The reason given with the force (the second signal's name, or `force()`'s argument), when it was forced early. */
  readonly forceReason?: string | undefined;
  /** From drain start to the end of cleanup, in milliseconds. */
  readonly durationMs: number;
  readonly window: { readonly durationMs: number; readonly endedBy: WindowEnd };
  /** Requests that completed during the drain (including those served during the window). */
  readonly requestsCompleted: number;
  /** In-flight requests when the drain started. */
  readonly requestsAtStart: number;
  /**
   * In-flight requests when the deregistration window ended and the wait began: the work the
   * drain timeout is there for (requests served during the window are not). Absent from results
   * built by hand or by earlier versions.
   */
  readonly requestsAtWindowEnd?: number;
  /** Requests still in flight when the drain was forced (0 when it completed). */
  readonly requestsRemaining: number;
  /** Persistent connections still open when the drain was forced. */
  readonly persistentRemaining: number;
  /**
   * Client connections destroyed because the drain was forced, each counted once by its TCP
   * socket (an HTTP/2 session, or a TLS socket, and the socket under it are one connection).
   */
  readonly connectionsForced: number;
  /**
   * Connections taken over through the server's `'upgrade'` or `'connect'` event by something
   * other than a drainkit integration (a WebSocket server without `drainkit/ws`, a proxy's
   * tunnels) and still open at the end of the wait: drainkit cannot speak their protocol, so it
   * closes them then, counts them here (not in `connectionsForced`) and logs a warning. Register
   * such connections with `persistent.add` to give them a clean shutdown path.
   */
  readonly upgradesClosed: number;
  /**
   * Persistent connections that closed during the drain, by kind (`websocket`, `sse`,
   * `long-poll`…): `clean` when they went away on their own path (close handshake, stream ended,
   * poll answered), `terminated` when they were cut (a close timeout, or the forced drain).
   */
  readonly persistentClosed: Readonly<Record<string, PersistentTally>>;
  /** The longest request seen during the drain, in milliseconds (0 when none). */
  readonly longestRequestMs: number;
  readonly phases: readonly PhaseRecord[];
  readonly hooks: readonly HookReport[];
}

/** What forced a drain: its timeout, a second signal, or a call to `force()`. */
export type ForceCause = 'timeout' | 'signal' | 'force';

/** How a drain is asked for: see {@link Drainer.drain}. */
export interface DrainRequest {
  /**
   * Whether the process ends once this drain is over (exit code 0, or {@link EXIT_CODE_FORCED}
   * when forced), as it does after a drain a signal started:
   * - `false` (the default): the drain stops the server, never the process, whatever
   *   `exitOnDrain` says. `await fastify.close()` in a test suite, a server embedded in a larger
   *   program.
   * - `true`: end the process after it, even with `exitOnDrain: false`.
   * - `'as-signal'`: the drain is asked for by whoever owns the process, through another channel
   *   than a signal (a fleet's remote drain request): end the process exactly when a signal
   *   drain would, that is when `exitOnDrain` is true. Plugins that relay an operator's drain use
   *   this.
   *
   * A drain already under way is joined; asking for an exit (or a signal arriving) while it runs
   * makes it end the process too.
   */
  readonly exit?: boolean | 'as-signal' | undefined;
}

/** A drain's outcome before the shutdown hooks ran: the result without `hooks`, timed to the end of the wait. */
export type DrainOutcome = Omit<DrainResult, 'hooks'>;

/**
 * Something that attaches to a drainer when it is created (a registry reporter, metrics) and
 * returns how to detach it. Plugins see only the public drainer and the server.
 */
export type DrainerPlugin = (drainer: Drainer, server: DrainableServer) => (() => void) | void;

/** How the persistent connections of one kind ended during a drain. */
export interface PersistentTally {
  readonly clean: number;
  readonly terminated: number;
}

/**
 * Releases a persistent connection (idempotent): call it when the connection has closed, saying
 * how (default `'clean'`).
 */
export type PersistentRelease = (outcome?: 'clean' | 'terminated') => void;

/** A shutdown hook: close a pool, flush a queue. The signal aborts when its bound expires. */
export type ShutdownHook = (signal: AbortSignal) => unknown;

/**
 * A long-lived connection that does not finish in the normal request cycle (WebSocket, SSE,
 * long-poll). The core calls `goAway` once the persistent phase begins (spread over
 * `persistentSpreadMs`) and `terminate` when the drain is forced. The connection calls the
 * release function returned by {@link PersistentSet.add} when it has closed.
 */
export interface PersistentConnection {
  /** `'websocket'`, `'sse'`, `'long-poll'` or an integration's own name. */
  readonly kind: string;
  /** Ask the peer to go away cleanly (close frame 1001, SSE `retry:` and end, empty answer). */
  goAway(): void;
  /** Destroy it now: the drain was forced. */
  terminate(): void;
}

/** The drainer's persistent-connection set, counted apart from in-flight requests. */
export interface PersistentSet {
  /** Number of open persistent connections. */
  readonly size: number;
  /**
   * Register a persistent connection. Returns its release function (idempotent). When the drain
   * is already past the moment persistent connections are told to go away, `goAway` is called
   * at once (and within the spread).
   */
  add(connection: PersistentConnection): PersistentRelease;
  /**
   * Move a request that became long-lived (SSE stream, parked long-poll) from the in-flight
   * count to the persistent set. It is released when its response closes; if that happens
   * during a drain, its connection is closed too (so the client reconnects elsewhere, not on
   * the same socket). A request read from a connection already closed for writing is not
   * counted: it can never be answered, and ends with its socket.
   */
  adopt(res: http.ServerResponse | http2.Http2ServerResponse, connection: PersistentConnection): PersistentRelease;
  /** True once persistent connections have been told to go away (new ones should be refused or redirected). */
  readonly shuttingDown: boolean;
}

/**
 * The requests in flight on one path (the URL's path, without its query string, cut to 120
 * characters): what a drain that waits is waiting for.
 */
export interface InflightPath {
  readonly path: string;
  readonly count: number;
}

/** What the `phase` event says of the drain at the instant a phase began. */
export interface PhaseInfo {
  /** Milliseconds since the drain started. */
  readonly atMs: number;
  readonly inflight: number;
  readonly persistent: number;
  /**
   * For `waiting` and `forcing`: the paths of the requests in flight, most requests first, at
   * most 3 of them (ties in order of path). Absent for other phases, and when nothing is in flight.
   */
  readonly paths?: readonly InflightPath[] | undefined;
}

/** Events of a drainer. */
export interface DrainerEvents {
  /** The state changed. */
  state: [state: DrainState, reason: string];
  /**
   * A drain phase began. `inflight` and `persistent` are the counts at that instant; for the
   * `waiting` and `forcing` phases, `paths` says which requests those are (see {@link InflightPath}).
   */
  phase: [phase: DrainPhase, info: PhaseInfo];
  /**
   * Persistent connections are being told to go away (`persistent.shuttingDown` is now true):
   * at the window's end, or at drain start with `persistentShutdown: 'drain-start'`.
   */
  persistentShutdown: [];
  /** The deregistration window ended. */
  windowEnd: [info: { readonly endedBy: WindowEnd; readonly durationMs: number }];
  /**
   * The wait ended (completed or forced) and the cleanup phase began, before the shutdown hooks
   * run: what a reporter needs
   * to record the outcome while its own flush hook can still land it.
   */
  settled: [outcome: DrainOutcome];
  /** The drain finished (after cleanup hooks). */
  drained: [result: DrainResult];
  /** The dedicated health server failed (for example its port is taken). */
  error: [err: Error];
}

/** Servers drainkit attaches to. */
export type DrainableServer = http.Server | http2.Http2Server | http2.Http2SecureServer;

/** Request listeners of both HTTP/1 and HTTP/2 compatibility flavours. */
export type HealthListener = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** The handle returned by {@link createDrainer}. */
export interface Drainer {
  /** `active`, `draining` or `stopped`. */
  readonly state: DrainState;
  /** The current phase while draining, else `undefined`. */
  readonly phase: DrainPhase | undefined;
  /**
   * Requests (and HTTP/2 streams) in flight now. Persistent connections are not counted. Before
   * a drain it is counted when read, by a walk of the open connections (nothing is counted per
   * request): read it when needed (a scrape, a heartbeat), not in a tight loop.
   */
  readonly inflight: number;
  /** Open persistent connections (WebSocket, SSE, long-poll). */
  readonly persistent: PersistentSet;
  /**
   * Open client connections: accepted TCP sockets, one per connection whatever it carries
   * (HTTP/1.1, an HTTP/2 session, a TLS handshake in progress, an upgraded protocol).
   */
  readonly connections: number;
  /** Frozen, validated options with every default filled in. */
  readonly options: ResolvedOptions;
  /**
   * Start the drain, or join the one under way: every call returns the same promise. `reason`
   * (default `'api'`) is recorded in the result and logs.
   *
   * Resolves with the result however the drain ended (completed or forced). Nothing the
   * application gives drainkit makes it reject: a hook that throws, rejects or times out, an
   * event listener that throws or rejects, a logger that throws are reported (logged, or a
   * process warning without a logger) and the drain goes on to `stopped`. It rejects only when
   * drainkit itself fails (a bug: an exception inside the drain sequence), with that error;
   * then the failure is logged as `drain_failed` (a `DRAINKIT_DRAIN_FAILED` process warning
   * without a logger), the signal handlers are removed, a drain that was to end the process
   * still ends it (with {@link EXIT_CODE_FORCED}), the drainer stays where the failure stopped
   * it (`state` may remain `'draining'`), and every later `drain()` or `force()` returns the same
   * rejected promise.
   *
   * A drain started here does not end the process unless `request.exit` says so (see
   * {@link DrainRequest}); a drain a signal started does, with `exitOnDrain`. Throws a
   * {@link DrainkitError} (synchronously, not as a rejection) on a malformed `request`.
   */
  drain(reason?: string, request?: DrainRequest): Promise<DrainResult>;
  /**
   * Skip what is left of the window and the wait: destroy what remains now; during the cleanup
   * phase, abort the running shutdown hook's signal and skip the hooks not yet run. Starts a
   * drain if none. The result's `forcedBy` is `'force'` (`reason`, default `'force'`, goes to
   * `forceReason`). `request`, and when the promise rejects, as for {@link Drainer.drain}.
   */
  force(reason?: string, request?: DrainRequest): Promise<DrainResult>;
  /** Register a shutdown hook, run after the wait (last registered first). Returns an unregister function. */
  onShutdown(name: string, hook: ShutdownHook, options?: { readonly timeoutMs?: number }): () => void;
  /** Readiness as a plain request listener: 200 while active, 503 from the first instant of a drain. */
  readonly readiness: HealthListener;
  /** Liveness as a plain request listener: 200 until the process exits. */
  readonly liveness: HealthListener;
  /**
   * Answer the request if its path is the readiness or liveness path; returns whether it did.
   * Use at the top of a request handler: `if (drainer.handleHealth(req, res)) return;`.
   */
  handleHealth(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): boolean;
  /**
   * Wraps a request handler so the readiness and liveness paths are answered automatically and
   * every other request goes to `handler`: `server.on('request', drainer.withHealth(app))`.
   * (drainkit never intercepts a server's own listeners, so the wrap is explicit.)
   */
  withHealth<Req extends http.IncomingMessage | http2.Http2ServerRequest, Res extends http.ServerResponse | http2.Http2ServerResponse>(
    handler: (req: Req, res: Res) => void,
  ): (req: Req, res: Res) => void;
  /** Address of the dedicated health server, when `health.port` was given and it is listening. */
  readonly healthAddress: { readonly host: string; readonly port: number } | undefined;
  /**
   * Detach every listener drainkit added (server, process signals) and restore the server's
   * timeouts. Does not stop a drain under way.
   */
  detach(): void;
  on<E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void): this;
  once<E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void): this;
  off<E extends keyof DrainerEvents>(event: E, listener: (...args: DrainerEvents[E]) => void): this;
}

/** {@link DrainerOptions} with every default applied. */
export interface ResolvedOptions {
  readonly drainTimeoutMs: number;
  readonly deregister: ResolvedDeregisterOptions;
  readonly health:
    | {
        readonly readinessPath: string;
        readonly livenessPath: string;
        readonly port: number | undefined;
        readonly host: string;
        /** Present only when the preStop endpoint is on. */
        readonly preStopPath?: string;
        /** Present only when given. */
        readonly preStopToken?: string;
      }
    | false;
  readonly signals: readonly HandledSignal[];
  readonly interactiveSigintSkipsWindow: boolean;
  readonly exitOnDrain: boolean;
  readonly exitGraceMs: number;
  readonly keepAliveTimeoutMs: number | null;
  readonly lingerMs: number;
  readonly persistentShutdown: 'window-end' | 'drain-start';
  readonly persistentSpreadMs: number;
  readonly hookTimeoutMs: number;
  /** The logger in use: yours, the terminal default, or `undefined` (silent). */
  readonly logger: Logger | undefined;
  readonly hints: boolean;
  readonly signalWarnings: boolean;
  readonly plugins: readonly DrainerPlugin[];
}

/** Exit code after a drain that completed. */
export const EXIT_CODE_DRAINED = 0;
/** Exit code after a forced drain (timeout or second signal): EX_SOFTWARE, apart from Node's own 1–14 and signals' 128+. */
export const EXIT_CODE_FORCED = 70;
