/**
 * A `withHealth` wrapper answers every request it is given, so it must be the server's only
 * request listener of the application's: one next to another answering listener runs the app
 * twice per request. Function identity cannot see the commonest cases (Koa's `app.listen()`
 * attaches `app.callback()`, a new function at every call; `withHealth((q, s) => app(q, s))` on
 * `http.createServer(app)`), so they are refused by kind, in either order; the quick start's
 * correct forms are accepted and answer once. Real servers on 127.0.0.1, real requests.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type * as net from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import Koa from 'koa';
import { createDrainer, DrainkitError } from '../../src/index.js';
import { healthPaths, healthRoutes } from '../../src/integrations/express.js';
import { get, listen } from '../helpers/servers.js';

const FAST = { signals: false, deregister: { mode: 'fixed', delayMs: 0 } } as const;

function refused(pattern: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof DrainkitError, String(err));
    assert.equal(err.code, 'ERR_DRAINKIT_HANDLER_TWICE');
    assert.match(err.message, pattern);
    return true;
  };
}

function countingKoa(): { app: Koa; calls: () => number } {
  const app = new Koa();
  let calls = 0;
  app.use((ctx) => {
    calls += 1;
    ctx.body = 'koa';
  });
  return { app, calls: () => calls };
}

describe('withHealth next to another request listener is refused', { timeout: 60_000 }, () => {
  it("Koa: app.listen(0), then server.on('request', drainer.withHealth(app.callback())): refused, naming the Koa line; the app still runs once", async () => {
    const { app, calls } = countingKoa();
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const drainer = createDrainer(server, FAST);
    try {
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the misuse as a user writes it
      assert.throws(() => server.on('request', drainer.withHealth(app.callback())), refused(/drainer\.withHealth\(app\.callback\(\)\) after the last app\.use\(\), and server\.listen\(\) instead of app\.listen\(\)/));
      const port = (server.address() as net.AddressInfo).port;
      assert.equal((await get('http', port, '/')).body, 'koa');
      assert.equal(calls(), 1, 'the Koa app ran once for one request');
    } finally {
      await drainer.drain();
    }
  });

  it('a wrapper of the app (withHealth((q, s) => app(q, s))) on http.createServer(app): refused', () => {
    const app = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('plain');
    const server = http.createServer(app);
    const drainer = createDrainer(server, FAST);
    assert.throws(() => server.on('request', drainer.withHealth((q, s) => app(q, s))), refused(/already has a 'request' listener that is not drainkit's/));
    assert.equal(server.listeners('request').length, 2, "only the app and drainkit's own counter");
    drainer.detach();
  });

  it('the reverse order: another request listener added after a withHealth wrapper is refused', () => {
    const server = http.createServer();
    const drainer = createDrainer(server, FAST);
    server.on('request', drainer.withHealth((_req, res) => void res.end('one')));
    assert.throws(() => server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => void res.end('two')), refused(/Pass that handler to withHealth instead of adding it beside it/));
    assert.throws(() => server.prependListener('request', () => undefined), refused(/is already a 'request' listener of this server/));
    drainer.detach();
  });

  it('a server handed over with a wrapper and another listener is refused at createDrainer, and left as it was', () => {
    const other = createDrainer(http.createServer(), FAST);
    const wrapped = other.withHealth((_req, res) => void res.end('one'));
    other.detach();
    const server = http.createServer((_req, res) => void res.end('two'));
    server.on('request', wrapped);
    const before = server.listeners('request');
    assert.throws(() => createDrainer(server, FAST), refused(/keeping drainer\.withHealth\(…\) as well/));
    assert.deepEqual(server.listeners('request'), before);
  });
});

describe('the quick start forms are accepted and answer once', { timeout: 60_000 }, () => {
  it("Koa: http.createServer() and server.on('request', drainer.withHealth(app.callback()))", async () => {
    const { app, calls } = countingKoa();
    const server = http.createServer();
    const drainer = createDrainer(server, FAST);
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the README's Koa line, as written
    server.on('request', drainer.withHealth(app.callback()));
    const port = await listen(server);
    assert.equal((await get('http', port, '/readyz')).status, 200);
    assert.equal((await get('http', port, '/')).body, 'koa');
    assert.equal(calls(), 1);
    await drainer.drain();
  });

  it('node:http: http.createServer() and withHealth(handler)', async () => {
    let calls = 0;
    const server = http.createServer();
    const drainer = createDrainer(server, FAST);
    server.on('request', drainer.withHealth((_req, res) => {
      calls += 1;
      res.end('plain');
    }));
    const port = await listen(server);
    assert.equal((await get('http', port, '/healthz')).status, 200);
    assert.equal((await get('http', port, '/')).body, 'plain');
    assert.equal(calls, 1);
    await drainer.drain();
  });

  it("Express: app.listen() with app.all(healthPaths(drainer), healthRoutes(drainer)), no withHealth", async () => {
    const app = express();
    let calls = 0;
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const drainer = createDrainer(server, FAST);
    app.all(healthPaths(drainer), healthRoutes(drainer));
    app.get('/', (_req, res) => {
      calls += 1;
      res.send('express');
    });
    const port = (server.address() as net.AddressInfo).port;
    assert.equal((await get('http', port, '/readyz')).status, 200);
    assert.equal((await get('http', port, '/')).body, 'express');
    assert.equal(calls, 1);
    await drainer.drain();
  });

  it('a plain handler given to http.createServer(app) with handleHealth inside: no wrapper, nothing refused', async () => {
    const server = http.createServer();
    const drainer = createDrainer(server, FAST);
    server.on('request', (req, res) => {
      if (drainer.handleHealth(req, res)) return;
      res.end('plain');
    });
    const port = await listen(server);
    assert.equal((await get('http', port, '/readyz')).status, 200);
    assert.equal((await get('http', port, '/')).body, 'plain');
    await drainer.drain();
  });
});
