/**
 * The HTTP/1 in-flight bookkeeping keeps no per-request collection: each socket holds its
 * in-flight response in one slot and, only when the client pipelines, a queue behind it. That
 * leans on Node's HTTP/1 server: a request's 'close' fires exactly once per response, in any
 * order the handler answers pipelined requests, and also for responses still queued behind
 * another when the client resets the connection. Each of those is exercised here with the real
 * drainer and a raw client, and the count must come back to exactly zero (never below).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';

async function start() {
  /** Responses held by the handler, by the `id` of their request, until the test answers them. */
  const held = new Map<string, http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/hold') held.set(url.searchParams.get('id') ?? '', res);
    else res.end('ok');
  });
  const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 20_000 });
  const port = await listen(server);
  const answer = (id: string): void => {
    const res = held.get(id);
    assert.ok(res, `request ${id} is held`);
    held.delete(id);
    res.end(`body-${id}`);
  };
  return { server, drainer, port, held, answer };
}

/** One plain request on a fresh connection: the count must be back at zero after it. */
async function roundTrip(port: number): Promise<void> {
  const c = await RawClient.connect(port);
  c.write(get('/'));
  await c.waitFor((x) => x.responses() === 1, 'a plain response');
  c.socket.destroy();
}

describe('in-flight count with per-socket slots (pipelining leans on Node)', { timeout: 60_000 }, () => {
  it('counts pipelined requests answered out of order until each is written, in order', async () => {
    const h = await start();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/hold?id=1') + get('/hold?id=2') + get('/hold?id=3'));
      await until(() => h.held.size === 3, 10_000, 'three pipelined requests to reach the handler');
      assert.equal(h.drainer.inflight, 3);
      h.answer('3');
      h.answer('2');
      await until(() => h.held.size === 1, 10_000, 'two answers');
      // Node writes pipelined responses in request order: 2 and 3 wait behind 1, still in flight.
      assert.equal(h.drainer.inflight, 3, 'responses queued behind the first are still in flight');
      h.answer('1');
      await c.waitFor((x) => x.responses() === 3, 'three responses');
      assert.deepEqual([...c.data.matchAll(/body-(\d)/g)].map((m) => m[1]), ['1', '2', '3']);
      await until(() => h.drainer.inflight === 0, 10_000, 'all three to be released');
      c.socket.destroy();
      await roundTrip(h.port);
      await until(() => h.drainer.inflight === 0, 10_000, 'the count to stay exact after a new request');
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it('releases pipelined responses queued behind another when the client resets, exactly once', async () => {
    const h = await start();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/hold?id=1') + get('/hold?id=2') + get('/hold?id=3'));
      await until(() => h.held.size === 3, 10_000, 'three pipelined requests to reach the handler');
      assert.equal(h.drainer.inflight, 3);
      c.socket.resetAndDestroy();
      await until(() => h.drainer.inflight === 0, 10_000, 'the reset to release all three');
      // Answering them now (on a dead connection) must not count them out a second time.
      for (const id of ['2', '1', '3']) h.answer(id);
      await roundTrip(h.port);
      await until(() => h.drainer.inflight === 0, 10_000, 'the count back at zero after a new request');
      assert.equal(h.drainer.inflight, 0, 'never below zero');
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it('a pipelined response queued at the drain start is counted out the moment it closes, before its connection does', async () => {
    const h = await start();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/hold?id=1') + get('/hold?id=2'));
      await until(() => h.held.size === 2, 10_000, 'two pipelined requests to reach the handler');
      // The first response's headers go out keep-alive before the drain: the second one follows it.
      h.held.get('1')!.write('part-');
      await c.waitFor((x) => x.data.includes('part-'), 'the first response to begin');
      assert.equal(h.drainer.inflight, 2, 'both in flight before the drain');
      const drained = h.drainer.drain();
      await until(() => h.drainer.state === 'draining', 10_000, 'the drain to start');
      assert.equal(h.drainer.inflight, 2, 'both in flight at the drain start');
      h.answer('2');
      h.answer('1');
      await c.waitFor((x) => x.data.includes('body-2'), 'the second response');
      // The connection stays open (half-closed after the second response's Connection: close,
      // until the client's FIN): only the response's own 'close' can have counted it out, and
      // only its listener keeps the half-close (without it Node destroys the socket at once).
      await until(() => h.drainer.inflight === 0, 10_000, 'both counted out');
      assert.equal(h.drainer.connections, 1, 'counted out while its connection is still open');
      c.socket.end();
      const result = await within(drained, 'the drain to complete');
      assert.equal(result.outcome, 'completed');
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it('a drain started with a pipelined response queued waits for both and completes', async () => {
    const h = await start();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/hold?id=1') + get('/hold?id=2'));
      await until(() => h.held.size === 2, 10_000, 'two pipelined requests to reach the handler');
      const drained = h.drainer.drain();
      h.answer('1');
      await c.waitFor((x) => x.responses() >= 1, 'the first response');
      // The first response tells the client the connection closes; the one queued behind it is
      // never written (no further requests are processed after `Connection: close`), and the
      // connection's close releases it.
      assert.match(c.data, /connection: close/i);
      h.answer('2');
      c.socket.end();
      const result = await within(drained, 'the drain to complete');
      assert.equal(result.outcome, 'completed');
      assert.equal(h.drainer.inflight, 0);
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });
});
