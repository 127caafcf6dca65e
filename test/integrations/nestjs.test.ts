/**
 * The NestJS recipe of docs/integrations.md ("Other frameworks on `node:http`"), Express
 * platform, wired as written there: `createDrainer(app.getHttpServer())` after
 * `NestFactory.create`, no `app.enableShutdownHooks()`, `drainer.onShutdown('nest', () =>
 * app.close())`, and health either through `app.use(healthRoutes(drainer))` on the app's port or
 * on the dedicated health port. Held to the drain contract of node-frameworks.test.ts (readiness
 * 503 from the instant `drain()` starts, liveness 200 throughout, a request made during the
 * window served with `Connection: close`, the request in flight at the start completed and
 * counted), plus what is Nest's own: its `onModuleDestroy` / `beforeApplicationShutdown` /
 * `onApplicationShutdown` hooks run after the last response finished and before `drain()`
 * resolves.
 *
 * The project does not enable `experimentalDecorators`, so Nest's decorators are applied as plain
 * function calls; nothing uses constructor injection (esbuild emits no decorator metadata).
 * The client is an undici Pool, keep-alive like a balancer: a `Connection: close` in a response
 * is the server's doing (the same responses before the drain are asserted keep-alive).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions } from '../../src/core/types.js';
import { healthRoutes } from '../../src/integrations/express.js';
import { within, until } from './clients.js';
import { assertRecipeContract } from './recipe-contract.js';

// The window is long enough for the few local requests the test sends during it; whether they
// really arrived in it is checked (`phasesSeen`), not assumed.
const OPTIONS = { signals: false, deregister: { mode: 'fixed', delayMs: 1_000 }, drainTimeoutMs: 10_000 } satisfies DrainerOptions;

/** What the Nest app shares with the test. */
interface Shared {
  /** `/slow` requests waiting for the test to release them. */
  readonly pending: (() => void)[];
  /** What each request to `/` saw on arrival, in order: the drain phase, or `active` before the drain. */
  readonly phasesSeen: string[];
  /** The order of the `/slow` responses finishing, Nest's shutdown hooks and `drain()` resolving. */
  readonly order: string[];
  drainer?: Drainer;
}

/** The Nest module and controller, decorated by plain calls (no decorator syntax). */
function appModule(shared: Shared): new () => object {
  class AppController {
    index(): string {
      shared.phasesSeen.push(shared.drainer?.phase ?? shared.drainer?.state ?? 'none');
      return 'ok';
    }

    slow(): Promise<string> {
      return new Promise((resolve) => shared.pending.push(() => resolve('slow done')));
    }
  }
  const method = (name: 'index' | 'slow'): PropertyDescriptor => Object.getOwnPropertyDescriptor(AppController.prototype, name)!;
  Get()(AppController.prototype, 'index', method('index'));
  Get('slow')(AppController.prototype, 'slow', method('slow'));
  Controller()(AppController);

  // Nest calls the lifecycle hooks on module instances as on providers and controllers.
  class AppModule {
    onModuleDestroy(): void {
      shared.order.push('onModuleDestroy');
    }

    beforeApplicationShutdown(): void {
      shared.order.push('beforeApplicationShutdown');
    }

    onApplicationShutdown(): void {
      shared.order.push('onApplicationShutdown');
    }
  }
  Module({ controllers: [AppController] })(AppModule);
  return AppModule;
}

interface App {
  readonly origin: string;
  /** Where `/readyz` and `/healthz` are answered: the app's origin or the dedicated health server. */
  readonly healthOrigin: string;
  readonly nest: INestApplication;
  readonly drainer: Drainer;
  readonly server: http.Server;
  readonly shared: Shared;
}

const flavours: Record<string, () => Promise<App>> = {
  /** docs: `app.use(healthRoutes(drainer))` on the Express platform, health on the app's port. */
  async 'express platform, health on the app port'() {
    const shared: Shared = { pending: [], phasesSeen: [], order: [] };
    // The recipe (logger off, the drainer's test options, port 0 on 127.0.0.1).
    const app = await NestFactory.create(appModule(shared), { logger: false });
    const drainer = createDrainer(app.getHttpServer(), OPTIONS);
    drainer.onShutdown('nest', () => app.close());
    app.use(healthRoutes(drainer)); // before app.listen(): Nest adds its routes and 404 handler at init
    shared.drainer = drainer;
    return started(app, drainer, shared, false);
  },

  /** docs: the dedicated health port. */
  async 'express platform, health on its own port'() {
    const shared: Shared = { pending: [], phasesSeen: [], order: [] };
    const app = await NestFactory.create(appModule(shared), { logger: false });
    const drainer = createDrainer(app.getHttpServer(), { ...OPTIONS, health: { port: 0, host: '127.0.0.1' } });
    drainer.onShutdown('nest', () => app.close());
    shared.drainer = drainer;
    return started(app, drainer, shared, true);
  },
};

async function started(app: INestApplication, drainer: Drainer, shared: Shared, healthPort: boolean): Promise<App> {
  const server = app.getHttpServer() as http.Server;
  // Marks the moment each `/slow` response finished on the server side (not when the client read it).
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/slow') res.once('finish', () => shared.order.push('/slow finished'));
  });
  try {
    await within(app.listen(0, '127.0.0.1'), 10_000, 'app.listen');
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let healthOrigin = origin;
    if (healthPort) {
      await until('health server listening', () => drainer.healthAddress !== undefined);
      healthOrigin = `http://127.0.0.1:${drainer.healthAddress!.port}`;
    }
    return { origin, healthOrigin, nest: app, drainer, server, shared };
  } catch (error) {
    await stop({ nest: app, drainer, server, shared });
    throw error;
  }
}

/** Ends whatever a test left running: the drain (forced), the Nest app, the drainer's listeners, the server. */
async function stop(app: Pick<App, 'nest' | 'drainer' | 'server' | 'shared'>): Promise<void> {
  app.shared.pending.splice(0).forEach((f) => f());
  if (app.drainer.state !== 'active') await within(app.drainer.force('test over'), 10_000, 'forced drain').catch(() => undefined);
  await within(app.nest.close(), 10_000, 'app.close').catch(() => undefined);
  app.drainer.detach();
  app.server.closeAllConnections();
  if (app.server.listening) await within(new Promise((resolve) => app.server.close(resolve)), 10_000, 'server.close()');
}

for (const [name, start] of Object.entries(flavours)) {
  describe(`docs recipe: NestJS, ${name}`, () => {
    it('readiness 503 from the drain start, liveness 200, window and in-flight requests closed, Nest hooks after the last response', async () => {
      const app = await start();
      const { shared } = app;
      try {
        const result = await assertRecipeContract(
          {
            ...app,
            phasesSeen: shared.phasesSeen,
            waiting: () => shared.pending.length,
            release: () => shared.pending.splice(0).forEach((f) => f()),
          },
          {
            drainStarted: (drained) => void drained.then(() => shared.order.push('drain resolved'), () => undefined),
            // The drain waits for /slow: Nest's own shutdown has not begun.
            beforeRelease: () => assert.deepEqual(shared.order, []),
          },
        );
        assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['nest', 'ok']]);
        // `drained.then` above was registered before the contract's own await, so it has run.
        assert.deepEqual(shared.order, [
          '/slow finished',
          'onModuleDestroy',
          'beforeApplicationShutdown',
          'onApplicationShutdown',
          'drain resolved',
        ]);
      } finally {
        // Cleanup never masks the assertion that failed.
        await stop(app).catch(() => undefined);
      }
    });
  });
}
