/**
 * Connections are counted once each, by their TCP socket, whatever they carry: `connections`
 * while serving and `connectionsForced` when a drain is forced, for HTTP/1.1, HTTPS, h2c and h2
 * (TLS, with allowHTTP1). An HTTP/2 session and the socket under it are one connection.
 */
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { FLAVOURS, connectH2, get, listen, makeServer, tlsMaterial, until } from '../helpers/servers.js';
import { within } from '../helpers/raw.js';

const CONNECTIONS = 2;

describe('connection counts', { timeout: 60_000 }, () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: ${CONNECTIONS} connections with a request in flight each are ${CONNECTIONS} connections, and ${CONNECTIONS} forced`, async () => {
      const server = makeServer(flavour);
      const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
      const onRequest = (): void => undefined; // never answers: only the forced drain ends it
      (server as http.Server).on('request', onRequest);
      const port = await listen(server);
      const sessions: http2.ClientHttp2Session[] = [];
      const replies: Promise<unknown>[] = [];
      try {
        for (let i = 0; i < CONNECTIONS; i++) {
          if (flavour === 'h2' || flavour === 'h2c') {
            const session = connectH2(flavour, port);
            sessions.push(session);
            replies.push(get(flavour, port, '/hang', session).catch(() => 'cut'));
          } else {
            replies.push(get(flavour, port, '/hang').catch(() => 'cut'));
          }
        }
        await until(() => drainer.inflight === CONNECTIONS, 10_000, `${CONNECTIONS} requests in flight`);
        assert.strictEqual(drainer.connections, CONNECTIONS);
        const result = await within(drainer.force('test'), 'the forced drain');
        assert.strictEqual(result.outcome, 'forced');
        assert.strictEqual(result.requestsRemaining, CONNECTIONS);
        assert.strictEqual(result.connectionsForced, CONNECTIONS);
        assert.deepEqual(await within(Promise.all(replies), 'the clients to see their requests cut'), Array(CONNECTIONS).fill('cut'));
        await until(() => drainer.connections === 0, 10_000, 'every socket to close');
      } finally {
        for (const s of sessions) s.destroy();
        server.close();
      }
    });
  }

  it(`h2 with allowHTTP1, HTTP/1.1 clients: ${CONNECTIONS} connections, ${CONNECTIONS} forced (the TLS socket over each is not counted again)`, async () => {
    const server = http2.createSecureServer({ ...tlsMaterial(), allowHTTP1: true });
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
    const versions: string[] = [];
    server.on('request', (req: http2.Http2ServerRequest) => void versions.push(req.httpVersion));
    const port = await listen(server);
    try {
      const replies = Array.from({ length: CONNECTIONS }, () =>
        new Promise<string>((resolve) => {
          const req = https.request({ host: '127.0.0.1', port, path: '/hang', agent: false, ca: tlsMaterial().cert }, (res) => {
            res.resume();
            resolve(`HTTP ${res.statusCode}`);
          });
          req.on('error', () => resolve('cut'));
          req.end();
        }),
      );
      await until(() => drainer.inflight === CONNECTIONS, 10_000, `${CONNECTIONS} HTTP/1.1 requests in flight`);
      assert.deepEqual(versions, Array(CONNECTIONS).fill('1.1'));
      assert.strictEqual(drainer.connections, CONNECTIONS);
      const result = await within(drainer.force('test'), 'the forced drain');
      assert.strictEqual(result.requestsRemaining, CONNECTIONS);
      assert.strictEqual(result.connectionsForced, CONNECTIONS);
      assert.deepEqual(await within(Promise.all(replies), 'the clients to see their requests cut'), Array(CONNECTIONS).fill('cut'));
    } finally {
      server.close();
    }
  });
});
