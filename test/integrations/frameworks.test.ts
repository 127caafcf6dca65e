/**
 * Express 5 and Fastify 5 held to the shared drain contract of recipe-contract.ts (readiness 503
 * from the instant `drain()` starts, liveness 200 throughout, a request made during the window
 * served with `Connection: close`, the request in flight at the start completed and counted, the
 * listener closed before the wait), through a keep-alive client. Then what is Fastify's own: the
 * drain ends with fastify.close() (onClose hooks run), and fastify.close() itself drains first.
 * Last, the preStop endpoint on the application's port, with the rule node:http has: served only
 * with the secret header, refused (and logged) otherwise.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions, Logger } from '../../src/core/types.js';
import { PRESTOP_HEADER } from '../../src/core/health.js';
import { healthPaths, healthRoutes } from '../../src/integrations/express.js';
import { drainkitPlugin } from '../../src/integrations/fastify.js';
import { fetchText, listen, next, rawExchange, within, until } from './clients.js';
import { assertRecipeContract, type RecipeApp } from './recipe-contract.js';

// The window is long enough for the few local requests the contract sends during it; whether
// they really arrived in it is checked (`phasesSeen`), not assumed.
const OPTIONS = { signals: false, deregister: { mode: 'fixed', delayMs: 1_000 }, drainTimeoutMs: 10_000 } satisfies DrainerOptions;

interface App extends RecipeApp {
  /** Ends whatever the test left running. */
  stop(): Promise<void>;
}

/** The routes every flavour serves, as the contract expects them. */
interface Routes {
  readonly pending: (() => void)[];
  readonly phasesSeen: string[];
  drainer?: Drainer;
}

function seen(r: Routes): void {
  r.phasesSeen.push(r.drainer?.phase ?? r.drainer?.state ?? 'none');
}

function expressApp(r: Routes): express.Express {
  const app = express();
  app.get('/slow', (_req, res) => {
    r.pending.push(() => res.send('slow done'));
  });
  app.get('/', (_req, res) => {
    seen(r);
    res.send('ok');
  });
  return app;
}

function recipeApp(r: Routes, server: http.Server, stop: () => Promise<void>): App {
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    healthOrigin: origin,
    drainer: r.drainer!,
    server,
    phasesSeen: r.phasesSeen,
    waiting: () => r.pending.length,
    release: () => r.pending.splice(0).forEach((f) => f()),
    stop,
  };
}

async function stopServer(r: Routes, server: http.Server): Promise<void> {
  r.pending.splice(0).forEach((f) => f());
  const drainer = r.drainer!;
  if (drainer.state === 'draining') await within(drainer.force('test over'), 10_000, 'forced drain').catch(() => undefined);
  drainer.detach();
  server.closeAllConnections();
  if (server.listening) await within(new Promise((resolve) => server.close(resolve)), 10_000, 'server.close()');
}

const flavours: Record<string, () => Promise<App>> = {
  /** `http.createServer(app)`, the drainer created before the routes that need it. */
  async 'express, http.createServer(app)'() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = express();
    const server = http.createServer(app);
    const drainer = createDrainer(server, OPTIONS);
    r.drainer = drainer;
    app.use(healthRoutes(drainer));
    app.use(expressApp(r));
    await listen(server);
    return recipeApp(r, server, () => stopServer(r, server));
  },

  /**
   * `app.listen()`, the most common Express shape: the drainer attaches to the server it returns.
   * Health mounted as routes (the README's line), where the flavour above mounts a middleware.
   */
  async 'express, app.listen()'() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = express();
    const server = app.listen(0, '127.0.0.1');
    const drainer = createDrainer(server, OPTIONS);
    r.drainer = drainer;
    app.all(healthPaths(drainer), healthRoutes(drainer));
    app.use(expressApp(r));
    if (!server.listening) await next(server, 'listening');
    return recipeApp(r, server, () => stopServer(r, server));
  },

  /** The plugin: health routes are Fastify routes, the drain ends with fastify.close(). */
  async fastify() {
    const r: Routes = { pending: [], phasesSeen: [] };
    const app = Fastify();
    await app.register(drainkitPlugin, OPTIONS);
    r.drainer = app.drainer;
    app.get('/slow', () => new Promise<string>((resolve) => r.pending.push(() => resolve('slow done'))));
    app.get('/', () => {
      seen(r);
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return recipeApp(r, app.server, async () => {
      r.pending.splice(0).forEach((f) => f());
      if (app.drainer.state === 'draining') await within(app.drainer.force('test over'), 10_000, 'forced drain').catch(() => undefined);
      await within(app.close(), 10_000, 'fastify.close()');
    });
  },
};

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s().catch(() => undefined);
});

for (const [name, start] of Object.entries(flavours)) {
  describe(`drain contract: ${name}`, () => {
    it('readiness 503 from the drain start, liveness 200, window and in-flight requests served with Connection: close, listener closed', async () => {
      const app = await start();
      stops.push(() => app.stop());
      const result = await assertRecipeContract(app);
      if (name === 'fastify') assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['fastify.close', 'ok']]);
      else assert.deepEqual(result.hooks, []);
    });
  });
}

describe('drainkit/fastify', () => {
  it('ends the drain with fastify.close(): the app\'s onClose hooks run after the last request', async () => {
    const order: string[] = [];
    const app: FastifyInstance = Fastify();
    await app.register(drainkitPlugin, { ...OPTIONS, deregister: { mode: 'fixed', delayMs: 0 } });
    app.addHook('onClose', (_i, done) => {
      order.push('onClose');
      done();
    });
    let finish: (() => void) | undefined;
    app.get('/slow', () => new Promise<string>((resolve) => (finish = () => {
      order.push('request done');
      resolve('done');
    })));
    await app.listen({ port: 0, host: '127.0.0.1' });
    stops.push(() => app.close());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const slow = fetch(`http://127.0.0.1:${port}/slow`);
    await until('request in flight', () => finish !== undefined);
    const drained = app.drainer.drain();
    finish!();
    assert.equal(await within(slow.then((r) => r.text()), 10_000, 'the /slow response'), 'done');
    const result = await within(drained, 10_000, 'drain');
    assert.equal(result.success, true);
    assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['fastify.close', 'ok']]);
    assert.deepEqual(order, ['request done', 'onClose']);
  });

  it('fastify.close() drains first: the request in flight completes', async () => {
    const app = Fastify();
    await app.register(drainkitPlugin, { ...OPTIONS, deregister: { mode: 'fixed', delayMs: 0 } });
    let finish: (() => void) | undefined;
    app.get('/slow', () => new Promise<string>((resolve) => (finish = () => resolve('done'))));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const slow = fetch(`http://127.0.0.1:${port}/slow`);
    await until('request in flight', () => finish !== undefined);
    const closing = app.close();
    await until('draining', () => app.drainer.state === 'draining');
    finish!();
    assert.equal(await within(slow.then((r) => r.text()), 10_000, 'the /slow response'), 'done');
    await within(closing, 10_000, 'fastify.close()');
    assert.equal(app.drainer.state, 'stopped');
    assert.equal(app.server.listening, false);
  });

  it('fastify.close() during a drain under way waits for it: the window keeps its listener and idle keep-alive connections', async () => {
    const order: string[] = [];
    const app = Fastify();
    // A window that only force() ends: what happens inside it is observed, not raced.
    await app.register(drainkitPlugin, { ...OPTIONS, deregister: { mode: 'fixed', delayMs: 60_000 } });
    app.addHook('onClose', (_i, done) => {
      order.push('onClose');
      done();
    });
    app.get('/', () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    stops.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    // An idle keep-alive connection, as a balancer's pool holds them.
    const idle = rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(await within(idle.head, 10_000, 'the first response'), /^HTTP\/1\.1 200 /);
    let idleClosed = false;
    void idle.closed.then(() => (idleClosed = true));

    // A drain started elsewhere (a signal, a remote request), then the application's own
    // shutdown code calls fastify.close() inside the window.
    const drained = app.drainer.drain('elsewhere');
    const closing = app.close();
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(app.drainer.phase, 'deregistering');
    assert.equal(app.server.listening, true, 'Fastify did not close the listener inside the window');
    assert.equal(idleClosed, false, 'Fastify did not close idle keep-alive connections inside the window (the race the window exists to avoid)');
    assert.deepEqual(order, []);

    const result = await within(app.drainer.force('test over'), 10_000, 'forced drain');
    await within(closing, 10_000, 'fastify.close()');
    await within(idle.closed, 10_000, 'the idle connection closed by the drain');
    assert.equal(result.reason, 'elsewhere');
    assert.equal(await within(drained, 10_000, 'the drain promise'), result);
    assert.deepEqual(order, ['onClose']);
  });

  it('detaches the drainer once the drain that closed Fastify is over, so nothing is left for the exit to clean up', async () => {
    const app = Fastify();
    await app.register(drainkitPlugin, { ...OPTIONS, deregister: { mode: 'fixed', delayMs: 0 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    stops.push(() => app.close());
    const result = await within(app.drainer.drain(), 10_000, 'drain');
    assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['fastify.close', 'ok']]);
    assert.equal(app.drainer.state, 'stopped');
    // Detached: the server takes a new drainer (an attached one would refuse it).
    const again = createDrainer(app.server, { signals: false });
    again.detach();
  });

  it('passes drainer options through and rejects bad ones', async () => {
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(drainkitPlugin, { drainTimeoutMs: -1 });
    }, { code: 'ERR_DRAINKIT_INVALID_OPTION' });
  });
});

const TOKEN = 'frameworks-prestop-secret';

/** The app with the preStop endpoint, in each flavour: its origin, drainer and what it logged at warn. */
async function preStopApp(flavour: 'express' | 'fastify', health: DrainerOptions['health']): Promise<{ origin: string; drainer: Drainer; warned: Record<string, unknown>[]; stop: () => Promise<void> }> {
  const warned: Record<string, unknown>[] = [];
  const logger: Logger = { info: () => undefined, warn: (fields) => warned.push(fields as Record<string, unknown>), error: () => undefined };
  const options: DrainerOptions = { signals: false, logger, deregister: { mode: 'fixed', delayMs: 400 }, drainTimeoutMs: 5_000, health };
  if (flavour === 'express') {
    const app = express();
    const server = http.createServer(app);
    const drainer = createDrainer(server, options);
    // As routes: the preStop path among them, for GET and POST (app.all).
    app.all(healthPaths(drainer), healthRoutes(drainer));
    app.get('/', (_req, res) => res.send('ok'));
    await listen(server);
    const r: Routes = { pending: [], phasesSeen: [], drainer };
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, drainer, warned, stop: () => stopServer(r, server) };
  }
  const app = Fastify();
  await app.register(drainkitPlugin, options);
  app.get('/', () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    drainer: app.drainer,
    warned,
    stop: async () => {
      if (app.drainer.state === 'draining') await within(app.drainer.force('test over'), 10_000, 'forced drain').catch(() => undefined);
      await within(app.close(), 10_000, 'fastify.close()');
    },
  };
}

for (const flavour of ['express', 'fastify'] as const) {
  describe(`the preStop endpoint on the application's port: ${flavour}`, () => {
    it('refuses it without the secret header (403, logged, no drain), serves it with the header: readiness 503 at once, answered when the window is over', async () => {
      const app = await preStopApp(flavour, { preStopPath: '/prestop', preStopToken: TOKEN });
      stops.push(() => app.stop());
      for (const headers of [{}, { [PRESTOP_HEADER]: 'not-the-secret-at-all' }]) {
        const refused = await fetchText(`${app.origin}/prestop`, { headers });
        assert.deepEqual([refused.status, refused.body], [403, 'forbidden\n']);
      }
      assert.equal(app.drainer.state, 'active', 'a refused call drains nothing');
      assert.deepEqual(app.warned.map((f) => [f.event, f.status, f.port]), [['prestop_refused', 403, 'main'], ['prestop_refused', 403, 'main']]);

      const answer = fetchText(`${app.origin}/prestop`, { headers: { [PRESTOP_HEADER]: TOKEN } });
      await until('the drain to start', () => app.drainer.state === 'draining');
      const ready = await fetchText(`${app.origin}/readyz`);
      assert.equal(ready.status, 503, 'readiness 503 while the hook waits');
      const ok = await answer;
      assert.deepEqual([ok.status, ok.body], [200, 'deregistration window over (fixed)\n']);
    });

    it('without a secret, the main port refuses it (404, logged) and the health port serves it', async () => {
      const app = await preStopApp(flavour, { port: 0, host: '127.0.0.1', preStopPath: '/prestop' });
      stops.push(() => app.stop());
      const refused = await fetchText(`${app.origin}/prestop`, { headers: { [PRESTOP_HEADER]: TOKEN } });
      assert.deepEqual([refused.status, refused.body], [404, 'not found\n'], 'drainkit\'s own refusal, not the framework\'s 404');
      assert.deepEqual(app.warned.map((f) => [f.event, f.status, f.port]), [['prestop_refused', 404, 'main']]);
      assert.equal(app.drainer.state, 'active');
      await until('the health server to listen', () => app.drainer.healthAddress !== undefined);
      const ok = await fetchText(`http://127.0.0.1:${app.drainer.healthAddress!.port}/prestop`, { method: 'POST' });
      assert.deepEqual([ok.status, ok.body], [200, 'deregistration window over (fixed)\n']);
    });
  });
}

describe('healthPaths (drainkit/express)', () => {
  it('lists what healthRoutes answers: readiness, liveness, the preStop path when set; nothing with health: false', () => {
    const make = (health: DrainerOptions['health']): string[] => {
      const drainer = createDrainer(http.createServer(), { signals: false, health });
      try {
        return healthPaths(drainer);
      } finally {
        drainer.detach();
      }
    };
    assert.deepEqual(make(undefined), ['/readyz', '/healthz']);
    assert.deepEqual(make({ readinessPath: '/ready', livenessPath: '/live', port: 0, host: '127.0.0.1', preStopPath: '/prestop' }), ['/ready', '/live', '/prestop']);
    assert.deepEqual(make(false), []);
  });
});
