/**
 * What the lazy in-flight count leans on in Node (docs/internals.md "The in-flight count"),
 * pinned here without drainkit, so that a Node version that changes it fails a test:
 * - A ServerResponse's `closed` (a getter on OutgoingMessage.prototype) is false until Node emits
 *   the response's 'close', and true from then on: after a normal finish (not yet at 'finish'),
 *   after the client resets the connection, after the handler destroys the response.
 * - A pipelined response queued behind another when the client resets the connection: Node 20
 *   emits no 'close' for it and its `closed` stays false (the tracker drops it with its
 *   connection's 'close'); Node 26 emits its 'close', and `closed` is true from then on.
 * - An http, https or http2 (`allowHTTP1`) server that has listened keeps its HTTP/1 connections
 *   in `server[Symbol(http.server.connections)]`, whose `active()` lists the parsers
 *   (`socket.parser`) of the connections reading a request: begun and not complete. Not a
 *   connection between requests, nor one whose request is read and whose response is pending.
 * And drainkit's own part of the design: no listener on a response before the drain.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listen, tlsMaterial, until } from '../helpers/servers.js';
import { RawClient, get } from '../helpers/raw.js';

interface Seen {
  res: http.ServerResponse;
  socket: Socket;
  log: string[];
}

/** An http server whose handler holds every response, logging `closed` at each step. */
async function holding(): Promise<{ server: http.Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const log: string[] = [];
    res.on('finish', () => log.push(`finish closed=${res.closed}`));
    res.on('close', () => log.push(`close closed=${res.closed}`));
    seen.push({ res, socket: req.socket, log });
  });
  return { server, port: await listen(server), seen };
}

function connectionsOf(server: object): { active(): unknown[]; idle(): unknown[] } {
  const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connections');
  assert.ok(key, 'the server has Symbol(http.server.connections)');
  const list = (server as Record<symbol, unknown>)[key] as { active?: unknown; idle?: unknown };
  assert.equal(typeof list.active, 'function', 'its list has active()');
  return list as { active(): unknown[]; idle(): unknown[] };
}

describe("Node behaviour the lazy in-flight count relies on", { timeout: 60_000 }, () => {
  it("a response's closed is false until its 'close' and true from then on", async () => {
    assert.equal(typeof Object.getOwnPropertyDescriptor(http.OutgoingMessage.prototype, 'closed')?.get, 'function');
    const h = await holding();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/finish'));
      await until(() => h.seen.length === 1, 10_000, 'the first request');
      const first = h.seen[0]!;
      assert.equal(first.res.closed, false, 'open while held');
      first.res.end('ok');
      assert.equal(first.res.closed, false, 'not closed by end()');
      await until(() => first.log.length === 2, 10_000, "'finish' and 'close'");
      assert.deepEqual(first.log, ['finish closed=false', 'close closed=true']);
      assert.equal(first.res.closed, true);

      c.write(get('/destroy'));
      await until(() => h.seen.length === 2, 10_000, 'the second request');
      const second = h.seen[1]!;
      second.res.destroy();
      assert.equal(second.res.closed, false, "destroy() alone does not close it: its 'close' comes with the connection's");
      await until(() => second.log.length === 1, 10_000, "'close' after destroy()");
      assert.deepEqual(second.log, ['close closed=true']);

      const c2 = await RawClient.connect(h.port);
      c2.write(get('/reset'));
      await until(() => h.seen.length === 3, 10_000, 'the third request');
      const third = h.seen[2]!;
      c2.socket.resetAndDestroy();
      await until(() => third.log.length === 1, 10_000, "'close' after the client's reset");
      assert.deepEqual(third.log, ['close closed=true']);
      c.socket.destroy();
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it("a pipelined response queued behind another when the client resets: closed is true exactly if it got its 'close'", async () => {
    const h = await holding();
    try {
      const c = await RawClient.connect(h.port);
      c.write(get('/1') + get('/2'));
      await until(() => h.seen.length === 2, 10_000, 'two pipelined requests');
      const [first, queued] = h.seen as [Seen, Seen];
      let socketClosed = false;
      queued.socket.once('close', () => (socketClosed = true));
      c.socket.resetAndDestroy();
      await until(() => socketClosed && first.log.length === 1, 10_000, "the connection's close");
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(first.log, ['close closed=true'], "the response holding the socket gets 'close'");
      // Node 20 emits no 'close' for the queued one (the tracker drops it with its connection's
      // 'close'); Node 26 emits one. Either way `closed` says whether it was emitted.
      if (queued.log.length === 0) assert.equal(queued.res.closed, false, "no 'close': not closed");
      else assert.deepEqual(queued.log, ['close closed=true'], "a 'close': closed from then on");
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  for (const flavour of ['http', 'https', 'h2 (allowHTTP1)'] as const) {
    it(`${flavour}: server[Symbol(http.server.connections)].active() lists exactly the connections reading a request`, async () => {
      const held: http.ServerResponse[] = [];
      let reqSocket: (Socket & { parser?: unknown }) | undefined;
      const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
        reqSocket = req.socket;
        if (req.url === '/hold') held.push(res);
        else if (req.url === '/early') res.end('early'); // before its body is read
        else res.end('ok');
      };
      const server =
        flavour === 'http'
          ? http.createServer(handler)
          : flavour === 'https'
            ? https.createServer(tlsMaterial(), handler)
            : http2.createSecureServer({ ...tlsMaterial(), allowHTTP1: true }, handler as never);
      const port = await listen(server);
      const socket =
        flavour === 'http'
          ? (await RawClient.connect(port)).socket
          : await new Promise<tls.TLSSocket>((resolve, reject) => {
              const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
              s.once('error', reject);
            });
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      const responses = (): number => (data.match(/HTTP\/1\.1 \d{3}/g) ?? []).length;
      try {
        const list = connectionsOf(server);
        const reading = (): boolean => list.active().includes(reqSocket?.parser);
        socket.write(get('/'));
        await until(() => responses() === 1, 10_000, 'the first response');
        assert.ok(reqSocket?.parser, 'the request socket carries its parser');
        assert.equal(reading(), false, 'between requests: not reading');
        assert.ok(list.idle().includes(reqSocket.parser), 'and in idle()');
        socket.write('GET / HTTP/1.1\r\nHo');
        await until(() => reading(), 10_000, 'half a header to count as reading');
        socket.write('st: x\r\n\r\n');
        await until(() => responses() === 2, 10_000, 'the second response');
        await until(() => !reading(), 10_000, 'not reading after it');
        socket.write(get('/hold'));
        await until(() => held.length === 1, 10_000, 'the held request');
        assert.equal(reading(), false, 'a request read whose response is pending: not reading');
        held[0]!.end('held');
        await until(() => responses() === 3, 10_000, 'the held response');
        socket.write('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
        await until(() => responses() === 4, 10_000, 'the early response');
        assert.equal(reading(), true, 'a body still being read after its response: reading');
        socket.write('67890');
        await until(() => !reading(), 10_000, 'not reading once the body is complete');
      } finally {
        socket.destroy();
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close();
      }
    });
  }

  it('drainkit adds no listener to a response before the drain, and its own during the drain', async () => {
    const counts: number[] = [];
    let bareCount = -1;
    const bare = http.createServer((_req, res) => {
      bareCount = res.listenerCount('close');
      res.end('ok');
    });
    const server = http.createServer((_req, res) => {
      counts.push(res.listenerCount('close'));
      res.end('ok');
    });
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 5_000 } });
    const [bp, port] = [await listen(bare), await listen(server)];
    try {
      for (const p of [bp, port]) {
        const c = await RawClient.connect(p);
        c.write(get('/'));
        await c.waitFor((x) => x.responses() === 1, 'a response');
        c.socket.destroy();
      }
      const c = await RawClient.connect(port);
      void drainer.drain();
      await until(() => drainer.state === 'draining', 10_000, 'the drain to start');
      c.write(get('/'));
      await c.waitFor((x) => x.responses() === 1, 'a response in the window');
      c.socket.destroy();
      assert.deepEqual(counts, [bareCount, bareCount + 1]);
    } finally {
      for (const s of [bare, server]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});
