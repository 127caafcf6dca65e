/**
 * `drainkit/fastify`: a Fastify 5 plugin that attaches drainkit to Fastify's own server.
 *
 *     import Fastify from 'fastify';
 *     import { drainkitPlugin } from 'drainkit/fastify';
 *     const app = Fastify();
 *     await app.register(drainkitPlugin, { drainTimeoutMs: 20_000 });
 *     await app.listen({ port: 3000 });
 *     // app.drainer is the drainer; SIGTERM drains, then closes Fastify, then exits.
 *
 * - The drainer attaches to `fastify.server` (created by Fastify, before `listen`), so it counts
 *   every request Fastify serves, and answers readiness and liveness as ordinary Fastify routes
 *   on the drainer's paths (`/readyz`, `/healthz` by default), and the preStop endpoint
 *   (`health.preStopPath`) with the same rule as on node:http: on the application's port only
 *   with `health.preStopToken` and its header.
 * - A drain (signal, `drainer.drain()`, a remote request) ends with `fastify.close()` as its
 *   last shutdown hook, so the application's `onClose` hooks (database pools…) run after the
 *   last request, bounded like every hook.
 * - `fastify.close()` called directly (tests, your own shutdown code) drains first, from a
 *   `preClose` hook, or waits for the drain already under way; either way Fastify's `onClose`
 *   hooks run after the last request. Fastify has already begun closing then and answers new
 *   requests 503 on its own (`return503OnClosing`), so prefer starting the drain through the
 *   drainer in production.
 * - The plugin never ends the process itself: whether a drain exits is the drainer's decision
 *   (a signal's drain exits; see `exitOnDrain`). Once Fastify is closed and the drain is over,
 *   the drainer is detached (its server and signal listeners removed), so a process that goes
 *   on living is left as it was before the plugin.
 *
 * The plugin is not encapsulated (it carries fastify-plugin's marker, set here directly so this
 * module loads no Fastify code), so `app.drainer` is visible everywhere.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createDrainer } from '../core/drainer.js';
import type { Drainer, DrainerOptions } from '../core/types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The drainer attached by `drainkit/fastify`. */
    readonly drainer: Drainer;
  }
}

/** The plugin's options are the drainer's. */
export type DrainkitPluginOptions = DrainerOptions;

const plugin: FastifyPluginAsync<DrainkitPluginOptions> = (fastify: FastifyInstance, options: DrainkitPluginOptions) => {
  // avvio turns a rejected promise into register()'s error; a synchronous throw would escape it.
  try {
    setup(fastify, options);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
};

function setup(fastify: FastifyInstance, options: DrainkitPluginOptions): void {
  // Fastify mixes its own keys (prefix, logLevel…) into a plugin's options; pass only ours on.
  const { prefix: _prefix, logLevel: _logLevel, logSerializers: _ls, ...drainerOptions } = options as DrainkitPluginOptions & Record<string, unknown>;
  const drainer = createDrainer(fastify.server, drainerOptions);
  fastify.decorate('drainer', drainer);

  const health = drainer.options.health;
  if (health) {
    // hijack(): the drainer writes the answer itself, and its readiness listener also counts
    // the balancer's 503 probes for the adaptive window.
    fastify.get(health.readinessPath, { logLevel: 'warn' }, (request, reply) => {
      reply.hijack();
      drainer.readiness(request.raw, reply.raw);
    });
    fastify.get(health.livenessPath, { logLevel: 'warn' }, (request, reply) => {
      reply.hijack();
      drainer.liveness(request.raw, reply.raw);
    });
    if (health.preStopPath !== undefined) {
      // The preStop endpoint as handleHealth serves it on a node:http server: here, on the
      // application's port, only to a request with the x-drainkit-prestop secret (403 without
      // it), and refused (404, logged) when no secret is set, since the balancer forwards this
      // port; the dedicated health port serves it as usual.
      fastify.route({
        method: ['GET', 'POST'],
        url: health.preStopPath,
        logLevel: 'warn',
        handler: (request, reply) => {
          reply.hijack();
          drainer.handleHealth(request.raw, reply.raw);
        },
      });
    }
  }

  /** Set once anyone (the application, or the shutdown hook below) has called fastify.close(). */
  let closedByFastify = false;
  /** Set while the drain's own shutdown hook is the caller of fastify.close(). */
  let closingFromHook = false;
  drainer.onShutdown('fastify.close', async () => {
    if (closedByFastify) return;
    closingFromHook = true;
    await fastify.close();
  });
  fastify.addHook('preClose', async () => {
    closedByFastify = true;
    // Called from the drain's own cleanup: waiting for that drain here would wait for ourselves.
    if (closingFromHook) return;
    // Otherwise start the drain, or join the one under way (a signal's, a remote request's),
    // so that Fastify closes its server and runs onClose hooks only after the last request.
    if (drainer.state !== 'stopped') await drainer.drain('fastify.close');
  });
  fastify.addHook('onClose', (_instance, done) => {
    // Inside a drain's own cleanup the drainer stays attached until that drain is over: a second
    // signal must still force it. Detached then, not left for the process's exit to clean up.
    if (drainer.state === 'draining') drainer.once('drained', () => drainer.detach());
    else drainer.detach();
    done();
  });
}

// What fastify-plugin sets: no encapsulation, a display name, the Fastify versions supported.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'drainkit',
  [Symbol.for('plugin-meta')]: { name: 'drainkit', fastify: '5.x' },
});

/** The drainkit Fastify plugin. Options: those of `createDrainer`. */
export const drainkitPlugin: FastifyPluginAsync<DrainkitPluginOptions> = plugin;
export default drainkitPlugin;
