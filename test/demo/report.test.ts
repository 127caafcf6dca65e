/**
 * The demo's report parts on their own: percentiles of the latency samples, phase spans, the
 * drains read back from a real (in-memory PGlite) registry, a malformed event row named in the
 * error, and the text report of a failed run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LatencySamples } from '../../src/demo/latency.js';
import { readDrainHistory } from '../../src/demo/drains.js';
import { formatReport } from '../../src/demo/report.js';
import type { DemoReport } from '../../src/demo/run.js';
import { migrate, openStore, type Store } from '../../src/registry/index.js';
import * as sql from '../../src/registry/statements.js';

describe('demo report parts', { timeout: 60_000 }, () => {
  let store: Store;
  let instance: { id: number; generation: number };

  before(async () => {
    store = await openStore({ dataDir: 'memory://' });
    await migrate(store, { appliedBy: 'demo report test' });
    const rows = await store.query<{ id: number; generation: number }>(sql.REGISTER, ['demo-test', 4000, process.pid, null, '{}', 0, 0, '{}', new Date(), 10_000]);
    instance = rows[0]!;
  });
  after(() => store.close());

  it('latency percentiles by nearest rank', () => {
    const s = new LatencySamples();
    assert.equal(s.percentile(50), undefined);
    for (let i = 1; i <= 100; i += 1) s.add(i);
    assert.equal(s.percentile(50), 50);
    assert.equal(s.percentile(99), 99);
    assert.equal(s.percentile(100), 100);
    assert.equal(s.count, 100);
  });

  it('keeps a bounded reservoir once full, still counting every sample', () => {
    const s = new LatencySamples(10);
    for (let i = 0; i < 1_000; i += 1) s.add(5);
    assert.equal(s.count, 1_000);
    assert.equal(s.percentile(99), 5);
  });

  it('reads reloads and drains with phase spans from the events of one registration', async () => {
    const drain = (pid: number) => ({ pid, mode: 'drainkit', success: true, forcedBy: null, durationMs: 1500, exit: { code: 0, signal: null }, outcome: 'completed', window: { durationMs: 1000, endedBy: 'fixed' }, phases: [{ phase: 'deregistering', atMs: 0 }, { phase: 'closing', atMs: 1000 }, { phase: 'waiting', atMs: 1010 }, { phase: 'cleanup', atMs: 1490 }] });
    const event = (type: string, details: object) => store.query(sql.EVENT, [instance.id, instance.generation, type, JSON.stringify(details), new Date()]);
    await event('reload_complete', { ok: true, trigger: 'demo', durationMs: 2200, replaced: [{ oldPid: 10, newPid: 11, drain: drain(10) }], failedPids: [] });
    await event('drain_complete', { success: true, reason: 'demo ended', durationMs: 1100, workers: [drain(11)] });
    const h = await readDrainHistory(store, instance.id, instance.generation);
    assert.equal(h.reloads.length, 1);
    assert.deepEqual(h.drains.map((d) => [d.during, d.pid, d.newPid]), [[1, 10, 11], ['stop', 11, undefined]]);
    assert.deepEqual(h.drains[0]!.phases, [
      { phase: 'deregistering', durationMs: 1000 },
      { phase: 'closing', durationMs: 10 },
      { phase: 'waiting', durationMs: 480 },
      { phase: 'cleanup', durationMs: 10 },
    ]);
    // Another registration's events are not this run's.
    assert.deepEqual((await readDrainHistory(store, instance.id, instance.generation + 1)).drains, []);
  });

  it('a worker that left without a drain result counts as not drained', async () => {
    const rows = await store.query<{ id: number; generation: number }>(sql.REGISTER, ['demo-test', 4001, process.pid, null, '{}', 0, 0, '{}', new Date(), 10_000]);
    const i = rows[0]!;
    await store.query(sql.EVENT, [i.id, i.generation, 'reload_complete', JSON.stringify({ ok: true, trigger: 'demo', durationMs: 300, replaced: [{ oldPid: 20, newPid: 21, drain: { pid: 20, mode: 'drainkit', success: true, forcedBy: null, durationMs: 40, exit: { code: 0, signal: null } } }], failedPids: [] }), new Date()]);
    const h = await readDrainHistory(store, i.id, i.generation);
    assert.equal(h.drains[0]!.success, false);
    assert.equal(h.drains[0]!.outcome, 'exited');
  });

  it('a malformed event row: an error naming the event and the field', async () => {
    const rows = await store.query<{ id: number; generation: number }>(sql.REGISTER, ['demo-test', 4002, process.pid, null, '{}', 0, 0, '{}', new Date(), 10_000]);
    const i = rows[0]!;
    await store.query(sql.EVENT, [i.id, i.generation, 'reload_complete', JSON.stringify({ ok: true, durationMs: 1, replaced: 'three' }), new Date()]);
    await assert.rejects(readDrainHistory(store, i.id, i.generation), /registry event \d+ \(reload_complete\) has replaced = "three"; expected/);
  });

  it('the text report of a failed run says what failed', () => {
    const report: DemoReport = {
      ok: false,
      durationMs: 4_000,
      endedBy: 'duration',
      workers: 1,
      rate: 50,
      dashboardUrl: 'http://127.0.0.1:1/login?token=x',
      dataDir: undefined,
      failed: 3,
      http: { sent: 200, ok: 198, failed: 2, failures: { 'error:ECONNRESET': 2 }, skipped: 0, latencyMs: { p50: 1, p99: 5, samples: 180 } },
      persistent: {
        websocket: { clients: 4, opened: 5, closedProperly: 0, echoes: 10, failed: 1, failures: { 'close:1006': 1 } },
        sse: { clients: 0, opened: 0, closedProperly: 0, events: 0, failed: 0, failures: {} },
      },
      history: { reloads: [{ n: 1, ok: true, reason: undefined, at: '2026-01-01T00:00:00.000Z', durationMs: 300, replaced: 1 }], drains: [{ during: 1, pid: 20, newPid: 21, success: false, outcome: 'exited', forcedBy: null, durationMs: 40, window: undefined, phases: [], exit: { code: 0, signal: null } }] },
      forcedDrains: 1,
      failedReloads: 0,
      clientLoopDelayMs: { p99: 1, max: 2 },
    };
    const text = formatReport(report);
    assert.match(text, /2 failed \(error:ECONNRESET ×2\)/);
    assert.match(text, /1 failed \(close:1006 ×1\)/);
    assert.match(text, /pid 20 → 21 +NOT DRAINED \(exited; exit 0\) after 40 ms: no phases reported/);
    assert.match(text, /Result: FAILED: 3 failed requests or connections, 1 drains not completed, 0 reloads aborted\./);
  });
});
