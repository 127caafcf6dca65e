/**
 * Wires a drainer's tracker into a server: the listeners that count connections, requests,
 * streams and upgrades, the raised keep-alive timeout. Every function here returns how to undo
 * what it did; nothing replaces or wraps the server's own listeners.
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import { NetServer } from './builtins.js';
import { openAcceptQueueProbe, type AcceptQueueProbe } from './accept-queue.js';
import { checkRequestListener, checkRequestListeners } from './handler-guard.js';
import { markCoreListener } from './listeners.js';
import type { Tracker } from './tracker.js';

type AnyListener = (...args: unknown[]) => void;

/** Attaches `tracker` to `server`; returns the detach. */
export function attachTracker(server: net.Server, tracker: Tracker): () => void {
  const undo: (() => void)[] = [];
  const on = (event: string, fn: (...args: never[]) => void, prepend = false): void => {
    if (prepend) server.prependListener(event, fn as AnyListener);
    else server.on(event, fn as AnyListener);
    undo.push(() => server.removeListener(event, fn as AnyListener));
  };
  try {
    checkRequestListeners(server.listeners('request'));
    // 'connection' carries the raw TCP socket for plain and TLS servers alike, so sockets still
    // in their TLS handshake are counted and forced too.
    on('connection', tracker.onConnection);
    // Prepended: most servers are created with the application's handler already attached
    // (`http.createServer(app)`, Hono's `serve()`), and a handler that answers synchronously
    // would otherwise send its response before drainkit marks it `Connection: close` during
    // the window.
    on('request', markCoreListener(tracker.onRequest), true);
    undo.push(
      followAppListeners(server, {
        checkContinue: tracker.onRequest,
        checkExpectation: tracker.onRequest,
        upgrade: markCoreListener(tracker.onUpgrade),
        connect: tracker.onUpgrade,
      }),
    );
    // 'newListener' fires before the listener is added; throwing there keeps it off the server
    // and reaches the caller of `server.on`.
    const guard = (event: string | symbol, listener: unknown): void => {
      if (event === 'request') checkRequestListener(server.listeners('request'), listener);
    };
    on('newListener', guard);
    if (isHttp2Server(server)) {
      on('session', tracker.onSession);
      on('stream', tracker.onStream);
    }
  } catch (err) {
    for (const u of undo.reverse()) u();
    throw err;
  }
  return () => {
    for (const u of undo.splice(0).reverse()) u();
  };
}

/**
 * Node decides some things by whether the application listens for an event at all: a request
 * with `Expect:` goes to 'checkContinue' (or 'checkExpectation') instead of 'request' only
 * when someone listens, else Node answers 100 Continue (or 417) itself; an `Upgrade:` or
 * `CONNECT` request is handed over through 'upgrade' (or 'connect') only when someone listens,
 * else it is served as a plain request. A listener of drainkit's own would change those
 * answers, so drainkit listens on these events exactly while the application does, first, and
 * follows the application's listeners as they come and go. Returns the detach.
 */
function followAppListeners(server: net.Server, trackers: Readonly<Record<string, (...args: never[]) => void>>): () => void {
  const events = new Map(Object.entries(trackers) as [string, AnyListener][]);
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
  return () => {
    server.removeListener('newListener', onNew);
    server.removeListener('removeListener', onRemoved);
    for (const [event, track] of events) server.removeListener(event, track);
  };
}

/**
 * Raises the server's keep-alive timeout to `ms` (and `headersTimeout` above it); returns the
 * undo. `null`, or a server without these settings (http2), leaves it untouched.
 */
export function applyKeepAlive(server: net.Server, ms: number | null): () => void {
  const s = server as Partial<http.Server>;
  if (ms === null || typeof s.keepAliveTimeout !== 'number') return () => undefined;
  const before = { keepAliveTimeout: s.keepAliveTimeout, headersTimeout: s.headersTimeout };
  s.keepAliveTimeout = ms;
  // headersTimeout must stay above keepAliveTimeout or a slow second request on a pooled
  // connection is cut by the wrong timer.
  if (typeof s.headersTimeout === 'number' && s.headersTimeout <= ms) s.headersTimeout = ms + 1_000;
  return () => Object.assign(s, before);
}

/** Bounds on accepting what waits in the accept queue before the listener closes. */
const ACCEPT_QUEUE_MAX_ROUNDS = 10_000;
const ACCEPT_QUEUE_MAX_MS = 1_000;

/**
 * Closes the listener: no new connections. Resolves once it is closed.
 *
 * - First the accept queue is emptied. Closing a listening socket resets the connections still
 *   in it, whose handshake the kernel has completed, and a balancer that has written its request
 *   on one (nginx, which connects until it is refused) gets a reset it cannot retry for a POST.
 *   Node accepts about one queued connection per event-loop iteration (measured on Node 20 and
 *   26), so the close waits, one `setImmediate` at a time, until an iteration accepts nothing;
 *   bounded in rounds and time for a balancer that never stops connecting.
 * - Then, where Linux shows it (src/core/accept-queue.ts), the kernel is asked for the queue's
 *   length in the same synchronous step as the close: a connection whose handshake completed
 *   after the last poll phase is accepted first instead of reset. Without it the close raced
 *   every handshake that completed in the iteration before it (one POST in about 10,000 behind
 *   nginx in CI, docs/nginx.md); with it, only one that completes in the microseconds between
 *   that read and `close(2)`.
 * - Only the listening handle is closed (`net.Server#close`): the `close()` of http, https and
 *   http2 servers first runs Node's `closeIdleConnections()`, which on Node 26 also destroys a
 *   connection accepted a moment ago whose first request is still on its way. The tracker closes
 *   what is idle itself, sparing those (Tracker#closeIdle).
 *
 * `probe` is the kernel's view of the queue (tests pass one that lets a handshake complete
 * right before it is read).
 */
export function closeListener(server: net.Server, tracker: Tracker, probe: AcceptQueueProbe | undefined = openAcceptQueueProbe(server)): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    // -1: the first round never counts as quiet, so at least one poll phase runs between the
    // window's end and the close.
    let seen = -1;
    let rounds = 0;
    const withinBounds = (): boolean => rounds < ACCEPT_QUEUE_MAX_ROUNDS && performance.now() - started < ACCEPT_QUEUE_MAX_MS;
    const step = (): void => {
      const acceptedMore = tracker.accepted !== seen;
      seen = tracker.accepted;
      rounds += 1;
      if (acceptedMore && withinBounds()) {
        setImmediate(step);
        return;
      }
      // The close itself runs in the next timers phase, not here in the check phase: a drain
      // with nothing in flight then ends before that iteration's close phase, and the exit
      // (src/core/exit.ts) comes before the close callbacks of every socket destroyed here.
      setTimeout(closeIfStillQuiet, 0);
    };
    const closeIfStillQuiet = (): void => {
      // A poll phase may have run while the timer waited: if it accepted a connection, the
      // balancer is still connecting, and closing now would reset the next one in the queue.
      // `step` sees the new count and goes on emptying the queue (within the same bounds).
      if (tracker.accepted !== seen && withinBounds()) {
        setImmediate(step);
        return;
      }
      // The kernel's own count, read right before the close: nothing between this read and the
      // close(2) in `close()` yields to the event loop. A connection waiting there is accepted
      // in the next poll phase; `step` then sees it (`seen` is reset so the round is not quiet).
      if (withinBounds() && (probe?.length() ?? 0) > 0) {
        seen = -1;
        setImmediate(step);
        return;
      }
      close();
    };
    const close = (): void => {
      // An error here only means "was not listening", which is fine.
      NetServer.prototype.close.call(server, () => undefined);
      probe?.close();
      // The listening handle's close callback runs in this iteration's close phase: until then
      // it is still listed among what holds the event loop (see src/core/exit.ts). An immediate
      // queued now runs before that phase, one it queues runs after it. Unreferenced: they must
      // not hold the loop, nor be listed themselves.
      tracker.listenerClosing = true;
      setImmediate(() => {
        setImmediate(() => {
          tracker.listenerClosing = false;
        }).unref();
      }).unref();
      tracker.closeIdle();
      resolve();
    };
    setImmediate(step);
  });
}

/**
 * After the drain: what the server's own `close()` does besides closing idle connections, which
 * closeListener skipped. Node's http server checks its connections' timeouts on an (unref'd)
 * interval that only `close()` clears, and the interval keeps the server reachable. Calling
 * `close()` again would emit `'close'` a second time, so the timer is cleared here, found by its
 * symbol's description; when a Node version renames it, nothing worse than before happens.
 */
export function finishClose(server: net.Server): void {
  const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connectionsCheckingInterval');
  if (key === undefined) return;
  const timer = (server as unknown as Record<symbol, unknown>)[key];
  if (timer !== undefined) clearInterval(timer as NodeJS.Timeout);
}

export function isHttp2Server(server: net.Server): boolean {
  // Http2Server and Http2SecureServer both carry a `setTimeout` and emit 'session'; the public
  // marker that survives across Node versions is the http2 `updateSettings` method.
  return typeof (server as unknown as { updateSettings?: unknown }).updateSettings === 'function';
}
