/**
 * Kept-alive HTTP/1.1 connections across a drain, on raw sockets: idle ones stay open through
 * the deregistration window (the balancer may still send on them) and are closed with a FIN
 * once the listener closes; one whose keep-alive response ends after that is ended and held
 * half-closed, never destroyed under a request the client already sent.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer, type Drainer, type DrainerOptions } from '../../src/index.js';
import { listen } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';

async function start(options: DrainerOptions) {
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, lingerMs: 10_000, drainTimeoutMs: 20_000, ...options });
  /** Responses to `/held` write their headers and a first chunk, then wait for the test. */
  const held: ((tail: string) => void)[] = [];
  server.on('request', (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    if (req.url === '/held') {
      res.writeHead(200, { 'content-length': '8' });
      res.write('head');
      held.push((tail) => res.end(tail));
    } else {
      res.end('ok');
    }
  });
  const port = await listen(server);
  const close = (): void => {
    server.closeAllConnections();
    server.close();
  };
  return { server, drainer, port, held, close };
}

function onPhase(drainer: Drainer, phase: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (p: string): void => {
      if (p !== phase) return;
      drainer.off('phase', listener);
      resolve();
    };
    drainer.on('phase', listener);
  });
}

describe('kept-alive connections across a drain', { timeout: 60_000 }, () => {
  it('idle keep-alive connections survive the deregistration window, serve requests in it, and are closed only when the listener closes', async () => {
    // The window ends when the test sends a readiness probe: nothing timed decides what lands in it.
    const h = await start({ deregister: { mode: 'adaptive', minMs: 0, maxMs: 60_000, quietMs: 0, probeFailureThreshold: 1 } });
    const reused = await RawClient.connect(h.port);
    const idle = await RawClient.connect(h.port);
    const clients = [reused, idle];
    try {
      for (const c of clients) {
        c.write(get('/'));
        await c.waitFor((x) => x.responses() === 1, 'a first keep-alive response');
        assert.match(c.data, /connection: keep-alive/i);
      }
      const done = h.drainer.drain('test');
      let idleEndedAtWindowEnd: boolean | undefined;
      h.drainer.once('windowEnd', () => (idleEndedAtWindowEnd = idle.ended || idle.closed));
      // The balancer still routes here until it has seen the 503: a request it sends on a pooled
      // connection that was idle at drain start must be served, not met by a closed socket.
      reused.data = '';
      reused.write(get('/'));
      await reused.waitFor((x) => x.ended || x.error !== undefined, 'the answer in the window and the FIN after it');
      assert.equal(reused.responses(), 1, 'the request on the connection idle at drain start was served');
      assert.equal(h.drainer.phase, 'deregistering', 'served inside the window');
      assert.match(reused.data, /^HTTP\/1\.1 200/);
      assert.match(reused.data, /connection: close/i);
      assert.equal(reused.error, undefined);
      assert.equal(idle.ended, false, 'the other idle connection is still open in the window');
      const probed = await fetch(`http://127.0.0.1:${h.port}/readyz`);
      assert.equal(probed.status, 503);
      await probed.text();
      await idle.waitFor((x) => x.ended, 'the FIN on the idle connection once the listener closes');
      assert.equal(idleEndedAtWindowEnd, false, 'not closed before the window ended');
      assert.equal(idle.error, undefined, 'a FIN, not a reset');
      assert.equal(idle.responses(), 1);
      for (const c of clients) c.socket.end();
      const result = await within(done, 'the drain to end');
      assert.equal(result.success, true);
      assert.equal(result.window.endedBy, 'probe-threshold');
      assert.equal(result.connectionsForced, 0);
    } finally {
      for (const c of clients) c.socket.destroy();
      h.close();
    }
  });

  it('a keep-alive response that ends after the listener closed is followed by a FIN and a half-close, not a reset, when the client sends its next request right behind it', async () => {
    const h = await start({ deregister: { mode: 'fixed', delayMs: 0 } });
    const c = await RawClient.connect(h.port);
    try {
      c.write(get('/held'));
      await c.waitFor((x) => x.data.endsWith('head'), 'the headers and first chunk, sent keep-alive before the drain');
      assert.match(c.data, /connection: keep-alive/i);
      const waiting = onPhase(h.drainer, 'waiting');
      const done = h.drainer.drain('test');
      await within(waiting, 'the waiting phase (the listener is closed)');
      assert.equal(h.drainer.inflight, 1);
      // A pooling client sends its next request the moment the previous response is complete,
      // racing whatever the server does with the connection: here, in the same turn in which the
      // tail arrives. A server that destroys the socket meets that request with RST.
      c.socket.on('data', () => {
        if (c.data.endsWith('headtail') && c.responses() === 1) c.write(get('/'));
      });
      h.held[0]!('tail');
      await c.waitFor((x) => x.ended, 'the server FIN after the response');
      assert.match(c.data, /\r\n\r\nheadtail$/, 'the response arrived whole');
      const stateAtFin = h.drainer.state;
      // Half-closed, the server still reads: more bytes from us are read, not answered by RST
      // (a destroyed socket's kernel resets the connection, and the write below fails).
      c.write('\r\n');
      c.socket.end();
      await c.waitFor((x) => x.closed, 'the connection to close');
      assert.equal(c.error, undefined, 'no reset (ECONNRESET, or EPIPE on our write)');
      assert.equal(stateAtFin, 'draining', 'held half-closed until the client FIN');
      assert.equal(c.responses(), 1, 'the request behind it is not answered on the closing connection');
      const result = await within(done, 'the drain to end');
      assert.equal(result.success, true);
      assert.equal(result.connectionsForced, 0);
      assert.equal(result.requestsCompleted, 1);
    } finally {
      c.socket.destroy();
      h.close();
    }
  });
});
