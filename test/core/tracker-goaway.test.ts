/**
 * Persistent responses (SSE streams, parked long-polls) leave the in-flight set, but not the
 * connection rules of a drain: once one ends during the drain its connection closes (a FIN after
 * the response, then a half-close held for the client's FIN), so the client's reconnect goes to
 * a new connection, through the balancer, instead of back to this instance on the same socket.
 * Checked on raw sockets: the bytes on the wire, the FIN, and what a second request gets.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer, type Drainer, type DrainerOptions } from '../../src/index.js';
import { parkLongPoll, type LongPoll } from '../../src/integrations/long-poll.js';
import { openEventStream } from '../../src/integrations/sse.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';

/** The window ends when the test sends one readiness probe: no timer decides what lands in it. */
const PROBE_ENDS_WINDOW: DrainerOptions['deregister'] = { mode: 'adaptive', minMs: 0, maxMs: 60_000, quietMs: 0, probeFailureThreshold: 1 };

interface Harness {
  readonly server: http.Server;
  readonly drainer: Drainer;
  readonly port: number;
  readonly polls: LongPoll[];
  /** Requests the application saw, by path. */
  readonly seen: string[];
  close(): void;
}

async function start(options: DrainerOptions): Promise<Harness> {
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, persistentSpreadMs: 0, lingerMs: 10_000, drainTimeoutMs: 20_000, ...options });
  const polls: LongPoll[] = [];
  const seen: string[] = [];
  server.on('request', (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    seen.push(req.url ?? '');
    if (req.url === '/events') {
      const stream = openEventStream(drainer, req, res, { reconnectMs: 50, keepAliveMs: 0 });
      stream.send('hello');
    } else if (req.url === '/poll') {
      polls.push(parkLongPoll(drainer, res));
    } else {
      res.end('plain');
    }
  });
  const port = await listen(server);
  return {
    server,
    drainer,
    port,
    polls,
    seen,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Sends one readiness probe on a connection of its own; answered 503, it ends the window. */
async function probe(port: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  await r.text();
  return r.status;
}

describe('persistent responses close their connection after a drain', { timeout: 60_000 }, () => {
  it('an SSE stream opened before the drain: the go-away is followed by a FIN, and a reconnect on the same socket is not served', async () => {
    const h = await start({ deregister: PROBE_ENDS_WINDOW });
    const c = await RawClient.connect(h.port);
    try {
      c.write(get('/events'));
      await c.waitFor((x) => x.data.includes('data: hello'), 'the stream to open');
      assert.match(c.data, /connection: keep-alive/i, 'opened before the drain: a kept-alive connection');
      assert.equal(h.drainer.persistent.size, 1);
      const done = h.drainer.drain('test');
      assert.equal(await probe(h.port), 503);
      await c.waitFor((x) => x.data.includes('event: drainkit-reconnect'), 'the go-away event');
      await c.waitFor((x) => x.ended, 'the server FIN after the go-away');
      assert.match(c.data, /retry: 50\n/);
      assert.match(c.data, /0\r\n\r\n$/, 'the chunked stream ended cleanly before the FIN');
      assert.equal(h.drainer.state, 'draining', 'the half-close is held for the client FIN');
      // The EventSource reconnects on this socket. Node still parses the request and hands it
      // to the application, but it cannot be answered and is counted nowhere.
      c.write(get('/events', 'Last-Event-ID: 1\r\n'));
      await until(() => h.seen.length === 2, 10_000, 'the server to read the reconnect');
      assert.equal(h.drainer.persistent.size, 0, 'the reconnect is not counted as a persistent connection');
      assert.equal(h.drainer.inflight, 0, 'nor in flight');
      c.socket.end();
      await c.waitFor((x) => x.closed, 'the connection to close');
      assert.equal(c.error, undefined, 'closed without a reset');
      assert.equal(c.responses(), 1, 'the reconnect on the same socket got no response');
      const result = await within(done, 'the drain to end');
      assert.equal(result.success, true);
      assert.equal(result.connectionsForced, 0);
      assert.deepEqual(result.persistentClosed, { sse: { clean: 1, terminated: 0 } });
    } finally {
      c.socket.destroy();
      h.close();
    }
  });

  it('a long-poll parked before the drain and answered by the application in the window carries Connection: close and closes its connection', async () => {
    const h = await start({ deregister: PROBE_ENDS_WINDOW });
    const c = await RawClient.connect(h.port);
    try {
      c.write(get('/poll'));
      await until(() => h.polls.length === 1, 10_000, 'the poll to be parked');
      assert.equal(h.drainer.inflight, 0);
      const done = h.drainer.drain('test');
      assert.equal(h.drainer.phase, 'deregistering');
      assert.equal(h.polls[0]!.respond(200, 'message'), true);
      await c.waitFor((x) => x.ended && x.data.includes('message'), 'the answer and the server FIN');
      assert.match(c.data, /^HTTP\/1\.1 200/);
      assert.match(c.data, /connection: close/i, 'headers not yet sent at drain start: marked Connection: close');
      assert.equal(h.drainer.phase, 'deregistering', 'still in the window: the FIN came from the answer, not the listener closing');
      c.write(get('/poll'));
      await until(() => h.polls.length === 2, 10_000, 'the server to read the second poll');
      assert.equal(h.drainer.persistent.size, 0, 'the second poll on the half-closed socket is not counted');
      c.socket.end();
      await c.waitFor((x) => x.closed, 'the connection to close');
      assert.equal(c.error, undefined, 'closed without a reset');
      assert.equal(c.responses(), 1);
      assert.equal(await probe(h.port), 503);
      const result = await within(done, 'the drain to end');
      assert.equal(result.success, true);
      assert.equal(result.connectionsForced, 0);
      assert.deepEqual(result.persistentClosed, { 'long-poll': { clean: 1, terminated: 0 } });
    } finally {
      c.socket.destroy();
      h.close();
    }
  });

  it('a long-poll answered by the go-away keeps the half-close until the client FIN (no destroy right after the answer)', async () => {
    const h = await start({ deregister: { mode: 'fixed', delayMs: 0 } });
    const c = await RawClient.connect(h.port);
    try {
      c.write(get('/poll'));
      await until(() => h.polls.length === 1, 10_000, 'the poll to be parked');
      const done = h.drainer.drain('test');
      await c.waitFor((x) => x.ended, 'the drain answer and the server FIN');
      assert.match(c.data, /^HTTP\/1\.1 204/);
      assert.match(c.data, /connection: close/i);
      assert.equal(h.polls[0]!.answeredByDrain, true);
      // The answer is out and the persistent set is empty, yet the drain waits: the socket is
      // half-closed, still reading, until the client closes its side.
      assert.equal(h.drainer.persistent.size, 0);
      assert.equal(h.drainer.state, 'draining', 'the socket lingers for the client FIN');
      c.write(get('/poll'));
      c.socket.end();
      await c.waitFor((x) => x.closed, 'the connection to close');
      assert.equal(c.error, undefined, 'closed without a reset');
      assert.equal(c.responses(), 1);
      const result = await within(done, 'the drain to end');
      assert.equal(result.success, true);
      assert.equal(result.connectionsForced, 0);
    } finally {
      c.socket.destroy();
      h.close();
    }
  });
});
