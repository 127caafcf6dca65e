/**
 * The example server's persistent routes as a real child process receiving SIGTERM: a ws client
 * gets 1001 and the process exits promptly; a client that ignores the close frame is terminated
 * at the close timeout and the process still exits within its budget; a pending long-poll is
 * answered at once; SSE ends with its reconnect hint; /poll validates; /metrics answers.
 * Needs `npm run build` (dist/cli/main.js).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { killAll, signalAndWait, spawnServer, type ServerProcess, drainCompleteLine } from '../helpers/processes.js';
import { deafWebSocket, next, within } from './clients.js';

const MAIN = 'dist/cli/main.js';
const started: ServerProcess[] = [];

async function example(...flags: string[]): Promise<ServerProcess> {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
  const p = await spawnServer({
    args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0', '--persistent-spread-ms', '0', ...flags],
  });
  started.push(p);
  return p;
}

const drainLine = drainCompleteLine;

describe('example server: persistent connections', { timeout: 120_000 }, () => {
  after(() => killAll(started));

  it('GET /ws echoes; on SIGTERM the client gets 1001 and the process exits 0 after the handshake', async () => {
    const p = await example('--drain-timeout-ms', '20000');
    const client = new WebSocket(`ws://127.0.0.1:${p.port}/ws`);
    client.on('error', () => undefined);
    await next(client, 'open');
    client.send('ping');
    const [echo] = await next<[Buffer]>(client, 'message');
    assert.equal(echo.toString(), 'ping');

    const closed = next<[number, Buffer]>(client, 'close', 15_000);
    const started = Date.now();
    const status = await signalAndWait(p, 'SIGTERM', 15_000);
    const [code, reason] = await closed;
    assert.equal(code, 1001);
    assert.equal(reason.toString(), 'going away');
    assert.deepEqual(status, { code: 0, signal: null });
    // Far below the 20 s drain timeout: the drain ended with the handshake, not by force.
    assert.ok(Date.now() - started < 10_000, 'exited long before the drain timeout');
    const line = drainLine(p);
    assert.equal(line.success, true);
    assert.equal(line.persistentRemaining, 0);
  });

  it('terminates a client that ignores the close frame at the close timeout; the process exits within its budget', async () => {
    const p = await example('--drain-timeout-ms', '20000', '--ws-close-timeout-ms', '500');
    const deaf = deafWebSocket(p.port);
    assert.match(await deaf.head, /^HTTP\/1\.1 101 /);
    const started = Date.now();
    const status = await signalAndWait(p, 'SIGTERM', 15_000);
    await within(deaf.closed, 5_000, 'deaf client closed');
    assert.deepEqual(status, { code: 0, signal: null });
    assert.ok(Date.now() - started < 10_000, 'exited at the close timeout, not the 20 s drain timeout');
    const line = drainLine(p);
    assert.equal(line.success, true);
  });

  it('answers a pending long-poll at once on SIGTERM, with Connection: close', async () => {
    const p = await example('--drain-timeout-ms', '20000', '--persistent-spread-ms', '60000');
    const poll = fetch(`http://127.0.0.1:${p.port}/poll?timeoutMs=600000`);
    // The poll is parked once the server counts it; /metrics shows it.
    await within(waitForMetric(p.port, 'drainkit_persistent_connections', 1), 10_000, 'poll parked');
    const status = signalAndWait(p, 'SIGTERM', 15_000);
    const res = await within(poll, 5_000, 'long-poll answered (a 60 s spread would not)');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('x-poll-end'), 'draining');
    assert.equal(res.headers.get('connection'), 'close');
    assert.deepEqual(await status, { code: 0, signal: null });
  });

  it('GET /poll validates timeoutMs, delivers a published message, and times out with 204', async () => {
    const p = await example();
    const bad = await fetch(`http://127.0.0.1:${p.port}/poll?timeoutMs=-5`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /timeoutMs must be an integer from 0 to 600000, got "-5"/);
    const timedOut = await fetch(`http://127.0.0.1:${p.port}/poll?timeoutMs=50`);
    assert.equal(timedOut.status, 204);
    assert.equal(timedOut.headers.get('x-poll-end'), 'timeout');

    const waiting = fetch(`http://127.0.0.1:${p.port}/poll?timeoutMs=60000`);
    await within(waitForMetric(p.port, 'drainkit_persistent_connections', 1), 10_000, 'poll parked');
    const pub = await fetch(`http://127.0.0.1:${p.port}/publish`, { method: 'POST', body: 'hello' });
    assert.equal(await pub.text(), 'delivered 1\n');
    const got = await waiting;
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'hello');
    await signalAndWait(p, 'SIGTERM', 15_000);
  });

  it('GET /sse streams events with ids; SIGTERM ends it with a retry hint and the final event', async () => {
    const p = await example('--sse-interval-ms', '50', '--sse-reconnect-ms', '250');
    const res = await fetch(`http://127.0.0.1:${p.port}/sse`, { headers: { 'last-event-id': '41' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('id: 43\n')) {
      const chunk = await within(reader.read(), 5_000, 'sse events');
      assert.equal(chunk.done, false);
      text += decoder.decode(chunk.value, { stream: true });
    }
    // Ids continue after the client's Last-Event-ID.
    assert.match(text, /^id: 42\ndata: \{"pid":\d+,"n":0\}\n\n/);
    const status = signalAndWait(p, 'SIGTERM', 15_000);
    for (;;) {
      const chunk = await within(reader.read(), 10_000, 'sse end');
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
    assert.match(text, /retry: 250\nid: \d+\nevent: drainkit-reconnect\ndata: \{"reason":"draining","reconnectMs":250\}\n\n$/);
    assert.deepEqual(await status, { code: 0, signal: null });
  });

  it('GET /metrics serves Prometheus text with the drain gauges and WebSocket counts', async () => {
    const p = await example();
    const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const line of ['drainkit_state{state="active"} 1', 'drainkit_inflight_requests 1', 'drainkit_persistent_connections 0', 'drainkit_websocket_closes_total{outcome="clean"} 0']) {
      assert.ok(text.includes(line), `${line} in\n${text}`);
    }
    await signalAndWait(p, 'SIGTERM', 15_000);
  });
});

/** Polls /metrics until `name` has `value` (each scrape is itself a request, not a sleep). */
async function waitForMetric(port: number, name: string, value: number): Promise<void> {
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (text.split('\n').includes(`${name} ${value}`)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
