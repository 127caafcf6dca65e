/**
 * Catches the quick start's commonest mistake: `server.on('request', drainer.withHealth(app))`
 * on a server that already has a request listener (`http.createServer(app)`, Express's or Koa's
 * `app.listen()`). Both listeners would answer every request: the second answer crashes the
 * process with ERR_HTTP_HEADERS_SENT (Express), or the app silently runs twice per request (Koa,
 * whose `app.callback()` is a new function at every call, so comparing functions cannot see it).
 * A `withHealth` wrapper answers every request it is given, so it must be the server's only
 * answering listener: drainkit refuses, at the moment it is added and in either order, a wrapper
 * next to any request listener that is not drainkit's own, and says which line to write instead.
 */
import { DrainkitError } from './errors.js';
import { isDrainkitListener } from './listeners.js';

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

/** A listener that answers requests and is not drainkit's: the application's own handler. */
function isForeign(fn: unknown): boolean {
  return wrappedHandler(fn) === undefined && !isDrainkitListener(fn);
}

/**
 * Throws a {@link DrainkitError} when adding `listener` to `existing` (the server's current
 * 'request' listeners) would answer requests twice: a `withHealth(handler)` wrapper next to a
 * request listener of the application's (`handler` itself, or any other), in either order.
 */
export function checkRequestListener(existing: readonly unknown[], listener: unknown): void {
  const inner = wrappedHandler(listener);
  if (inner !== undefined) {
    if (existing.includes(inner)) throw handlerTwice('the handler is already', 'adding');
    if (existing.some(isForeign)) throw anotherHandler('adding drainer.withHealth(…)');
    return;
  }
  if (!isForeign(listener)) return;
  if (existing.some((l) => wrappedHandler(l) === listener)) throw handlerTwice('drainer.withHealth(handler) is already', 'adding the bare handler as well');
  if (existing.some((l) => wrappedHandler(l) !== undefined)) throw wrapperThenAnother();
}

/** The same check over listeners already attached (a server handed over with both). */
export function checkRequestListeners(existing: readonly unknown[]): void {
  for (const l of existing) {
    const inner = wrappedHandler(l);
    if (inner !== undefined && existing.includes(inner)) throw handlerTwice('the handler is', 'keeping drainer.withHealth(handler) too');
  }
  if (existing.some((l) => wrappedHandler(l) !== undefined) && existing.some(isForeign)) throw anotherHandler('keeping drainer.withHealth(…) as well');
}

const CREATE_WITHOUT_HANDLER =
  "Create the server without a handler and let withHealth add the app: const server = http.createServer(); server.on('request', drainer.withHealth(app)); " +
  "server.listen(port) (with Koa, drainer.withHealth(app.callback()) after the last app.use(), and server.listen() instead of app.listen()).";

function anotherHandler(doing: string): DrainkitError {
  return new DrainkitError(
    'ERR_DRAINKIT_HANDLER_TWICE',
    `drainkit: this server already has a 'request' listener that is not drainkit's (http.createServer(app), Express's and Koa's app.listen() add the app as one), ` +
      `and ${doing} would answer every request a second time (Express crashes with ERR_HTTP_HEADERS_SENT; Koa runs the app twice, silently). ` +
      `drainer.withHealth(app) must be the server's only request listener. ${CREATE_WITHOUT_HANDLER} ` +
      `Or keep the listener that is attached and answer the health paths inside it: with Express, app.all(healthPaths(drainer), healthRoutes(drainer)) from 'drainkit/express' ` +
      `before your routes; with Koa, app.use((ctx, next) => { if (drainer.handleHealth(ctx.req, ctx.res)) { ctx.respond = false; return; } return next(); }) first; ` +
      `in a plain handler, if (drainer.handleHealth(req, res)) return; as its first line.`,
  );
}

function wrapperThenAnother(): DrainkitError {
  return new DrainkitError(
    'ERR_DRAINKIT_HANDLER_TWICE',
    `drainkit: drainer.withHealth(handler) is already a 'request' listener of this server and answers every request; adding another request listener ` +
      `would answer them a second time (ERR_HTTP_HEADERS_SENT, or an app that runs twice). Pass that handler to withHealth instead of adding it beside it ` +
      `(one withHealth(app) per server), or, to only watch requests, listen to the server's 'request' event through your framework's hooks or middleware.`,
  );
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
