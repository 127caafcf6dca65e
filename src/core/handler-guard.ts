/**
 * Catches the quick start's commonest mistake: `server.on('request', drainer.withHealth(app))`
 * on a server that already has `app` as its request listener (`http.createServer(app)`,
 * Express's `app.listen()`). Both listeners would answer every request, and the second answer
 * crashes the process with ERR_HTTP_HEADERS_SENT. drainkit refuses the second listener at the
 * moment it is added, in either order, and says which line to write instead.
 */
import { DrainkitError } from './errors.js';

const kWrapped = Symbol('drainkit.withHealth.handler');

type Listener = (...args: never[]) => unknown;
type Wrapped = { [kWrapped]?: Listener };

/** Marks `wrapper` as `withHealth(handler)`. */
export function markHealthWrapper<F extends Listener>(wrapper: F, handler: Listener): F {
  (wrapper as unknown as Wrapped)[kWrapped] = handler;
  return wrapper;
}

function wrappedHandler(fn: unknown): Listener | undefined {
  return typeof fn === 'function' ? (fn as Wrapped)[kWrapped] : undefined;
}

/**
 * Throws a {@link DrainkitError} when adding `listener` to `existing` (the server's current
 * 'request' listeners) would run one handler twice: a `withHealth(handler)` wrapper next to
 * `handler` itself.
 */
export function checkRequestListener(existing: readonly unknown[], listener: unknown): void {
  const inner = wrappedHandler(listener);
  if (inner !== undefined && existing.includes(inner)) throw handlerTwice('the handler is already', 'adding');
  if (inner === undefined && existing.some((l) => wrappedHandler(l) === listener)) throw handlerTwice('drainer.withHealth(handler) is already', 'adding the bare handler as well');
}

/** The same check over listeners already attached (a server handed over with both). */
export function checkRequestListeners(existing: readonly unknown[]): void {
  for (const l of existing) {
    const inner = wrappedHandler(l);
    if (inner !== undefined && existing.includes(inner)) throw handlerTwice('the handler is', 'keeping drainer.withHealth(handler) too');
  }
}

function handlerTwice(what: string, doing: string): DrainkitError {
  return new DrainkitError(
    'ERR_DRAINKIT_HANDLER_TWICE',
    `drainkit: ${what} a 'request' listener of this server (http.createServer(app) and Express's app.listen() add it), and ${doing} ` +
      `would run it twice per request (the second answer crashes with ERR_HTTP_HEADERS_SENT). ` +
      `Drop the server.on('request', drainer.withHealth(app)) line and answer the health paths inside the handler that is already attached: ` +
      `with Express, app.all(healthPaths(drainer), healthRoutes(drainer)) from 'drainkit/express' before your routes; in a plain handler, ` +
      `if (drainer.handleHealth(req, res)) return; as its first line. ` +
      `Or create the server without a handler (http.createServer()) and keep server.on('request', drainer.withHealth(app)).`,
  );
}
