/**
 * One drain contract over Express 5 and Fastify 5: health routes answer, a request in flight
 * when the drain starts completes, readiness is 503 during the drain while the app still
 * serves, and the server closes at the end. Then what is Fastify's own: the drain ends with
 * fastify.close() (onClose hooks run), and fastify.close() itself drains first.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions } from '../../src/core/types.js';
import { healthRoutes } from '../../src/integrations/express.js';
import { drainkitPlugin } from '../../src/integrations/fastify.js';
import { listen, within, until } from './clients.js';

interface App {
  readonly port: number;
  readonly drainer: Drainer;
  readonly server: http.Server;
  /** Ends the pending `/slow` requests. */
  release(): void;
  /** How many `/slow` requests are waiting. */
  waiting(): number;
  stop(): Promise<void>;
}

const OPTIONS: DrainerOptions = { signals: false, deregister: { mode: 'fixed', delayMs: 300 }, drainTimeoutMs: 10_000 };

const flavours: Record<'express' | 'fastify', () => Promise<App>> = {
  async express() {
    const pending: (() => void)[] = [];
    const app = express();
    const server = http.createServer(app);
    const drainer = createDrainer(server, OPTIONS);
    app.use(healthRoutes(drainer));
    app.get('/slow', (_req, res) => {
      pending.push(() => res.send('slow done'));
    });
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    const port = await listen(server);
    return {
      port, drainer, server,
      release: () => pending.splice(0).forEach((f) => f()),
      waiting: () => pending.length,
      stop: async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    };
  },
  async fastify() {
    const pending: (() => void)[] = [];
    const app = Fastify();
    await app.register(drainkitPlugin, OPTIONS);
    app.get('/slow', () => new Promise<string>((resolve) => pending.push(() => resolve('slow done'))));
    app.get('/', () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    return {
      port: typeof address === 'object' && address ? address.port : 0,
      drainer: app.drainer,
      server: app.server,
      release: () => pending.splice(0).forEach((f) => f()),
      waiting: () => pending.length,
      stop: () => app.close(),
    };
  },
};

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s().catch(() => undefined);
});

for (const [name, start] of Object.entries(flavours)) {
  describe(`drain contract: ${name}`, () => {
    it('answers health routes, completes the in-flight request, is not ready while draining and closes', async () => {
      const app = await start();
      stops.push(() => app.stop());
      const base = `http://127.0.0.1:${app.port}`;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);

      const slow = fetch(`${base}/slow`);
      await until('request in flight', () => app.waiting() === 1);
      assert.equal(app.drainer.inflight, 1);
      const drained = app.drainer.drain();

      // During the window: not ready, alive, and the app still serves.
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(ready.headers.get('connection'), 'close');
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const plain = await fetch(`${base}/`);
      assert.equal(plain.status, 200);
      assert.equal(await plain.text(), 'ok');
      // Express's handler is attached before drainkit's (http.createServer(app)) and answers
      // synchronously: the header still has to be there.
      assert.equal(plain.headers.get('connection'), 'close');

      await until('window over', () => app.drainer.phase === 'waiting');
      app.release();
      const res = await slow;
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('connection'), 'close');
      assert.equal(await res.text(), 'slow done');
      const result = await within(drained, 10_000, 'drain');
      assert.equal(result.success, true);
      assert.equal(result.requestsCompleted >= 2, true);
      assert.equal(app.server.listening, false);
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
    assert.equal(await (await slow).text(), 'done');
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
    assert.equal(await (await slow).text(), 'done');
    await within(closing, 10_000, 'fastify.close()');
    assert.equal(app.drainer.state, 'stopped');
    assert.equal(app.server.listening, false);
  });

  it('passes drainer options through and rejects bad ones', async () => {
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(drainkitPlugin, { drainTimeoutMs: -1 });
    }, { code: 'ERR_DRAINKIT_INVALID_OPTION' });
  });
});
