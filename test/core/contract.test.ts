/**
 * The drain contract, run against every server flavour: http, https, h2c and h2 (TLS with
 * allowHTTP1). Real sockets on 127.0.0.1 port 0, real clients, completion awaited by events.
 */
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { describe, it } from 'node:test';
import { createDrainer, type Drainer, type DrainerOptions } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { FLAVOURS, connectH2, expectRefused, get, listen, makeServer, until, type AnyServer, type Flavour } from '../helpers/servers.js';

/** Hang guard for a drain or a request during one (never a timing assertion). */
const BOUND_MS = 20_000;

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function handler(drainer: Drainer) {
  return (req: Req, res: Res): void => {
    if (drainer.handleHealth(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/work') {
      const t = setTimeout(() => res.end(`worked ${url.searchParams.get('ms')}`), Number(url.searchParams.get('ms')));
      res.once('close', () => clearTimeout(t));
    } else if (url.pathname === '/hang') {
      // never answers: only the drain timeout ends it
    } else {
      res.end('ok');
    }
  };
}

async function start(flavour: Flavour, options: DrainerOptions): Promise<{ server: AnyServer; drainer: Drainer; port: number }> {
  const server = makeServer(flavour);
  const drainer = createDrainer(server, { signals: false, ...options });
  server.on('request', handler(drainer));
  const port = await listen(server);
  return { server, drainer, port };
}

for (const flavour of FLAVOURS) {
  const h2 = flavour === 'h2' || flavour === 'h2c';

  describe(`drain contract: ${flavour}`, { timeout: 60_000 }, () => {
    it('readiness flips to 503 on the first probe after the drain starts; liveness stays 200', async () => {
      // The window must outlast the probes below (new connections) even on a loaded machine.
      const { drainer, port } = await start(flavour, { deregister: { mode: 'fixed', delayMs: 1_500 } });
      assert.equal((await get(flavour, port, '/readyz')).status, 200);
      const done = drainer.drain('test');
      assert.equal(drainer.state, 'draining');
      const probe = await withDeadline(get(flavour, port, '/readyz'), BOUND_MS, 'the readiness probe during the window');
      assert.equal(probe.status, 503);
      assert.equal((await withDeadline(get(flavour, port, '/healthz'), BOUND_MS, 'the liveness probe during the window')).status, 200);
      if (!h2) assert.equal(probe.headers.connection, 'close');
      const result = await withDeadline(done, BOUND_MS, 'the drain to end after the probes');
      assert.equal(result.success, true);
      assert.equal(drainer.state, 'stopped');
    });

    it('serves new connections during the window, completes in-flight work, then refuses', async () => {
      // Long enough for the fresh connection below to land in it on a loaded machine.
      const { drainer, port } = await start(flavour, { deregister: { mode: 'fixed', delayMs: 1_500 } });
      const session = h2 ? connectH2(flavour, port) : undefined;
      const slow = get(flavour, port, '/work?ms=600', session);
      await until(() => drainer.inflight === 1, 10_000, 'the slow request to be in flight');
      const done = drainer.drain();
      // A fresh connection during the window is accepted and served, with Connection: close.
      const during = await withDeadline(get(flavour, port, '/'), BOUND_MS, 'the answer on a fresh connection during the window');
      assert.equal(during.status, 200);
      if (!h2) assert.equal(during.headers.connection, 'close');
      const slowReply = await withDeadline(slow, BOUND_MS, 'the in-flight slow request to be answered during the drain');
      assert.equal(slowReply.status, 200);
      assert.equal(slowReply.body, 'worked 600');
      if (!h2) assert.equal(slowReply.headers.connection, 'close');
      const result = await withDeadline(done, BOUND_MS, 'the drain to complete once the slow request is answered');
      assert.equal(result.outcome, 'completed');
      assert.equal(result.requestsAtStart, 1);
      // The slow request and the one served during the window; no probe ran during the drain.
      assert.strictEqual(result.requestsCompleted, 2);
      assert.strictEqual(result.requestsRemaining, 0);
      assert.strictEqual(result.connectionsForced, 0);
      assert.equal(result.window.endedBy, 'fixed');
      assert.equal(drainer.inflight, 0);
      assert.deepEqual(result.phases.map((p) => p.phase), ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
      assert.equal(await expectRefused(port), 'ECONNREFUSED');
      session?.destroy();
    });

    it('forces what remains at the drain timeout and counts it', async () => {
      const { drainer, port } = await start(flavour, { deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 300 });
      const hung = get(flavour, port, '/hang').then(
        () => 'answered',
        () => 'failed',
      );
      await until(() => drainer.inflight === 1, 10_000, 'the hung request');
      const result = await withDeadline(drainer.drain(), BOUND_MS, 'the drain to be forced at its 300 ms timeout');
      assert.equal(result.success, false);
      assert.equal(result.outcome, 'forced');
      assert.equal(result.requestsRemaining, 1);
      assert.equal(result.forcedBy, 'timeout');
      // One connection carried the hung request, HTTP/2 session and its socket counted once.
      assert.strictEqual(result.connectionsForced, 1, 'the one connection that carried the hung request');
      assert.equal(await withDeadline(hung, BOUND_MS, 'the hung request to fail once the drain forced it'), 'failed');
      assert.ok(result.phases.some((p) => p.phase === 'forcing'));
    });

    it('force() during the window skips the rest and destroys what is left', async () => {
      const { drainer, port } = await start(flavour, { deregister: { mode: 'fixed', delayMs: 30_000 } });
      const hung = get(flavour, port, '/hang').catch(() => 'failed');
      await until(() => drainer.inflight === 1, 10_000, 'the hung request');
      const first = drainer.drain();
      const again = drainer.drain();
      assert.equal(first, again, 'a second drain() joins the first');
      const forced = await withDeadline(drainer.force('second signal'), BOUND_MS, 'force() during the window to end the drain');
      assert.equal(forced.outcome, 'forced');
      assert.equal(forced.window.endedBy, 'skipped');
      assert.equal(forced.forcedBy, 'force');
      assert.equal(forced.forceReason, 'second signal');
      assert.strictEqual(forced.requestsRemaining, 1);
      assert.equal(await withDeadline(hung, BOUND_MS, 'the hung request to fail once force() destroyed it'), 'failed');
    });
  });
}
