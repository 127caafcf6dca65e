/**
 * `drainkit/express`: Express 5 needs no adapter. An Express app is a request listener of a
 * `node:http` server, and drainkit attaches to that server:
 *
 *     const app = express();
 *     app.use(healthRoutes(drainer))            // or app.get('/readyz', drainer.readiness)
 *     const server = app.listen(3000);
 *     const drainer = createDrainer(server);
 *
 * (A drainer can be created first with `http.createServer(app)` when the routes need it before
 * `listen`.) This module adds only the health middleware, so readiness and liveness answer on
 * the drainer's paths before any other middleware (authentication, body parsing, logging) runs.
 * It loads no Express code: the middleware is a plain `(req, res, next)` function.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Drainer } from '../core/types.js';

/**
 * Express middleware answering the drainer's readiness and liveness paths (`/readyz` and
 * `/healthz` by default, see the `health` option) and passing every other request on. With
 * `health: false` it passes everything on; mount `drainer.readiness` and `drainer.liveness`
 * as routes yourself then.
 */
export function healthRoutes(drainer: Drainer): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!drainer.handleHealth(req, res)) next();
  };
}
