/**
 * The drain report as a pure function: phase durations and the three hints, from synthetic
 * drain results; then one real drain's result run through it.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/core/drainer.js';
import type { DrainPhase, DrainResult } from '../../src/core/types.js';
import { drainReport, formatDrainReport } from '../../src/core/report.js';
import { listen } from './clients.js';

function result(overrides: Partial<Omit<DrainResult, 'phases'>> & { phases: [DrainPhase, number][] }): DrainResult {
  const { phases, ...rest } = overrides;
  return {
    success: true,
    outcome: 'completed',
    reason: 'SIGTERM',
    durationMs: 1_000,
    window: { durationMs: 100, endedBy: 'fixed' },
    requestsCompleted: 10,
    requestsAtStart: 2,
    requestsRemaining: 0,
    persistentRemaining: 0,
    connectionsForced: 0,
    upgradesClosed: 0,
    persistentClosed: {},
    longestRequestMs: 50,
    hooks: [],
    ...rest,
    phases: phases.map(([phase, atMs]) => ({ phase, atMs })),
  };
}

describe('drainReport', () => {
  it('gives each phase its duration, the last one lasting until the end', () => {
    const r = drainReport(result({ durationMs: 1_000, phases: [['deregistering', 0], ['closing', 100], ['persistent', 101], ['waiting', 101], ['cleanup', 900]] }), { drainTimeoutMs: 2_000 });
    assert.deepEqual(
      r.phases.map((p) => [p.phase, p.durationMs]),
      [['deregistering', 100], ['closing', 1], ['persistent', 0], ['waiting', 799], ['cleanup', 100]],
    );
    assert.equal(r.waitMs, 800);
    assert.deepEqual(r.hints, []);
    assert.match(formatDrainReport(r), /^drain completed \(SIGTERM\) in 1000 ms: 10 requests completed/);
  });

  it('says the timeout is too short when the timeout forced requests', () => {
    const r = drainReport(
      result({
        success: false, outcome: 'forced', durationMs: 5_200, requestsRemaining: 3, persistentRemaining: 1, connectionsForced: 4, longestRequestMs: 4_990,
        phases: [['deregistering', 0], ['closing', 100], ['persistent', 100], ['waiting', 100], ['forcing', 5_100], ['cleanup', 5_101]],
      }),
      { drainTimeoutMs: 5_000 },
    );
    assert.equal(r.forcedBy, 'timeout');
    assert.equal(r.hints.length, 1);
    assert.equal(r.hints[0]!.code, 'timeout-too-short');
    assert.match(r.hints[0]!.message, /the drain timeout \(5000 ms\) ended 3 requests and 1 persistent connection by force/);
    assert.equal(r.hints[0]!.suggestedDrainTimeoutMs, 10_000);
  });

  it('gives no timeout hint when a second signal forced the drain early', () => {
    const r = drainReport(
      result({ success: false, outcome: 'forced', requestsRemaining: 3, phases: [['deregistering', 0], ['closing', 100], ['waiting', 100], ['forcing', 600], ['cleanup', 601]] }),
      { drainTimeoutMs: 30_000 },
    );
    assert.equal(r.forcedBy, 'early');
    assert.deepEqual(r.hints, []);
  });

  it('says the timeout is tight when the drain completed near it', () => {
    const r = drainReport(result({ durationMs: 1_000, phases: [['deregistering', 0], ['closing', 0], ['waiting', 0], ['cleanup', 950]] }), { drainTimeoutMs: 1_000 });
    assert.equal(r.hints[0]?.code, 'timeout-tight');
    assert.equal(r.hints[0]?.suggestedDrainTimeoutMs, 2_000);
  });

  it('says the timeout is far longer than anything observed, only when something was observed', () => {
    const phases: [DrainPhase, number][] = [['deregistering', 0], ['closing', 100], ['waiting', 100], ['cleanup', 400]];
    const r = drainReport(result({ longestRequestMs: 250, phases }), { drainTimeoutMs: 30_000 });
    assert.equal(r.hints[0]?.code, 'timeout-much-longer');
    assert.match(r.hints[0].message, /far longer than anything observed \(longest request 250 ms, wait 300 ms\)/);
    assert.equal(r.hints[0]?.suggestedDrainTimeoutMs, 1_000);
    const idle = drainReport(result({ requestsCompleted: 0, requestsAtStart: 0, longestRequestMs: 0, phases }), { drainTimeoutMs: 30_000 });
    assert.deepEqual(idle.hints, []);
    // 2 s over 250 ms requests is not "far longer" in absolute terms.
    assert.deepEqual(drainReport(result({ longestRequestMs: 150, phases }), { drainTimeoutMs: 5_000 }).hints, []);
  });

  it('reports a real drain: a request completed during it, and its longest duration', async () => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('done'), 150));
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 30_000 });
    const port = await listen(server);
    const req = fetch(`http://127.0.0.1:${port}/`);
    while (drainer.inflight === 0) await new Promise((r) => setImmediate(r));
    const r = drainReport(await drainer.drain(), drainer.options);
    assert.equal(await (await req).text(), 'done');
    assert.equal(r.requestsCompleted, 1);
    assert.ok(r.longestRequestMs > 0);
    assert.deepEqual(r.phases.map((p) => p.phase), ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
    assert.equal(r.hints[0]?.code, 'timeout-much-longer');
  });
});
