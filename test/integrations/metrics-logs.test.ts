/**
 * drainkit/metrics with a real prom-client registry, and the core's phase log lines through a
 * real pino logger, over one real drain with a request in flight and a WebSocket open.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import * as promClient from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import { createDrainer } from '../../src/core/drainer.js';
import { createDrainMetrics } from '../../src/integrations/metrics.js';
import { drainWebSockets } from '../../src/integrations/ws.js';
import { waitFor } from '../helpers/deadline.js';
import { listen, next, within } from './clients.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** The value of one sample line `name{labels} value` in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('drainkit/metrics', () => {
  it('exports live gauges, the drain state and phase, and the finished drain with WebSocket closes', async () => {
    let release: (() => void) | undefined;
    const server = http.createServer((_req, res) => {
      release = () => res.end('done');
    });
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0 });
    const wss = new WebSocketServer({ server });
    const sockets = drainWebSockets(drainer, wss);
    const registry = new promClient.Registry();
    const metrics = await createDrainMetrics(drainer, { promClient, registry, webSockets: [sockets] });
    const port = await listen(server);
    cleanups.push(() => {
      metrics.detach();
      server.closeAllConnections();
      server.close();
    });

    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    client.on('error', () => undefined);
    await next(client, 'open');
    const req = fetch(`http://127.0.0.1:${port}/work`);
    await waitFor('the /work request in flight', () => drainer.inflight === 1);

    let text = await registry.metrics();
    assert.equal(sample(text, 'drainkit_inflight_requests'), 1);
    assert.equal(sample(text, 'drainkit_persistent_connections'), 1);
    assert.equal(sample(text, 'drainkit_websocket_open'), 1);
    assert.equal(sample(text, 'drainkit_state{state="active"}'), 1);
    assert.equal(sample(text, 'drainkit_drains_total{outcome="completed"}'), 0);

    const drained = drainer.drain();
    await next(client, 'close');
    text = await registry.metrics();
    assert.equal(sample(text, 'drainkit_state{state="draining"}'), 1);
    assert.equal(sample(text, 'drainkit_drain_phase{phase="waiting"}'), 1);
    assert.ok(sample(text, 'drainkit_drain_duration_seconds')! >= 0);
    assert.ok(sample(text, 'drainkit_drain_phase_duration_seconds{phase="deregistering"}')! >= 0);

    release!();
    const result = await within(drained, 10_000, 'drain');
    assert.equal(await within(req.then((r) => r.text()), 10_000, 'the /work response'), 'done');
    text = await registry.metrics();
    assert.equal(sample(text, 'drainkit_state{state="stopped"}'), 1);
    assert.equal(sample(text, 'drainkit_drains_total{outcome="completed"}'), 1);
    assert.equal(sample(text, 'drainkit_drain_requests_completed'), result.requestsCompleted);
    assert.equal(sample(text, 'drainkit_drain_connections_forced'), 0);
    assert.equal(sample(text, 'drainkit_drain_duration_seconds'), result.durationMs / 1000);
    assert.equal(sample(text, 'drainkit_websocket_closes_total{outcome="clean"}'), 1);
    assert.equal(sample(text, 'drainkit_websocket_closes_total{outcome="terminated"}'), 0);
    for (const phase of ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']) {
      assert.notEqual(sample(text, `drainkit_drain_phase_duration_seconds{phase="${phase}"}`), undefined, phase);
    }
  });

  it('refuses to register twice in one registry, and detach removes every metric', async () => {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false });
    const registry = new promClient.Registry();
    const metrics = await createDrainMetrics(drainer, { promClient, registry });
    await assert.rejects(createDrainMetrics(drainer, { promClient, registry }), /already been registered/);
    metrics.detach();
    assert.equal((await registry.getMetricsAsJSON()).length, 0);
    // With its own prefix, a second drainer lives in the same registry; prom-client is loaded on demand.
    const other = await createDrainMetrics(drainer, { registry, prefix: 'app_' });
    assert.ok((await registry.metrics()).includes('app_inflight_requests 0'));
    other.detach();
    drainer.detach();
  });
});

describe('pino logs', () => {
  it('a real pino logger receives one line per phase with counts and timings', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const server = http.createServer((_req, res) => res.end('ok'));
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, logger });
    await listen(server);
    await within(drainer.drain(), 10_000, 'the drain');
    await new Promise((r) => setImmediate(r));
    const phases = lines.filter((l) => l.event === 'drain_phase');
    assert.deepEqual(phases.map((l) => l.phase), ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
    for (const l of phases) {
      assert.equal(l.level, 30);
      assert.equal(l.drainkit, true);
      assert.equal(typeof l.atMs, 'number');
      assert.equal(l.inflight, 0);
      assert.equal(l.persistent, 0);
      assert.match(String(l.msg), /^drainkit: phase /);
    }
    const done = lines.find((l) => l.event === 'drain_complete');
    assert.equal(done?.outcome, 'completed');
  });
});
