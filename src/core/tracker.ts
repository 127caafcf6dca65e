/**
 * Connection and request tracking for one server: which sockets and HTTP/2 sessions are open,
 * which requests and streams are in flight, which sockets are lingering after our half-close.
 *
 * The HTTP/1 request path stays lean: no per-request collection and, outside a drain, no
 * per-request listener. A connection serves one request at a time unless the client pipelines,
 * so each socket holds its latest response in one slot (and, only for pipelined requests, a small
 * queue behind it). Per request that is a few property reads and writes on the socket and a
 * timestamp. Two ways of counting what the slots hold (docs/internals.md "The in-flight count"):
 * - Lazily, before the drain: a slot's response is in flight until Node closes it
 *   (`res.closed`, which Node sets as it emits the response's `'close'`, on finish and on a
 *   connection close alike). A closed response stays in its slot until the next request on that
 *   socket replaces it, or the socket closes; `inflight` walks the sockets when it is read
 *   (metrics scrapes, heartbeats), never per request.
 * - Event by event, from the drain's start (startDrain), when every decision reads the count and
 *   the drain must end the moment the last response closes: the closed responses are dropped,
 *   each open one gets a `'close'` listener (one function shared by every request: it reads
 *   `this`), and the count is an integer that goes up when a response is put in a slot and down
 *   only when it is taken out again (its `'close'`, its connection's close, `adopt`, or
 *   `destroyAll`), once. A tracker that cannot count lazily (no server to read Node's
 *   connection state from, or no `closed` on Node's responses) counts this way from the start.
 */
import type { Server, Socket } from 'node:net';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { OutgoingMessage } from './builtins.js';

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

const kActive = Symbol('drainkit.activeRequests');
const kCurrent = Symbol('drainkit.currentResponse');
const kCurrentStart = Symbol('drainkit.currentStart');
const kPipelined = Symbol('drainkit.pipelined');
const kStart = Symbol('drainkit.start');
const kAdopted = Symbol('drainkit.adopted');
const kGoAway = Symbol('drainkit.goaway');
const kAcceptedAt = Symbol('drainkit.acceptedAt');
const kCarried = Symbol('drainkit.carriedRequest');
const kIdleBytes = Symbol('drainkit.idleBytesRead');

/** A pipelined response waiting behind the socket's current one, with its start time. */
interface Queued {
  readonly res: TrackedResponse;
  readonly start: number;
}
interface TrackedSocket extends Socket {
  /**
   * Set (to 0) by the socket's first HTTP/1 request. While the tracker counts event by event:
   * tracked responses on this socket not closed yet, adopted ones included.
   */
  [kActive]?: number;
  /** The in-flight response this socket serves (the common case: no pipelining). */
  [kCurrent]?: TrackedResponse | undefined;
  [kCurrentStart]?: number | undefined;
  /** In-flight responses that arrived while another one was in flight (pipelining). */
  [kPipelined]?: Queued[] | undefined;
  /** When the TCP socket was accepted (performance.now()). */
  [kAcceptedAt]?: number;
  /** The TCP socket carried a request (its own, or its TLS socket's). */
  [kCarried]?: true;
  /**
   * `bytesRead` when its last response closed: more since then means a new request began. -1 when
   * a request was being read at the drain's start (see #beginCounting).
   */
  [kIdleBytes]?: number;
  /** Node's HTTP/1 parser of the connection (what its connections list holds). */
  parser?: unknown;
}
interface TrackedResponse extends http.ServerResponse {
  [kAdopted]?: true;
}
interface TrackedStream extends http2.ServerHttp2Stream {
  [kStart]: number;
  [kAdopted]?: true;
}
interface TrackedSession extends http2.ServerHttp2Session {
  [kGoAway]?: 'sent' | 'final';
}

/** What the tracker needs from the engine that owns it. */
export interface TrackerHost {
  /** Linger bound after our half-close. */
  readonly lingerMs: number;
  /**
   * The server tracked, whose list of HTTP/1 connections (Node's) tells at the drain's start which
   * idle connections are reading a request. Without it the tracker counts event by event from
   * the start (see the module comment).
   */
  readonly server?: Server;
  /**
   * Idle keep-alive connections at the listener close are left to their clients instead of
   * closed: true inside `drainkit cluster`, where no balancer stands between server and client
   * that has stopped using them (see closeIdle).
   */
  readonly leaveIdleToClient: boolean;
  /**
   * Whether the process ends the moment this drain does, with nothing of the application's left
   * to run (no shutdown hook, no persistent connection): then idle keep-alive connections at the
   * listener close are left to the exit's close of every descriptor (see closeIdle).
   */
  idleCloseAtExit?(): boolean;
  /** A request that is not a health probe arrived while draining. */
  onActivity(req: http.IncomingMessage | http2.Http2ServerRequest): void;
  /** Something the drain waits for went away. */
  onRelease(): void;
  /**
   * Called at most once per tracker when a behaviour of Node's that the tracker relies on was
   * not found at run time (see {@link NodeAssumption}): the drain still runs, but the guarantee
   * named in the report may not hold. Route it to a logger as a warning.
   */
  onNodeAssumptionBroken?(report: NodeAssumptionReport): void;
}

/**
 * Behaviours of Node's internals the tracker depends on, each checked where it is used:
 * - `'destroy-on-finish'`: after a `Connection: close` response, Node ends the socket with
 *   `socket.destroySoon()`, which registers `socket.destroy` as a `'finish'` listener. The
 *   tracker removes that listener to keep the half-close open until the client's FIN.
 * - `'connections-list'`: an http (or https, or http2 with `allowHTTP1`) server that has
 *   listened keeps its HTTP/1 connections in `server[Symbol(http.server.connections)]`, whose
 *   `active()` lists the parsers of those reading a request (what `closeIdleConnections()`
 *   reads). The tracker reads it once, at the drain's start, to tell a keep-alive connection
 *   between requests from one whose next request is half-read.
 */
export type NodeAssumption = 'destroy-on-finish' | 'connections-list';

export interface NodeAssumptionReport {
  readonly assumption: NodeAssumption;
  /** What was expected and not found, and what it costs. */
  readonly message: string;
  /** The running Node version (`process.version`). */
  readonly nodeVersion: string;
}

/**
 * What {@link Tracker.adopt} did: `'adopted'` (it was in flight and is not any more),
 * `'untracked'` (it was not in flight: not seen by this tracker, or adopted already), or
 * `'connection-closed'` (a request on a connection already closed for writing: it cannot be
 * answered, so it should not be counted anywhere).
 */
export type AdoptOutcome = 'adopted' | 'untracked' | 'connection-closed';

const MAX_STREAM_ID = 2 ** 31 - 1;
/**
 * HTTP/2's NO_ERROR code (RFC 9113, section 7), as `http2.constants.NGHTTP2_NO_ERROR` spells it.
 * Written out so that the core loads node:http2 only as types: the module costs about 0.6 MB of
 * heap in a process that serves no HTTP/2, and the exit's teardown pays for it again.
 */
const NGHTTP2_NO_ERROR = 0;
/** Bound on the PING round trip between the two GOAWAY frames (RFC 9113 §6.8). */
const GOAWAY_PING_BOUND_MS = 1_000;
/**
 * How long after its accept a connection that has not sent a request yet may still send its
 * first one once the listener is closed. A balancer writes its request right after the TCP
 * handshake, so the bytes arrive within one round trip of the accept; a second covers any
 * balancer-to-instance path, and since no connection is accepted after the close, it delays a
 * drain by at most that long, only when such a connection exists.
 */
export const FIRST_REQUEST_GRACE_MS = 1_000;

/**
 * Node's responses say whether they are closed (`OutgoingMessage#closed`, set as `'close'` is
 * emitted): what lets the tracker count lazily. Checked once; without it, event by event.
 */
const RESPONSES_SAY_CLOSED = typeof Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'closed')?.get === 'function';

/**
 * Before the drain, how often the closed responses are dropped from the slots of idle
 * connections. Only for memory: a closed response left in its slot is not counted, but it keeps
 * its request and response (about 2 KB) referenced until the connection's next request. The
 * sweep bounds that to the connections that went idle in the last interval.
 */
export const SLOT_SWEEP_MS = 1_000;

/** Found once, by its description, on the first server that has it (see 'connections-list'). */
let connectionsKey: symbol | undefined;

export class Tracker {
  /**
   * Every accepted TCP socket, for counting and forcing. For TLS servers these are the raw
   * sockets (including those still in their handshake); destroying one ends its TLS socket too.
   */
  readonly sockets = new Set<Socket>();
  /**
   * TLS sockets that carried HTTP/1 requests (for plain servers the raw socket is the request's
   * socket and is in `sockets`). Kept for idle-closing HTTP/1 on http2 servers.
   */
  readonly tlsSockets = new Set<Socket>();
  /**
   * HTTP/1 responses moved to the persistent set (SSE streams, parked long-polls) and still
   * open: not in flight, but their connection must still close once they end during a drain.
   */
  readonly adoptedResponses = new Set<http.ServerResponse>();
  /** In-flight HTTP/2 streams. */
  readonly streams = new Set<http2.ServerHttp2Stream>();
  readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Sockets half-closed by us, waiting for the client's FIN. */
  readonly lingering = new Set<Socket>();
  /** Sockets handed over through 'upgrade' or 'connect' and not closed yet. */
  readonly upgraded = new Set<Socket>();
  /**
   * Connections whose next move is the client's, which the drain waits for: TCP sockets accepted
   * shortly before the listener closed that have not sent a request yet (until each sends it or
   * its {@link FIRST_REQUEST_GRACE_MS} is over), and, inside `drainkit cluster`, keep-alive
   * connections idle at the listener close (until each closes: see closeIdle).
   */
  readonly awaitingClient = new Set<Socket>();
  /**
   * Idle keep-alive connections left open at the listener close for the process's exit to close
   * (see closeIdle): paused, so nothing more is read from them. Emptied by closeDeferred.
   */
  readonly closingAtExit = new Set<Socket>();
  /**
   * Drain state, written only by the drainer. Plain fields rather than getters: they are read on
   * every request.
   */
  draining = false;
  listenerClosed = false;
  /** Set by closeListener while the listening handle's close callback is still to come. */
  listenerClosing = false;
  /** Absolute time (performance.now()) at which everything must be gone. */
  deadline = Number.POSITIVE_INFINITY;
  /** Connections accepted so far (closeListener watches it to empty the accept queue). */
  accepted = 0;
  /** Requests completed since the drain started, and the longest of them. */
  completedDuringDrain = 0;
  longestDuringDrainMs = 0;

  readonly #host: TrackerHost;
  readonly #healthPaths: readonly string[];
  readonly #reported = new Set<NodeAssumption>();
  /**
   * Whether the HTTP/1 count is kept event by event (#http1Inflight, the sockets' kActive and
   * kIdleBytes, a `'close'` listener on every response in a slot): from the drain's start, or
   * from the start when the tracker cannot count lazily. One way: never back.
   */
  #counting: boolean;
  /** While #counting: the in-flight HTTP/1 responses, exactly those held in the sockets' slots. */
  #http1Inflight = 0;
  /** Before the drain, while connections are open: the slot sweep (see SLOT_SWEEP_MS). */
  #sweep: NodeJS.Timeout | undefined;

  constructor(host: TrackerHost, healthPaths: readonly string[]) {
    this.#host = host;
    this.#healthPaths = healthPaths;
    this.#counting = !RESPONSES_SAY_CLOSED || host.server === undefined;
  }

  get inflight(): number {
    return (this.#counting ? this.#http1Inflight : this.#countOpenHttp1()) + this.streams.size;
  }

  /**
   * Whether nothing of the connections holds the drain's wait: no request or stream in flight,
   * no socket half-closed by us waiting for its client's FIN, none awaiting its client's move.
   * A socket destroyed already holds nothing, though it leaves the sets only on its 'close',
   * which Node emits in a later phase of the event loop: its descriptor is closed at the
   * destroy, so its FIN (or whatever the kernel still has to send) is out of the process's hands.
   * The drain's wait also checks this on the server's 'close' (src/core/sequence.ts).
   */
  holdsNothing(): boolean {
    return this.inflight === 0 && allDestroyed(this.lingering) && allDestroyed(this.awaitingClient);
  }

  /** Before the drain: the open responses in the sockets' slots, counted when asked (never per request). */
  #countOpenHttp1(): number {
    let n = 0;
    for (const _ of this.#http1Responses()) n += 1;
    return n;
  }

  /**
   * Open client connections: accepted TCP sockets, one per connection whatever it carries
   * (HTTP/1, one HTTP/2 session, a TLS handshake in progress, an upgraded protocol).
   */
  get connections(): number {
    return this.sockets.size;
  }

  // ---- listeners attached to the server -------------------------------------------------

  readonly onConnection = (socket: Socket): void => {
    this.accepted += 1;
    this.sockets.add(socket);
    (socket as TrackedSocket)[kAcceptedAt] = performance.now();
    socket.on('close', this.#onSocketClose);
  };

  /** One shared listener for raw and TLS sockets: it reads the socket from `this`. */
  readonly #onSocketClose = ((tracker: Tracker) =>
    function onSocketClose(this: Socket): void {
      tracker.sockets.delete(this);
      tracker.tlsSockets.delete(this);
      const released = tracker.#releaseSocket(this);
      const awaited = tracker.awaitingClient.delete(this);
      tracker.closingAtExit.delete(this);
      if (tracker.lingering.delete(this) || released || awaited) tracker.#host.onRelease();
    })(this);

  /**
   * The connection is gone: nothing still in its slots can be answered any more. Node emits
   * 'close' for the response it was writing, but not for pipelined responses queued behind it
   * (they never got the socket), which would otherwise stay in flight until the handler answers
   * them, if ever. Returns whether anything was released.
   */
  #releaseSocket(socket: TrackedSocket): boolean {
    if (!this.#counting) {
      // Nothing is counted yet: the socket leaves the sets, and what its slots hold with it.
      if (socket[kCurrent] !== undefined) socket[kCurrent] = undefined;
      if (socket[kPipelined] !== undefined) socket[kPipelined] = undefined;
      return false;
    }
    let released = false;
    let res: TrackedResponse | undefined;
    while ((res = socket[kCurrent]) !== undefined) {
      const start = this.#untrack(socket, res);
      if (start !== undefined && this.draining) this.#countCompleted(start);
      released = true;
    }
    return released;
  }

  /**
   * A connection taken over through 'upgrade' or 'connect': it leaves the request cycle for a
   * protocol drainkit does not know. Remembered so the drain can say what it closed at the end.
   */
  readonly onUpgrade = (req: http.IncomingMessage, socket: Socket): void => {
    if (this.draining) this.#noteActivity(req);
    if (this.upgraded.has(socket)) return;
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
  };

  /**
   * Closes the upgraded connections still open (their persistent integration, if any, has had
   * its turn by now) and returns how many.
   */
  closeUpgraded(): number {
    let closed = 0;
    for (const socket of this.upgraded) {
      if (socket.destroyed) continue;
      closed += 1;
      socket.destroy();
    }
    this.upgraded.clear();
    return closed;
  }

  readonly onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: AnyResponse): void => {
    // HTTP/2 requests through the compatibility API are tracked as streams (see onStream).
    if (req.httpVersionMajor === 2) {
      if (this.draining) this.#noteActivity(req);
      return;
    }
    const socket = (req as http.IncomingMessage).socket as TrackedSocket;
    // A request read from a connection whose write side is already closed (our half-close after
    // `Connection: close`, or after a go-away) can never be answered (RFC 9112 §9.6: no further
    // requests are processed on it). Node still parses it and emits it; it is not counted, so it
    // cannot hold the drain, and the client retries it on a new connection.
    if (socket.writableEnded) return;
    if (socket[kActive] === undefined) this.#firstRequest(socket);
    const r = res as TrackedResponse;
    const start = performance.now();
    if (this.#counting) {
      this.#countRequest(socket, r, start, req);
      return;
    }
    // Before the drain nothing is counted: the response takes the slot of the previous one,
    // which Node has closed unless the client pipelines.
    const current = socket[kCurrent];
    if (current === undefined || (current.closed && (socket[kPipelined] === undefined || this.#prune(socket)))) {
      socket[kCurrent] = r;
      socket[kCurrentStart] = start;
    } else {
      (socket[kPipelined] ??= []).push({ res: r, start });
    }
  };

  /** The first request on this connection. */
  #firstRequest(socket: TrackedSocket): void {
    // On a TLS socket the TCP socket under it (in `sockets`) is its `_parent`; the TLS socket is
    // tracked from now on.
    let tcp = socket;
    if (!this.sockets.has(socket)) {
      this.tlsSockets.add(socket);
      socket.once('close', this.#onSocketClose);
      tcp = ((socket as Socket & { _parent?: Socket | null })._parent ?? socket);
    }
    tcp[kCarried] = true;
    if (this.listenerClosed) this.awaitingClient.delete(tcp);
    socket[kActive] = 0;
    if (!this.#counting && this.#sweep === undefined) {
      this.#sweep = setInterval(this.#sweepSlots, SLOT_SWEEP_MS);
      this.#sweep.unref();
    }
  }

  /**
   * Drops the closed responses from the sockets' slots (memory only: they are not counted).
   * Stops when no connection is left (it starts again with the next one's first request), so a
   * detached or idle tracker holds no timer.
   */
  readonly #sweepSlots = (): void => {
    if (this.sockets.size === 0 && this.tlsSockets.size === 0) {
      this.#stopSweep();
      return;
    }
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        const current = socket[kCurrent];
        if (current !== undefined && current.closed) this.#prune(socket);
      }
    }
  };

  #stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** A request while the tracker counts event by event (see the module comment). */
  #countRequest(socket: TrackedSocket, r: TrackedResponse, start: number, req: http.IncomingMessage | http2.Http2ServerRequest): void {
    socket[kActive] = socket[kActive]! + 1;
    if (socket[kCurrent] === undefined) {
      socket[kCurrent] = r;
      socket[kCurrentStart] = start;
    } else {
      (socket[kPipelined] ??= []).push({ res: r, start });
    }
    this.#http1Inflight += 1;
    r.on('close', this.#onResponseClose);
    if (this.draining) {
      this.#noteActivity(req);
      markConnectionClose(r);
    }
  }

  /**
   * Before the drain: drops the closed responses from a socket's slots (the current one is
   * closed), keeping the open ones in order. Returns whether the slots are empty now.
   */
  #prune(socket: TrackedSocket): boolean {
    const queue = socket[kPipelined];
    if (queue === undefined) {
      socket[kCurrent] = undefined;
      return true;
    }
    const open = queue.filter((q) => !q.res.closed);
    const first = open.shift();
    socket[kCurrent] = first?.res;
    socket[kCurrentStart] = first?.start;
    socket[kPipelined] = open.length === 0 ? undefined : open;
    return first === undefined;
  }

  /**
   * From lazy counting to counting event by event, at the drain's start: every decision of the
   * drain reads the count from here on, and it must end the moment the last response closes.
   * Closed responses leave the slots; each open one gets its `'close'` listener and is counted.
   * The sockets' kActive are counted, and for a socket with nothing open, kIdleBytes is set
   * from Node's parser state: a socket reading its next request is not idle (closeIdle).
   */
  #beginCounting(): void {
    if (this.#counting) return;
    this.#counting = true;
    this.#stopSweep();
    let inflight = 0;
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        if (socket[kActive] === undefined) continue; // carried no HTTP/1 request itself
        const current = socket[kCurrent];
        let active = 0;
        if (current !== undefined) {
          if (current.closed) this.#prune(socket);
          else if (socket[kPipelined] !== undefined) {
            socket[kPipelined] = socket[kPipelined].filter((q) => !q.res.closed);
          }
          const cur = socket[kCurrent];
          if (cur !== undefined) {
            cur.on('close', this.#onResponseClose);
            active += 1;
            for (const q of socket[kPipelined] ?? []) {
              q.res.on('close', this.#onResponseClose);
              active += 1;
            }
          }
        }
        socket[kActive] = active;
        inflight += active;
      }
    }
    this.#http1Inflight = inflight;
    // Adopted responses still open hold their connection too (their listener is attached).
    for (const res of this.adoptedResponses) {
      const socket = res.req?.socket as TrackedSocket | null | undefined;
      if (socket?.[kActive] !== undefined && !res.closed) socket[kActive] += 1;
    }
    let reading: Set<unknown> | undefined | null = null;
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        if (socket[kActive] !== 0 || socket.destroyed) continue;
        reading ??= this.#parsersReading();
        // Unknown: kept as if reading; such a socket is closed at the drain's end instead.
        socket[kIdleBytes] = reading === undefined || reading.has(socket.parser) ? -1 : socket.bytesRead;
      }
    }
  }

  /**
   * The parsers of the server's HTTP/1 connections that are reading a request (begun, not
   * complete): Node's own list, which `closeIdleConnections()` reads. Undefined (said once) when
   * not found.
   */
  #parsersReading(): Set<unknown> | undefined {
    const server = this.#host.server as (Server & Record<symbol, unknown>) | undefined;
    if (server !== undefined) {
      connectionsKey ??= Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connections');
      const list = connectionsKey === undefined ? undefined : (server[connectionsKey] as { active?: (() => unknown[]) | undefined } | undefined);
      if (typeof list?.active === 'function') return new Set(list.active());
    }
    this.#reportAssumption(
      'connections-list',
      "Node's list of the server's HTTP/1 connections (server[Symbol(http.server.connections)].active()) was not found; " +
        'keep-alive connections idle at the drain start are closed at the drain end instead of at the listener close',
    );
    return undefined;
  }

  /**
   * Takes a response out of its socket's slots; returns its start time, or undefined if it was
   * not there (never tracked, adopted, or dropped by destroyAll). The in-flight count goes down
   * here and only here, so it cannot be decremented twice for one response.
   */
  #untrack(socket: TrackedSocket | null | undefined, res: TrackedResponse): number | undefined {
    if (!socket) return undefined;
    let start: number | undefined;
    if (socket[kCurrent] === res) {
      start = socket[kCurrentStart];
      // The next pipelined response, if any, becomes the current one.
      const next = socket[kPipelined]?.shift();
      socket[kCurrent] = next?.res;
      socket[kCurrentStart] = next?.start;
    } else {
      const queue = socket[kPipelined];
      const i = queue ? queue.findIndex((q) => q.res === res) : -1;
      if (i === -1) return undefined;
      start = queue![i]!.start;
      queue!.splice(i, 1);
    }
    if (this.#counting) this.#http1Inflight -= 1;
    return start ?? performance.now();
  }

  /**
   * The paths of the requests in flight (HTTP/1 and HTTP/2), most requests first, at most
   * `limit`: what a waiting drain waits for. Walks the in-flight requests, so it is read at a
   * phase's start, never on the request path. A query string is left out (it may carry secrets
   * or identifiers the registry should not keep); a long path is cut.
   */
  inflightPaths(limit: number, maxLength: number): { path: string; count: number }[] {
    const counts = new Map<string, number>();
    const add = (url: string | undefined): void => {
      let path = url ?? '';
      const q = path.indexOf('?');
      if (q !== -1) path = path.slice(0, q);
      if (path === '') path = '(none)';
      if (path.length > maxLength) path = `${path.slice(0, maxLength - 1)}…`;
      counts.set(path, (counts.get(path) ?? 0) + 1);
    };
    for (const res of this.#http1Responses()) add(res.req?.url);
    for (const stream of this.streams) add(streamPath(stream));
    return [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([path, count]) => ({ path, count }));
  }

  /** Every in-flight HTTP/1 response, read from the sockets' slots (closed ones skipped). */
  *#http1Responses(): Generator<TrackedResponse> {
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        const current = socket[kCurrent];
        if (current === undefined) continue;
        if (!current.closed) yield current;
        const queue = socket[kPipelined];
        if (queue) for (const q of queue) if (!q.res.closed) yield q.res;
      }
    }
  }

  readonly #onResponseClose = ((tracker: Tracker) =>
    function onResponseClose(this: TrackedResponse): void {
      tracker.#responseClosed(this);
    })(this);

  #responseClosed(res: TrackedResponse): void {
    const socket = res.req.socket as TrackedSocket | null;
    const start = this.#untrack(socket, res);
    // Before the drain only adopted responses are listened to, and nothing is counted.
    if (!this.#counting) {
      this.adoptedResponses.delete(res);
      return;
    }
    if (socket) {
      const active = (socket[kActive] ?? 1) - 1;
      socket[kActive] = active;
      // Idle from here: the listener-close idle check compares with this (see closeIdle).
      if (active === 0) socket[kIdleBytes] = socket.bytesRead;
    }
    if (res[kAdopted]) {
      // Counted as persistent and released by its own path; but a stream or poll that ends
      // during the drain (told to go away, or on its own) must not leave its connection open
      // for the client to reconnect on, to this instance again.
      this.adoptedResponses.delete(res);
      if (this.draining && socket) this.#afterResponse(socket, res.writableFinished, true);
      return;
    }
    if (start === undefined) return; // not in flight any more (destroyAll dropped it)
    if (!this.draining) return;
    this.#countCompleted(start);
    if (socket) this.#afterResponse(socket, res.writableFinished, false);
    this.#host.onRelease();
  }

  readonly onSession = (session: http2.ServerHttp2Session): void => {
    this.sessions.add(session);
    // Its connection needs no first-request grace: a session that carried no stream gets a
    // GOAWAY at the listener close, which an HTTP/2 client answers by retrying elsewhere.
    // `session.socket` is Node's proxy of the socket; reads and writes reach the socket itself
    // (the TLS socket for h2, whose `_parent` is the TCP socket; the TCP socket for h2c).
    try {
      const socket = session.socket as TrackedSocket & { _parent?: Socket | null };
      const tcp = socket._parent as TrackedSocket | null | undefined;
      if (tcp) tcp[kCarried] = true;
      else socket[kCarried] = true;
    } catch {
      // A session without a socket any more: nothing to spare.
    }
    session.once('close', () => {
      this.sessions.delete(session);
      if (this.draining) this.#host.onRelease();
    });
    // A session opened during the drain is served first: its GOAWAY goes out with its first
    // stream (onStream), so a client that connected during the window is not refused forever.
  };

  readonly onStream = (stream: http2.ServerHttp2Stream, headers?: http2.IncomingHttpHeaders): void => {
    const s = stream as TrackedStream & { [kPath]?: string };
    s[kStart] = performance.now();
    const path = headers?.[':path'];
    if (typeof path === 'string') s[kPath] = path;
    this.streams.add(s);
    stream.once('close', () => {
      if (s[kAdopted]) return;
      this.streams.delete(s);
      if (!this.draining) return;
      this.#countCompleted(s[kStart]);
      this.#host.onRelease();
    });
    if (this.draining) this.goAway(stream.session as http2.ServerHttp2Session | undefined);
  };

  // ---- drain steps ----------------------------------------------------------------------

  /** Drain start: every response not yet started gets `Connection: close`; HTTP/2 sessions with streams get GOAWAY. */
  startDrain(): void {
    this.draining = true;
    this.#beginCounting();
    for (const res of this.#http1Responses()) markConnectionClose(res);
    for (const res of this.adoptedResponses) markConnectionClose(res);
    for (const session of this.sessions) {
      if (sessionHasStreams(session)) this.goAway(session);
    }
  }

  /**
   * RFC 9113 §6.8 two-phase GOAWAY: first with the largest stream id (the client stops opening
   * streams but nothing it already sent is refused), then after a PING round trip the final one
   * with the real last stream id, through `session.close()`, which also lets open streams finish.
   */
  goAway(session: http2.ServerHttp2Session | undefined): void {
    const s = session as TrackedSession | undefined;
    if (!s || s[kGoAway] || s.closed || s.destroyed) return;
    s[kGoAway] = 'sent';
    s.goaway(NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    let done = false;
    const final = (): void => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      s[kGoAway] = 'final';
      if (!s.closed && !s.destroyed) s.close();
    };
    const bound = setTimeout(final, GOAWAY_PING_BOUND_MS);
    bound.unref();
    try {
      if (!s.ping(final)) final();
    } catch {
      final();
    }
  }

  /**
   * The listener is closed (its handle only: see `closeListener`): close what is idle, and give
   * connections accepted just before the close the chance to send their first request.
   * - An HTTP/1 socket that carried requests, has none in flight, and has read no byte since its
   *   last response closed is between requests: destroyed, as Node's `closeIdleConnections()`
   *   would; inside `drainkit cluster` left to its client instead, since no balancer stands
   *   between them that has stopped using it (TrackerHost.leaveIdleToClient). One that has read
   *   bytes since is receiving a request, answered with `Connection: close`.
   * - A TCP socket that has carried no request yet, accepted less than
   *   {@link FIRST_REQUEST_GRACE_MS} ago, is kept until it sends one or that time is over. Node's
   *   own idle close (Node 26) destroys such a socket, and with it a request a balancer wrote
   *   right after connecting: an RST the balancer cannot retry for a POST. One accepted longer
   *   ago that has sent nothing (a preconnect) is destroyed now.
   * - HTTP/2 sessions that never carried a stream get their final GOAWAY.
   *
   * When that leaves the drain nothing to wait for and the process ends with it
   * (TrackerHost.idleCloseAtExit), the idle plain-TCP connections are paused instead of
   * destroyed (closingAtExit): the exit a moment later closes their descriptors in the kernel
   * (the same FIN, or RST where a request came in unread, that a destroy sends) without
   * Node's per-socket destroy, about 20 µs of JavaScript each (100 ms for 5,000 connections).
   * Whatever keeps the exit from coming at once closes them after all (closeDeferred).
   */
  closeIdle(): void {
    this.listenerClosed = true;
    const at = performance.now();
    // Inside `drainkit cluster` idle keep-alive connections are left to their clients
    // (TrackerHost.leaveIdleToClient): the drain waits for each until it carries one more
    // request (answered with `Connection: close`) or its client closes it; Node's keep-alive
    // timeout, which the client was told, and the drain deadline bound the wait.
    const { leaveIdleToClient } = this.#host;
    const idle: TrackedSocket[] = [];
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        if (this.upgraded.has(socket) || socket.destroyed) continue;
        if (socket[kActive] !== 0 || socket.bytesRead !== socket[kIdleBytes]) continue;
        if (leaveIdleToClient) this.awaitingClient.add(socket);
        else idle.push(socket);
      }
    }
    for (const socket of this.sockets as Set<TrackedSocket>) {
      if (socket[kCarried] || socket.destroyed || this.upgraded.has(socket)) continue;
      const waitMs = Math.min((socket[kAcceptedAt] ?? at) + FIRST_REQUEST_GRACE_MS, this.deadline) - at;
      if (waitMs <= 0) {
        if (socket.bytesRead === 0) socket.destroy();
        continue;
      }
      this.awaitingClient.add(socket);
      const timer = setTimeout(() => {
        if (socket[kCarried]) return;
        // Still no request: the socket holds nothing. (Its 'close' releases the drain's wait.)
        socket.destroy();
      }, waitMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    }
    for (const session of this.sessions) {
      if (!sessionHasStreams(session)) {
        (session as TrackedSession)[kGoAway] = 'final';
        session.close();
      }
    }
    // Decided after the loops above: a socket kept for its first request, or a session still
    // closing, means the drain goes on, and idle connections must not stay open meanwhile.
    const atExit = idle.length > 0 && this.holdsNothing() && this.sessions.size === 0 && this.#host.idleCloseAtExit?.() === true;
    for (const socket of idle) {
      // A TLS socket is destroyed as before: pausing it would not stop the TCP socket under it.
      if (atExit && !this.tlsSockets.has(socket)) {
        socket.pause();
        this.closingAtExit.add(socket);
      } else {
        socket.destroy();
      }
    }
  }

  /** Destroys the idle connections closeIdle left for the exit (the exit is not coming at once). */
  closeDeferred(): void {
    for (const socket of this.closingAtExit) socket.destroy();
    this.closingAtExit.clear();
  }

  /**
   * Destroys everything that remains; returns how many connections it destroyed, each counted
   * once by its TCP socket (an HTTP/2 session and the TLS socket under it are not counted again).
   */
  destroyAll(): number {
    let destroyed = 0;
    for (const socket of this.sockets) if (!socket.destroyed && !this.closingAtExit.has(socket)) destroyed += 1;
    for (const session of this.sessions) if (!session.destroyed) session.destroy();
    for (const set of [this.sockets, this.tlsSockets]) {
      for (const socket of set as Set<TrackedSocket>) {
        // Most are destroyed already (closeIdle) or left for the exit; writing a slot a socket
        // never had would add a property to each of thousands of sockets on the way out.
        if (this.closingAtExit.has(socket)) continue;
        if (!socket.destroyed) socket.destroy();
        if (socket[kCurrent] !== undefined) socket[kCurrent] = undefined;
        if (socket[kPipelined] !== undefined) socket[kPipelined] = undefined;
      }
    }
    this.#http1Inflight = 0;
    this.streams.clear();
    this.lingering.clear();
    this.awaitingClient.clear();
    return destroyed;
  }

  /**
   * Stop counting a long-lived response as in flight. Says whether it was tracked, and whether
   * its connection can still carry it: `'connection-closed'` for a request read from a
   * connection whose write side is already closed (see onRequest), which nothing will reach.
   */
  adopt(res: AnyResponse): AdoptOutcome {
    if ('stream' in res && res.stream) {
      const stream = res.stream as TrackedStream;
      stream[kAdopted] = true;
      return this.streams.delete(stream) ? 'adopted' : 'untracked';
    }
    const r = res as TrackedResponse;
    r[kAdopted] = true;
    // Before the drain a closed response may still sit in its slot: it is not in flight.
    if ((this.#counting || !r.closed) && this.#untrack(r.req?.socket, r) !== undefined) {
      // Until it closes it holds its connection (kActive, counted at the drain's start).
      if (!r.closed) {
        this.adoptedResponses.add(r);
        if (!this.#counting) r.on('close', this.#onResponseClose);
      }
      return 'adopted';
    }
    const socket = r.req?.socket;
    return socket && (socket.writableEnded || socket.destroyed) ? 'connection-closed' : 'untracked';
  }

  // ---- internals ------------------------------------------------------------------------

  #noteActivity(req: http.IncomingMessage | http2.Http2ServerRequest): void {
    const url = req.url ?? '';
    for (const p of this.#healthPaths) {
      if (url === p || url.startsWith(p + '?')) return; // probes are not traffic
    }
    this.#host.onActivity(req);
  }

  #countCompleted(start: number): void {
    this.completedDuringDrain += 1;
    const ms = performance.now() - start;
    if (ms > this.longestDuringDrainMs) this.longestDuringDrainMs = ms;
  }

  /**
   * After a response during the drain, its connection is closed gracefully: a FIN once the
   * response is out, then linger for the client's FIN (bounded by `lingerMs` and the drain
   * deadline) before the socket is destroyed. Destroying a socket with unread bytes in its
   * receive buffer, or one the client's next request is already on its way to, makes the
   * kernel send RST, and an RST can discard the tail of the response in the client's buffers
   * (RFC 9112 §9.6).
   *
   * - The response carried `Connection: close`: Node ended the socket already, and would
   *   destroy it as soon as our FIN is queued (see {@link NodeAssumption}); keep the half-close.
   * - It went out keep-alive (its headers left before the drain began), and either the
   *   listener is closed (nothing new should arrive on an idle socket) or `closeConnection` is
   *   set (an adopted stream or poll ended: its client would reconnect on the same socket):
   *   end the socket ourselves, unless another request on it is still being answered (that one
   *   carries `Connection: close` and closes the connection after it).
   */
  #afterResponse(socket: TrackedSocket, finished: boolean, closeConnection: boolean): void {
    if (socket.destroyed || this.lingering.has(socket)) return;
    if (socket.writableEnded) {
      if (!finished) return;
      this.#keepHalfClose(socket);
      this.#linger(socket);
      return;
    }
    if ((closeConnection || this.listenerClosed) && (socket[kActive] ?? 0) === 0) {
      socket.end();
      this.#linger(socket);
    }
  }

  /**
   * Node's `destroySoon()` registered `once('finish', socket.destroy)`; removing it keeps the
   * half-close. If it is not there while the FIN is still queued, Node now closes such sockets
   * some other way, which may destroy them before the client has read the response: said once.
   */
  #keepHalfClose(socket: Socket): void {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- identity of Node's own listener
    const destroy = socket.destroy;
    if (socket.listeners('finish').includes(destroy)) {
      socket.removeListener('finish', destroy);
    } else if (!socket.writableFinished) {
      this.#reportAssumption(
        'destroy-on-finish',
        "after a 'Connection: close' response Node did not register socket.destroy on 'finish' (destroySoon); " +
          "drainkit cannot keep the half-close, and a client's pipelined bytes may turn the close into a reset that loses the response tail",
      );
    }
  }

  #reportAssumption(assumption: NodeAssumption, message: string): void {
    if (this.#reported.has(assumption)) return;
    this.#reported.add(assumption);
    try {
      this.#host.onNodeAssumptionBroken?.({ assumption, message, nodeVersion: process.version });
    } catch {
      // A reporting callback must not break the request path.
    }
  }

  #linger(socket: Socket): void {
    const bound = Math.max(0, Math.min(this.#host.lingerMs, this.deadline - performance.now()));
    this.lingering.add(socket);
    skipEndAfterFinish(socket);
    const timer = setTimeout(() => socket.destroy(), bound);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // The client may already have half-closed; with both sides ended the stream destroys itself.
    if (socket.readableEnded && socket.writableFinished) socket.destroy();
  }
}

/**
 * For a socket whose FIN is out: Node's HTTP server answers the client's FIN with `socket.end()`
 * whatever the socket's state (socketOnEnd in lib/_http_server.js), and on a finished socket
 * that call only builds an `ERR_STREAM_ALREADY_FINISHED` nobody receives. Building it captures a
 * stack trace and formats a message through util's inspect: 0.3 ms on the first run, which is
 * on the last response's path to the exit (docs/internals.md, "The exit's path runs once"), and
 * a few microseconds on every lingering socket after. A call without arguments on a finished (or
 * destroyed) socket returns the socket as Node's does; any other call, with a callback waiting
 * for that error say, goes to the socket's own `end`.
 */
function skipEndAfterFinish(socket: Socket): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the socket below
  const end = socket.end;
  socket.end = function endUnlessFinished(this: Socket, ...args: unknown[]): Socket {
    if (args.length === 0 && (this.writableFinished || this.destroyed)) return this;
    return Reflect.apply(end, this, args) as Socket;
  };
}

function allDestroyed(sockets: ReadonlySet<Socket>): boolean {
  for (const socket of sockets) if (!socket.destroyed) return false;
  return true;
}

const kPath = Symbol('drainkit.path');

/** The `:path` of an HTTP/2 stream, kept when the stream was tracked (see onStream). */
function streamPath(stream: http2.ServerHttp2Stream): string | undefined {
  return (stream as http2.ServerHttp2Stream & { [kPath]?: string })[kPath];
}

function markConnectionClose(res: http.ServerResponse): void {
  if (!res.headersSent && !res.writableEnded) res.setHeader('Connection', 'close');
}

/** Whether the client has opened at least one stream on this session. */
function sessionHasStreams(session: http2.ServerHttp2Session): boolean {
  return (session.state.lastProcStreamID ?? 0) > 0;
}
