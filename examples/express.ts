/**
 * Express 5 with drainkit: health routes, a pino logger receiving one line per drain phase,
 * Prometheus metrics, and the drain report logged at the end.
 *
 *     npm run build && PORT=3000 node --import tsx examples/express.ts
 *     curl localhost:3000/readyz; kill -TERM <pid>
 */
import * as http from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { createDrainer } from 'drainkit';
import { healthPaths, healthRoutes } from 'drainkit/express';
import { createDrainMetrics, drainReport } from 'drainkit/metrics';

const logger = pino();
const app = express();
// The server is created first so the drainer exists when the routes are mounted;
// `const server = app.listen(port)` followed by createDrainer(server) works as well.
const server = http.createServer(app);
const drainer = createDrainer(server, { logger, drainTimeoutMs: 20_000 });
const metrics = await createDrainMetrics(drainer);

app.all(healthPaths(drainer), healthRoutes(drainer)); // /readyz and /healthz, before any other middleware
app.get('/', (_req, res) => {
  res.send('hello from express\n');
});
app.get('/slow', (_req, res) => {
  setTimeout(() => res.send('slow done\n'), 2_000);
});
app.get('/metrics', async (_req, res) => {
  res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
});

drainer.on('drained', (result) => logger.info(drainReport(result, drainer.options), 'drain report'));

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  // The line test harnesses wait for (pino writes its own JSON lines beside it).
  process.stdout.write(`${JSON.stringify({ event: 'listening', port, pid: process.pid })}\n`);
});
