/**
 * HTTP/2 specifics: the two-phase GOAWAY of RFC 9113 §6.8 as a real client sees it, open
 * streams completing, and sessions opened during the window being served before their GOAWAY.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import * as tls from 'node:tls';
import { get, listen, tlsMaterial, until } from '../helpers/servers.js';
import { within } from '../helpers/raw.js';

function h2server(delayMs: number) {
  const server = http2.createServer();
  const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs } });
  /** Streams to `/gate` wait here until the test answers them. */
  const gated: (() => void)[] = [];
  server.on('stream', (stream, headers) => {
    const url = new URL(String(headers[':path']), 'http://x');
    const answer = (): void => {
      if (stream.closed) return;
      stream.respond({ ':status': 200 });
      stream.end('done');
    };
    if (url.pathname === '/gate') {
      gated.push(answer);
      return;
    }
    const t = setTimeout(answer, Number(url.searchParams.get('ms') ?? 0));
    stream.once('close', () => clearTimeout(t));
  });
  return { server, drainer, release: () => gated.splice(0).forEach((f) => f()), gatedCount: () => gated.length };
}

describe('http2 drain', { timeout: 30_000 }, () => {
  it('sends GOAWAY twice: first with the largest stream id, then the real last one; the open stream completes', async () => {
    const { server, drainer, release } = h2server(300);
    const port = await listen(server);
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const goaways: { code: number; last: number }[] = [];
    client.on('goaway', (code, last) => goaways.push({ code, last }));
    const slow = get('h2c', port, '/gate', client);
    await until(() => drainer.inflight === 1, 10_000, 'the stream');
    const result = drainer.drain();
    // Both frames arrive while the stream is still open; then it completes.
    await until(() => goaways.length >= 2, 10_000, 'the two GOAWAY frames');
    release();
    const reply = await within(slow, 'the gated stream\'s reply');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'done');
    const r = await within(result, 'the drain');
    assert.equal(r.success, true);
    assert.equal(r.requestsAtStart, 1);
    assert.equal(r.requestsCompleted, 1);
    assert.equal(r.connectionsForced, 0);
    assert.deepEqual(goaways.slice(0, 2), [{ code: 0, last: 2 ** 31 - 1 }, { code: 0, last: 1 }], 'the two phases, in order');
    // Node's own session teardown (nghttp2_session_terminate_session, once the last stream has
    // closed) may repeat the final frame while the client is still connected: never with a
    // larger id, never with an error code.
    assert.deepEqual(goaways.slice(2), goaways.slice(2).map(() => ({ code: 0, last: 1 })), 'later GOAWAY frames only repeat the final one');
    assert.ok(goaways.length <= 3, `at most one repeat, saw ${goaways.length} GOAWAY frames`);
    client.destroy();
  });

  it('serves a session opened during the window before sending it GOAWAY', async () => {
    // A window long enough that the late connection surely lands in it on a loaded machine.
    const { server, drainer, release, gatedCount } = h2server(2_000);
    const port = await listen(server);
    const done = drainer.drain();
    const late = http2.connect(`http://127.0.0.1:${port}`);
    const goaways: number[] = [];
    late.on('goaway', (_code, last) => goaways.push(last));
    // The stream is held open until both GOAWAY frames have arrived: a client that got the first
    // one closes its session as soon as its last stream ends, and could otherwise be gone before
    // the final one (after the PING round trip) reaches it.
    const reply = get('h2c', port, '/gate', late);
    await until(() => gatedCount() === 1, 10_000, 'the late session\'s stream');
    await until(() => goaways.length >= 2, 10_000, 'the two GOAWAY frames');
    assert.equal(goaways[0], 2 ** 31 - 1);
    assert.equal(goaways[1], 1, 'the final GOAWAY names the stream being served');
    release();
    const r = await within(reply, 'the late session\'s reply');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'done');
    late.destroy();
    const result = await within(done, 'the drain');
    assert.equal(result.success, true);
    assert.equal(result.requestsCompleted, 1, 'the late stream, served');
    assert.deepEqual(goaways.slice(0, 2), [2 ** 31 - 1, 1], 'the two phases, in order');
  });
});

describe('HTTP/1.1 on an http2 server with allowHTTP1', { timeout: 30_000 }, () => {
  it('closes an idle HTTP/1.1 keep-alive connection when the listener closes, and serves in-flight work first', async (t) => {
    const server = http2.createSecureServer({ ...tlsMaterial(), allowHTTP1: true });
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
    server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      const ms = req.url === '/slow' ? 300 : 0;
      setTimeout(() => res.end(`http/${req.httpVersion}`), ms);
    });
    const port = await listen(server);
    // Two HTTP/1.1 connections (ALPN http/1.1): one idle after a request, one with a request in flight.
    const connect = () => tls.connect({ host: '127.0.0.1', port, ca: tlsMaterial().cert, ALPNProtocols: ['http/1.1'] });
    const idle = connect();
    const busy = connect();
    t.after(() => {
      idle.destroy();
      busy.destroy();
      server.close();
      drainer.detach();
    });
    const read = (s: tls.TLSSocket) => {
      const state = { data: '', ended: false };
      s.setEncoding('utf8');
      s.on('data', (d: string) => (state.data += d));
      s.on('end', () => (state.ended = true));
      s.on('error', () => undefined);
      return state;
    };
    const idleState = read(idle);
    const busyState = read(busy);
    let busyAnsweredWhenIdleClosed: boolean | undefined;
    idle.on('end', () => (busyAnsweredWhenIdleClosed = busyState.data.length > 0));
    idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => idleState.data.includes('http/1.1'), 10_000, 'the idle connection\'s first response');
    busy.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => drainer.inflight === 1, 10_000, 'the slow request');
    const result = await within(drainer.drain(), 'the drain');
    assert.equal(result.success, true);
    assert.equal(result.requestsAtStart, 1);
    assert.equal(result.requestsCompleted, 1);
    assert.equal(result.connectionsForced, 0);
    await until(() => idleState.ended, 10_000, 'the idle keep-alive connection to be closed');
    assert.equal(busyAnsweredWhenIdleClosed, false, 'closed when the listener closed, not at the end of the drain');
    assert.match(busyState.data, /connection: close/i);
    assert.match(busyState.data, /http\/1\.1$/);
  });
});
