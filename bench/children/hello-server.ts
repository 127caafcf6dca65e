/**
 * The throughput and memory benchmarks' server: a hello-world keep-alive server, bare or with
 * drainkit attached, over `node:http`, Express 5 or Fastify 5. Prints
 * `{"event":"listening","port":n}`; answers IPC `cpu` (process.cpuUsage) and `memory` (after
 * full GCs; needs --expose-gc).
 *
 *   node hello-server.js --variant bare|drainkit|drainkit-health|express-bare|express-drainkit[-routes|-core]|express-own-middleware|express-own-routes|fastify-bare|fastify-drainkit|fastify-own-routes
 *
 * - `bare`: the handler answers `ok`.
 * - `drainkit`: the same handler; `createDrainer(server, { signals: false })` attached.
 * - `drainkit-health`: as `drainkit`, and the handler first calls `drainer.handleHealth` (the
 *   README's usage: one URL comparison per request on top of the tracking).
 * - `express-*`: an Express 5 app answering `GET /`. `express-drainkit`: `createDrainer(server)`,
 *   then `app.use(healthRoutes(drainer))` before the route (a middleware every request passes
 *   through); `express-drainkit-routes`: `app.all(healthPaths(drainer), healthRoutes(drainer))`
 *   instead (routes, which Express skips by path); `express-drainkit-core`: no health at all,
 *   the tracking alone.
 * - `fastify-*`: a Fastify 5 app answering `GET /`; with drainkit through its plugin.
 * - `express-own-*`, `fastify-own-routes`: no drainkit, the framework's own cost of what drainkit's
 *   health adds: a pass-through middleware, or two more routes (`/readyz`, `/healthz`).
 */
import * as http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { announce, flag, KEEP_ALIVE_TIMEOUT_MS, loadDrainkit, measuredMemory, serveIpc } from './common.js';

const VARIANTS = ['bare', 'drainkit', 'drainkit-health', 'express-bare', 'express-drainkit', 'express-drainkit-routes', 'express-drainkit-core', 'express-own-middleware', 'express-own-routes', 'fastify-bare', 'fastify-drainkit', 'fastify-own-routes'] as const;
const variant = flag('variant', VARIANTS, 'bare');

function tune(server: http.Server): void {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
}

async function distModule(path: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(join(process.cwd(), 'dist', path)).href)) as Record<string, unknown>;
}

let connections = (): number | undefined => undefined;

async function nodeHttp(): Promise<http.Server> {
  const server = http.createServer();
  tune(server);
  const hello: http.RequestListener = (_req, res) => {
    res.end('ok');
  };
  if (variant === 'bare') {
    server.on('request', hello);
    return server;
  }
  const { createDrainer } = await loadDrainkit();
  const drainer = createDrainer(server, { signals: false, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS });
  connections = () => drainer.connections;
  if (variant === 'drainkit') {
    server.on('request', hello);
  } else {
    server.on('request', (req, res) => {
      if (drainer.handleHealth(req, res)) return;
      res.end('ok');
    });
  }
  return server;
}

async function expressApp(): Promise<http.Server> {
  const { default: express } = await import('express');
  const app = express();
  const server = http.createServer(app);
  tune(server);
  if (variant.startsWith('express-drainkit')) {
    const { createDrainer } = await loadDrainkit();
    const { healthRoutes, healthPaths } = (await distModule('integrations/express.js')) as {
      healthRoutes: (d: unknown) => import('express').RequestHandler;
      healthPaths: (d: unknown) => string[];
    };
    const drainer = createDrainer(server, { signals: false, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS });
    connections = () => drainer.connections;
    if (variant === 'express-drainkit') app.use(healthRoutes(drainer));
    else if (variant === 'express-drainkit-routes') app.all(healthPaths(drainer), healthRoutes(drainer));
  }
  // No drainkit: what Express charges for a pass-through middleware, or two more routes, on
  // every request (what drainkit's health forms above add to the app).
  if (variant === 'express-own-middleware') app.use((_req, _res, next) => next());
  if (variant === 'express-own-routes') app.all(['/readyz', '/healthz'], (_req, res) => res.send('ok'));
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return server;
}

async function fastifyApp(): Promise<http.Server> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
  if (variant === 'fastify-drainkit') {
    const { drainkitPlugin } = (await distModule('integrations/fastify.js')) as { drainkitPlugin: Parameters<typeof app.register>[0] };
    await app.register(drainkitPlugin, { signals: false, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS } as never);
    connections = () => (app as unknown as { drainer: { connections: number } }).drainer.connections;
  }
  if (variant === 'fastify-own-routes') {
    app.get('/readyz', () => 'ok');
    app.get('/healthz', () => 'ok');
  }
  app.get('/', () => 'ok');
  await app.ready();
  return app.server;
}

const server = variant.startsWith('express-') ? await expressApp() : variant.startsWith('fastify-') ? await fastifyApp() : await nodeHttp();

serveIpc({
  cpu: () => process.cpuUsage(),
  memory: () => ({ ...measuredMemory(), tracked: connections() }),
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', variant, port: typeof address === 'object' && address ? address.port : 0, pid: process.pid });
});
