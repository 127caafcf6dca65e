/**
 * The Koa and Hono (`@hono/node-server`) recipes of docs/integrations.md ("Other frameworks on
 * `node:http`"), wired exactly as written there, held to the drain contract: readiness 200
 * before the drain and 503 from the instant `drain()` starts, liveness 200 throughout, a request
 * made during the deregistration window served with `Connection: close`, and a request in
 * flight when the drain starts completed (with `Connection: close`) and counted by the result.
 *
 * The client is an undici Pool, keep-alive like a balancer: a `Connection: close` in a response
 * is the server's doing (the same responses before the drain are asserted keep-alive).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { getRequestListener, serve } from '@hono/node-server';
import { Hono } from 'hono';
import Koa from 'koa';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions } from '../../src/core/types.js';
import { listen, next, within, until } from './clients.js';
import { assertRecipeContract } from './recipe-contract.js';

interface App {
  /** Where the app's routes are served. */
  readonly origin: string;
  /** Where `/readyz` and `/healthz` are answered: the app's origin or the dedicated health server. */
  readonly healthOrigin: string;
  readonly drainer: Drainer;
  readonly server: http.Server;
  /** Ends the pending `/slow` requests. */
  release(): void;
  /** How many `/slow` requests are waiting. */
  waiting(): number;
  /** What each request to `/` saw on arrival, in order: the drain phase, or `active` before the drain. */
  readonly phasesSeen: string[];
}

// The window is long enough for the few local requests the test sends during it; whether they
// really arrived in it is checked (`phasesSeen`), not assumed.
const OPTIONS = { signals: false, deregister: { mode: 'fixed', delayMs: 1_000 }, drainTimeoutMs: 10_000 } satisfies DrainerOptions;

/** What the apps' routes share with the test: `/slow` waits in `pending`, `/` notes the phase. */
interface Routes {
  readonly pending: (() => void)[];
  readonly phasesSeen: string[];
  drainer?: Drainer;
}

const flavours: Record<string, () => Promise<App>> = {
  /** docs: wrap the Koa callback with `drainer.withHealth`, after the last `app.use()`. */
  async koa() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = new Koa();
    app.use(async (ctx) => {
      if (ctx.path === '/slow') {
        await new Promise<void>((resolve) => r.pending.push(resolve));
        ctx.body = 'slow done';
      } else if (ctx.path === '/') {
        r.phasesSeen.push(r.drainer?.phase ?? r.drainer?.state ?? 'none');
        ctx.body = 'ok';
      }
    });
    // The recipe.
    const server = http.createServer();
    const drainer = createDrainer(server, OPTIONS);
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- as written in the docs; Koa's callback settles its own errors
    server.on('request', drainer.withHealth(app.callback()));
    r.drainer = drainer;
    const origin = `http://127.0.0.1:${await listen(server)}`;
    return handle(r, server, origin, origin);
  },

  /**
   * docs: `createDrainer(serve({ fetch: app.fetch, port }), { health: { port } })`. `serve()`
   * attaches Hono's listener before drainkit exists, so this also proves drainkit's own listener
   * runs first (Hono answers `/` synchronously: without that, `Connection: close` would be late).
   */
  async 'hono serve(), health on its own port'() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = honoApp(r);
    // The recipe (port 0 and 127.0.0.1 instead of 3000 and 9000 on every interface).
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server;
    const drainer = createDrainer(server, { ...OPTIONS, health: { port: 0, host: '127.0.0.1' } });
    r.drainer = drainer;
    if (!server.listening) await next(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await until('health server listening', () => drainer.healthAddress !== undefined);
    return handle(r, server, `http://127.0.0.1:${port}`, `http://127.0.0.1:${drainer.healthAddress!.port}`);
  },

  /** docs: own `http.Server`, then `server.on('request', drainer.withHealth(getRequestListener(app.fetch)))`. */
  async 'hono, health on the app port'() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = honoApp(r);
    // The recipe.
    const server = http.createServer();
    const drainer = createDrainer(server, OPTIONS);
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- as written in the docs; Hono's listener settles its own errors
    server.on('request', drainer.withHealth(getRequestListener(app.fetch)));
    r.drainer = drainer;
    const origin = `http://127.0.0.1:${await listen(server)}`;
    return handle(r, server, origin, origin);
  },
};

function honoApp(r: Routes): Hono {
  const app = new Hono();
  app.get('/slow', (c) => new Promise<Response>((resolve) => r.pending.push(() => resolve(c.text('slow done')))));
  app.get('/', (c) => {
    r.phasesSeen.push(r.drainer?.phase ?? r.drainer?.state ?? 'none');
    return c.text('ok');
  });
  return app;
}

function handle(r: Routes, server: http.Server, origin: string, healthOrigin: string): App {
  return {
    origin,
    healthOrigin,
    drainer: r.drainer!,
    server,
    phasesSeen: r.phasesSeen,
    release: () => r.pending.splice(0).forEach((f) => f()),
    waiting: () => r.pending.length,
  };
}

/** Ends whatever a test left running: the drain (forced), the drainer's listeners, the server. */
async function stop(app: App): Promise<void> {
  app.release();
  if (app.drainer.state !== 'active') await within(app.drainer.force('test over'), 10_000, 'forced drain').catch(() => undefined);
  app.drainer.detach();
  app.server.closeAllConnections();
  await within(new Promise((resolve) => app.server.close(resolve)), 10_000, 'server.close()');
}

for (const [name, start] of Object.entries(flavours)) {
  describe(`docs recipe: ${name}`, () => {
    it('readiness 503 from the drain start, liveness 200, window requests and the in-flight one served with Connection: close', async () => {
      const app = await start();
      try {
        await assertRecipeContract(app);
      } finally {
        // Cleanup never masks the assertion that failed.
        await stop(app).catch(() => undefined);
      }
    });
  });
}
