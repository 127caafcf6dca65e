/**
 * `drainkit/express`: Express 5 needs no adapter. An Express app is a request listener of a
 * `node:http` server, and drainkit attaches to that server:
 *
 *     const app = express();
 *     const server = app.listen(3000);
 *     const drainer = createDrainer(server);
 *     app.use(healthRoutes(drainer));           // or app.get('/readyz', drainer.readiness)
 *     app.use(routes);                          // the application's own middleware and routes
 *
 * (`http.createServer(app)` works the same way.) Mount `healthRoutes` before any other
 * middleware, so readiness and liveness answer before authentication, body parsing or logging
 * run; Express is already the server's request listener, so do not also wrap it with
 * `drainer.withHealth(app)`. This module adds only the health middleware and never ends the
 * process: whether a drain exits is the drainer's decision. It loads no Express code: the
 * middleware is a plain `(req, res, next)` function.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Drainer } from '../core/types.js';

/**
 * Express middleware answering the drainer's readiness and liveness paths (`/readyz` and
 * `/healthz` by default, see the `health` option) and the preStop endpoint (`health.preStopPath`:
 * on the application's port only with `health.preStopToken` and its header, as
 * `drainer.handleHealth` serves it), and passing every other request on. With
 * `health: false` it passes everything on; mount `drainer.readiness` and `drainer.liveness`
 * as routes yourself then.
 */
export function healthRoutes(drainer: Drainer): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!drainer.handleHealth(req, res)) next();
  };
}

/**
 * The paths {@link healthRoutes} answers (readiness, liveness, and the preStop path when
 * configured), for mounting it as routes rather than as a middleware every request passes
 * through: `app.all(healthPaths(drainer), healthRoutes(drainer))`. Express skips a route whose
 * path does not match without calling it, where a middleware layer is called for every request
 * (on a hello world the two are within the benchmark's noise: docs/benchmarks.md, throughput).
 * Empty with `health: false`.
 */
export function healthPaths(drainer: Drainer): string[] {
  const health = drainer.options.health;
  if (!health) return [];
  return [health.readinessPath, health.livenessPath, ...(health.preStopPath === undefined ? [] : [health.preStopPath])];
}
