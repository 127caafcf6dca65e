/**
 * drainkit/ws in process: real ws servers (server mode and noServer) and real clients (ws, and a
 * raw socket that never answers the close frame) on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions } from '../../src/core/types.js';
import { drainWebSockets, type WebSocketDrain, type WebSocketDrainOptions } from '../../src/integrations/ws.js';
import { deafWebSocket, fetchText, listen, next, within } from './clients.js';

type Mode = 'server' | 'noServer';

interface Setup {
  server: http.Server;
  port: number;
  drainer: Drainer;
  wss: WebSocketServer;
  sockets: WebSocketDrain;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(mode: Mode, drainerOptions: DrainerOptions = {}, wsOptions?: WebSocketDrainOptions): Promise<Setup> {
  const server = http.createServer((_req, res) => res.end('ok\n'));
  const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0, ...drainerOptions });
  let wss: WebSocketServer;
  if (mode === 'server') {
    wss = new WebSocketServer({ server, path: '/ws' });
  } else {
    wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const sockets = drainWebSockets(drainer, wss, wsOptions);
  const port = await listen(server);
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
    for (const c of wss.clients) c.terminate();
  });
  return { server, port, drainer, wss, sockets };
}

async function connect(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  ws.on('error', () => undefined);
  await next(ws, 'open');
  return ws;
}

/** The server side of the first connection (ws emits 'connection' just after the 101 is written). */
async function serverSocket(wss: WebSocketServer): Promise<WebSocket> {
  const [first] = wss.clients;
  if (first) return first;
  const [ws] = await next<[WebSocket]>(wss, 'connection');
  return ws;
}

for (const mode of ['server', 'noServer'] as const) {
  describe(`drainkit/ws (${mode} mode)`, () => {
    it('counts a socket as persistent, sends it 1001 on drain and completes after the handshake', async () => {
      const { port, drainer, sockets } = await setup(mode);
      const client = await connect(port);
      client.send('hello');
      const [echo] = await next<[Buffer]>(client, 'message');
      assert.equal(echo.toString(), 'hello');
      assert.equal(drainer.persistent.size, 1);
      assert.equal(drainer.inflight, 0);

      const closed = next<[number, Buffer]>(client, 'close');
      const result = await within(drainer.drain(), 10_000, 'drain');
      const [code, reason] = await closed;
      assert.equal(code, 1001);
      assert.equal(reason.toString(), 'going away');
      assert.equal(result.success, true);
      assert.equal(result.persistentRemaining, 0);
      assert.deepEqual(sockets.stats, { open: 0, goingAway: 1, closedClean: 1, terminated: 0, refused: 0 });
      assert.deepEqual(result.persistentClosed, { websocket: { clean: 1, terminated: 0 } });
      // The integration closed it: nothing left for the unmanaged-upgrade sweep.
      assert.equal(result.upgradesClosed, 0);
    });

    it('terminates a client that ignores the close frame at the close timeout, and the drain still completes', async () => {
      const { port, drainer, sockets, wss } = await setup(mode, { drainTimeoutMs: 20_000 }, { closeTimeoutMs: 300 });
      const deaf = deafWebSocket(port);
      assert.match(await within(deaf.head, 10_000, 'the handshake answer'), /^HTTP\/1\.1 101 /);
      const serverSide = await serverSocket(wss);
      assert.equal(drainer.persistent.size, 1);
      const serverClosed = next(serverSide, 'close');

      const started = Date.now();
      const result = await within(drainer.drain(), 10_000, 'drain');
      await within(deaf.closed, 5_000, 'deaf client closed by the server');
      await within(serverClosed, 5_000, 'server side closed');
      // Far below the 20 s drain timeout: the close timeout ended it, not the drain's force.
      assert.ok(Date.now() - started < 10_000);
      assert.equal(result.success, true);
      const frames = deaf.received();
      // The server's close frame: FIN + opcode 8, then the code 1001 (0x03e9).
      const at = frames.indexOf(Buffer.from([0x88]));
      assert.ok(at > 0, 'a close frame was received');
      assert.equal(frames.readUInt16BE(at + 2), 1001);
      assert.deepEqual(sockets.stats, { open: 0, goingAway: 1, closedClean: 0, terminated: 1, refused: 0 });
      assert.deepEqual(result.persistentClosed, { websocket: { clean: 0, terminated: 1 } });
      assert.equal(result.upgradesClosed, 0);
    });

    it('refuses an upgrade with 503 once the persistent shutdown began', async () => {
      // drain-start with a long window: the listener stays open while sockets are told to go away.
      const { port, drainer, sockets } = await setup(mode, { persistentShutdown: 'drain-start', deregister: { mode: 'fixed', delayMs: 60_000 } });
      const drained = drainer.drain();
      assert.equal(drainer.persistent.shuttingDown, true);
      const late = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      late.on('error', () => undefined);
      const [, res] = await next<[http.ClientRequest, http.IncomingMessage]>(late, 'unexpected-response');
      assert.equal(res.statusCode, 503);
      res.resume();
      // A plain request is still served during the window.
      const plain = await fetchText(`http://127.0.0.1:${port}/`);
      assert.equal(plain.status, 200);
      if (mode === 'server') {
        assert.equal(sockets.stats.refused, 1);
        // An upgrade to a path ws does not serve gets 400 rather than hanging: drainkit's own
        // upgrade listener only watches, so the integration is the one left to answer.
        const stray = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`);
        stray.on('error', () => undefined);
        const [, strayRes] = await within(next<[http.ClientRequest, http.IncomingMessage]>(stray, 'unexpected-response'), 10_000, 'an answer to the stray upgrade');
        assert.equal(strayRes.statusCode, 400);
        strayRes.resume();
      }
      const result = await within(drainer.force(), 10_000, 'force');
      assert.equal(result.outcome, 'forced');
      assert.equal(await within(drained, 10_000, 'the drain promise'), result);
    });

    it('terminates sockets still open when the drain is forced', async () => {
      const { port, drainer, sockets, wss } = await setup(mode, { drainTimeoutMs: 300 }, { closeTimeoutMs: 60_000 });
      const deaf = deafWebSocket(port);
      assert.match(await within(deaf.head, 10_000, 'the handshake answer'), /^HTTP\/1\.1 101 /);
      const serverSide = await serverSocket(wss);
      const result = await within(drainer.drain(), 10_000, 'drain');
      await within(deaf.closed, 5_000, 'deaf client closed');
      await within(next(serverSide, 'close'), 5_000, 'server side closed');
      assert.equal(result.outcome, 'forced');
      assert.equal(result.persistentRemaining, 1);
      assert.deepEqual(result.persistentClosed, { websocket: { clean: 0, terminated: 1 } });
      assert.equal(sockets.stats.terminated, 1);
      assert.equal(sockets.stats.open, 0);
    });
  });
}

describe('drainkit/ws options and detach', () => {
  it('rejects bad options with a message naming the option', () => {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false });
    const wss = new WebSocketServer({ noServer: true });
    assert.throws(() => drainWebSockets(drainer, wss, { closeTimeoutMs: -1 }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /closeTimeoutMs/ });
    assert.throws(() => drainWebSockets(drainer, wss, { closeCode: 1006 + 10_000 }), { code: 'ERR_DRAINKIT_INVALID_OPTION' });
    assert.throws(() => drainWebSockets(drainer, wss, { closeReason: 'x'.repeat(124) }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /123/ });
    assert.throws(() => drainWebSockets(drainer, wss, { closeTimeout: 5 } as never), { code: 'ERR_DRAINKIT_UNKNOWN_OPTION' });
    drainer.detach();
  });

  it('accepts exactly the close codes ws can send (its own isValidStatusCode), and names the option otherwise', () => {
    // ws's own rule, from its source file (its package exports no subpath): the codes it throws
    // on at close time, inside the drain, are the codes drainWebSockets must refuse up front.
    const require = createRequire(import.meta.url);
    const { isValidStatusCode } = require(join(dirname(require.resolve('ws')), 'lib', 'validation.js')) as { isValidStatusCode: (code: number) => boolean };
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false });
    const wss = new WebSocketServer({ noServer: true });
    const mismatches: string[] = [];
    for (let code = 0; code <= 5_100; code++) {
      let accepted = true;
      try {
        drainWebSockets(drainer, wss, { closeCode: code }).detach();
      } catch (err) {
        accepted = false;
        assert.equal((err as { code?: string }).code, 'ERR_DRAINKIT_INVALID_OPTION');
        assert.match((err as Error).message, new RegExp(`option "closeCode" is ${code}; accepted: .*1000 to 1003, 1007 to 1014 or 3000 to 4999`));
      }
      if (accepted !== isValidStatusCode(code)) mismatches.push(`${code}: drainkit ${accepted ? 'accepts' : 'refuses'}, ws ${isValidStatusCode(code) ? 'sends' : 'throws'}`);
    }
    assert.deepEqual(mismatches, []);
    for (const code of [1005, 1006, 1004, 1015]) assert.throws(() => drainWebSockets(drainer, wss, { closeCode: code }), { code: 'ERR_DRAINKIT_INVALID_OPTION' });
    for (const bad of [1001.5, '1001', Number.NaN]) {
      assert.throws(() => drainWebSockets(drainer, wss, { closeCode: bad as number }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /closeCode/ });
    }
    drainer.detach();
  });

  it('rejects what is not a drainer or a WebSocketServer with a DrainkitError naming the argument', () => {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false });
    const wss = new WebSocketServer({ noServer: true });
    for (const bad of [{}, undefined, null, server]) {
      assert.throws(() => drainWebSockets(drainer, bad as never), {
        name: 'DrainkitError',
        code: 'ERR_DRAINKIT_INVALID_ARGUMENT',
        message: /drainWebSockets\(drainer, wss\) got .* as wss; accepted: a ws 8 WebSocketServer/,
      });
    }
    for (const bad of [{}, undefined, server]) {
      assert.throws(() => drainWebSockets(bad as never, wss), { name: 'DrainkitError', code: 'ERR_DRAINKIT_INVALID_ARGUMENT', message: /as drainer; accepted: the drainer returned by createDrainer/ });
    }
    assert.throws(() => drainWebSockets(drainer, wss, 5 as never), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /options are 5; accepted: an object/ });
    drainer.detach();
  });

  it('logs a close that fails and terminates that socket at once instead of leaving it to the forced end', async () => {
    // A WebSocket class whose close() throws (ws lets an application supply its own class): the
    // failure must be logged, and the socket ended now, not 30 s later by the drain timeout.
    class BrokenClose extends WebSocket {
      override close(): void {
        throw new Error('close is broken here');
      }
    }
    const logged: { obj: Record<string, unknown>; msg: string | undefined }[] = [];
    const logger = { info: () => undefined, warn: () => undefined, error: (obj: object, msg?: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }) };
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false, logger, drainTimeoutMs: 30_000, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0 });
    const wss = new WebSocketServer({ server, path: '/ws', WebSocket: BrokenClose });
    const sockets = drainWebSockets(drainer, wss);
    const port = await listen(server);
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const client = await connect(port);
    await serverSocket(wss);
    const clientClosed = next<[number]>(client, 'close');

    const result = await within(drainer.drain(), 10_000, 'drain (a swallowed close error would leave it to the 30 s timeout)');
    assert.equal(result.outcome, 'completed');
    assert.deepEqual(result.persistentClosed, { websocket: { clean: 0, terminated: 1 } });
    assert.deepEqual(sockets.stats, { open: 0, goingAway: 1, closedClean: 0, terminated: 1, refused: 0 });
    const [code] = await clientClosed;
    assert.equal(code, 1006, 'terminated: no close frame reached the client');
    const failures = logged.filter((l) => l.msg?.includes('close frame failed'));
    assert.equal(failures.length, 1, `one error logged: ${JSON.stringify(logged.map((l) => l.msg))}`);
    assert.equal((failures[0]!.obj.err as Error).message, 'close is broken here');
    assert.equal(failures[0]!.obj.closeCode, 1001);
  });

  it('reports a failed close as a process warning when the drainer has no logger', async () => {
    class BrokenClose extends WebSocket {
      override close(): void {
        throw new Error('close is broken here too');
      }
    }
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false, drainTimeoutMs: 30_000, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0 });
    const wss = new WebSocketServer({ server, path: '/ws', WebSocket: BrokenClose });
    drainWebSockets(drainer, wss);
    const port = await listen(server);
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    await connect(port);
    await serverSocket(wss);
    const warning = next<[Error & { code?: string }]>(process, 'warning');
    const result = await within(drainer.drain(), 10_000, 'drain');
    assert.equal(result.outcome, 'completed');
    const [w] = await warning;
    assert.equal(w.code, 'DRAINKIT_INTEGRATION_ERROR');
    assert.match(w.message, /close frame failed.*close is broken here too/);
  });

  it('detach restores every listener count, the persistent-shutdown subscription included', async () => {
    const { server, drainer, wss, port } = await setup('server');
    const client = await connect(port);
    const serverSide = await serverSocket(wss);
    // Every event of every emitter the integration touches, by name: the drainer's
    // persistentShutdown (what the integration subscribes to), the server's upgrade, the wss's
    // connection, the socket's close.
    const emitters = { drainer: drainer as unknown as NodeJS.EventEmitter, server, wss, socket: serverSide };
    const counts = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const [name, emitter] of Object.entries(emitters)) {
        for (const event of emitter.eventNames()) out[`${name}.${String(event)}`] = emitter.listenerCount(event);
      }
      return out;
    };
    // setup() already attached once; measure a second attach against the state before it.
    const before = counts();
    const second = drainWebSockets(drainer, wss);
    const attached = counts();
    assert.equal(attached['drainer.persistentShutdown'], (before['drainer.persistentShutdown'] ?? 0) + 1, 'the second attach subscribed to persistentShutdown');
    assert.equal(attached['server.upgrade'], before['server.upgrade']! + 1);
    assert.equal(attached['wss.connection'], before['wss.connection']! + 1);
    assert.equal(attached['socket.close'], before['socket.close']! + 1);
    second.detach();
    assert.deepEqual(counts(), before);

    // And the detached integration no longer acts: the drain's persistent shutdown goes only
    // through the first attach (one going-away close, counted once).
    const closed = next<[number]>(client, 'close');
    const result = await within(drainer.drain(), 10_000, 'drain');
    assert.equal((await closed)[0], 1001);
    assert.deepEqual(second.stats, { open: 0, goingAway: 0, closedClean: 0, terminated: 0, refused: 0 });
    assert.deepEqual(result.persistentClosed, { websocket: { clean: 1, terminated: 0 } });
  });
});
