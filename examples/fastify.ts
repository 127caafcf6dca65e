/**
 * Fastify 5 with the drainkit plugin: the drainer attaches to Fastify's own server, serves
 * /readyz and /healthz as Fastify routes, and ends every drain with fastify.close(), so the
 * onClose hook below runs after the last request. Fastify's pino logger gets drainkit's phase lines.
 *
 *     npm run build && PORT=3000 node --import tsx examples/fastify.ts
 */
import Fastify from 'fastify';
import { drainkitPlugin } from 'drainkit/fastify';
import { drainReport } from 'drainkit/metrics';

const app = Fastify({ logger: true });
await app.register(drainkitPlugin, { logger: app.log, drainTimeoutMs: 20_000 });

app.get('/', () => 'hello from fastify\n');
app.get('/slow', () => new Promise<string>((resolve) => setTimeout(() => resolve('slow done\n'), 2_000)));
app.addHook('onClose', (instance, done) => {
  instance.log.info('onClose: closing the database pool would go here');
  done();
});
app.drainer.on('drained', (result) => app.log.info(drainReport(result, app.drainer.options), 'drain report'));

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`${JSON.stringify({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0, pid: process.pid })}\n`);
