/**
 * The drain report as a pure function: phase durations and the three hints (each right, at the
 * right level, only on enough evidence, and possible to turn off), from synthetic drain
 * results; then real drains' results run through it and logged by the drainer.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/core/drainer.js';
import type { DrainPhase, DrainResult } from '../../src/core/types.js';
import { drainReport, formatDrainReport } from '../../src/core/report.js';
import { listen, until } from './clients.js';

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

  it('says the timeout is too short when the timeout forced requests, at warn, without a number that would still force them', () => {
    const r = drainReport(
      result({
        success: false, outcome: 'forced', forcedBy: 'timeout', durationMs: 1_200, requestsRemaining: 1, persistentRemaining: 0, connectionsForced: 1, longestRequestMs: 0,
        phases: [['deregistering', 0], ['closing', 100], ['persistent', 100], ['waiting', 100], ['forcing', 1_100], ['cleanup', 1_101]],
      }),
      { drainTimeoutMs: 1_000 },
    );
    assert.strictEqual(r.forcedBy, 'timeout');
    assert.strictEqual(r.hints.length, 1);
    const hint = r.hints[0]!;
    assert.strictEqual(hint.code, 'timeout-too-short');
    assert.strictEqual(hint.level, 'warn');
    assert.strictEqual(hint.evidence, '1 request and 0 persistent connections were still open when the 1000 ms drain timeout expired');
    // A request forced by a 1 s timeout may need 6 s: any number from this drain could still force it.
    assert.strictEqual(hint.suggestedDrainTimeoutMs, undefined);
    assert.doesNotMatch(hint.message, /about \d+ ms/);
    assert.match(hint.message, /cannot tell: raise drainTimeoutMs above the longest your requests may take/);
  });

  it('gives no timeout hint when a second signal or force() forced the drain early', () => {
    for (const forcedBy of ['signal', 'force', undefined] as const) {
      const r = drainReport(
        result({ success: false, outcome: 'forced', ...(forcedBy && { forcedBy }), requestsRemaining: 3, phases: [['deregistering', 0], ['closing', 100], ['waiting', 100], ['forcing', 600], ['cleanup', 601]] }),
        { drainTimeoutMs: 30_000 },
      );
      assert.strictEqual(r.forcedBy, 'early');
      assert.deepEqual(r.hints, []);
    }
  });

  it('says the timeout is tight at info, suggesting more than the wait and the longest request', () => {
    const r = drainReport(result({ durationMs: 1_000, longestRequestMs: 960, phases: [['deregistering', 0], ['closing', 0], ['waiting', 0], ['cleanup', 950]] }), { drainTimeoutMs: 1_000 });
    assert.strictEqual(r.hints.length, 1);
    assert.strictEqual(r.hints[0]!.code, 'timeout-tight');
    assert.strictEqual(r.hints[0]!.level, 'info');
    assert.strictEqual(r.hints[0]!.suggestedDrainTimeoutMs, 2_000);
    assert.ok(r.hints[0]!.suggestedDrainTimeoutMs > 960);
    assert.match(r.hints[0]!.message, /the wait took 950 ms of the 1000 ms drain timeout \(longest request 960 ms\)/);
  });

  it('says a chosen timeout is far longer only with enough completed requests, at info, stating the evidence', () => {
    const phases: [DrainPhase, number][] = [['deregistering', 0], ['closing', 100], ['waiting', 100], ['cleanup', 400]];
    // One fast request, or 49, is not evidence about the slowest request a service has.
    for (const requestsCompleted of [1, 49]) {
      assert.deepEqual(drainReport(result({ requestsCompleted, longestRequestMs: 200, phases }), { drainTimeoutMs: 20_000 }).hints, [], `${requestsCompleted} requests`);
    }
    const r = drainReport(result({ requestsCompleted: 50, requestsAtWindowEnd: 3, longestRequestMs: 250, phases }), { drainTimeoutMs: 20_000 });
    assert.strictEqual(r.hints.length, 1);
    const hint = r.hints[0]!;
    assert.strictEqual(hint.code, 'timeout-much-longer');
    assert.strictEqual(hint.level, 'info');
    assert.strictEqual(hint.evidence, '50 requests completed during this drain (3 of them in flight when the wait began), the longest in 250 ms, and the wait took 300 ms');
    // Ten times the longest request and the wait, and never under 5 s.
    assert.strictEqual(hint.suggestedDrainTimeoutMs, 5_000);
    // A timeout within twice the suggestion is left alone.
    assert.deepEqual(drainReport(result({ requestsCompleted: 500, longestRequestMs: 250, phases }), { drainTimeoutMs: 9_000 }).hints, []);
  });

  it('under the default 30 s timeout, says it is far longer only with 50 requests in flight when the wait began', () => {
    const phases: [DrainPhase, number][] = [['deregistering', 0], ['closing', 5_000], ['waiting', 5_000], ['cleanup', 5_300]];
    // A busy server's healthy drain: hundreds served during the window, a few in flight after it.
    for (const requestsAtWindowEnd of [undefined, 0, 4, 49]) {
      const busy = result({ requestsCompleted: 800, longestRequestMs: 200, phases, ...(requestsAtWindowEnd !== undefined && { requestsAtWindowEnd }) });
      assert.deepEqual(drainReport(busy, { drainTimeoutMs: 30_000 }).hints, [], `${requestsAtWindowEnd} in flight at the window's end`);
    }
    const strong = drainReport(result({ requestsCompleted: 800, requestsAtWindowEnd: 50, longestRequestMs: 200, phases }), { drainTimeoutMs: 30_000 });
    assert.deepEqual(strong.hints.map((h) => [h.code, h.level, h.suggestedDrainTimeoutMs]), [['timeout-much-longer', 'info', 5_000]]);
  });

  it('a real busy drain under the default timeout: requests served during the window give no hint', async () => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 5));
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 1_500 } });
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    let served = 0;
    const load = Promise.all(Array.from({ length: 8 }, async () => {
      while (!stop) {
        const ok = await new Promise<boolean>((resolve) => {
          http.get({ port, host: '127.0.0.1', path: '/', agent }, (res) => { res.resume(); res.on('end', () => resolve(true)); }).on('error', () => resolve(false));
        });
        if (!ok) return;
        served += 1;
      }
    }));
    await until('some requests served', () => served >= 20);
    const drained = drainer.drain();
    await new Promise((r) => setTimeout(r, 1_200));
    stop = true;
    const result = await drained;
    const r = drainReport(result, drainer.options);
    await load;
    agent.destroy();
    // Enough for the hint's old rule (50 completed), so this drain would have had it.
    assert.ok(r.requestsCompleted >= 50, `at least 50 requests completed during the drain, got ${r.requestsCompleted}`);
    assert.ok((result.requestsAtWindowEnd ?? 0) < 50, `${result.requestsAtWindowEnd} in flight when the wait began`);
    assert.deepEqual(r.hints, []);
  });

  it('hints: false leaves the hints out', () => {
    const forced = result({ success: false, outcome: 'forced', forcedBy: 'timeout', requestsRemaining: 1, phases: [['deregistering', 0], ['closing', 0], ['forcing', 1_000], ['cleanup', 1_000]] });
    assert.strictEqual(drainReport(forced, { drainTimeoutMs: 1_000 }).hints.length, 1);
    assert.deepEqual(drainReport(forced, { drainTimeoutMs: 1_000, hints: false }).hints, []);
  });

  it('reports a real drain: a request completed during it, its longest duration, and no hint from one request', async () => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('done'), 150));
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 30_000 });
    const port = await listen(server);
    const req = fetch(`http://127.0.0.1:${port}/`);
    await until('the request to be in flight', () => drainer.inflight === 1);
    const r = drainReport(await drainer.drain(), drainer.options);
    assert.strictEqual(await (await req).text(), 'done');
    assert.strictEqual(r.requestsCompleted, 1);
    assert.ok(r.longestRequestMs > 0);
    assert.deepEqual(r.phases.map((p) => p.phase), ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
    assert.deepEqual(r.hints, []);
  });

  it('the drainer logs a forced drain\'s hint at warn, and none with hints: false', async () => {
    for (const hints of [true, false]) {
      const lines: { level: string; obj: Record<string, unknown> }[] = [];
      const at = (level: string) => (obj: object): void => void lines.push({ level, obj: obj as Record<string, unknown> });
      const server = http.createServer(() => undefined); // never answers
      const drainer = createDrainer(server, { signals: false, hints, deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 100, logger: { info: at('info'), warn: at('warn'), error: at('error') } });
      const port = await listen(server);
      const req = fetch(`http://127.0.0.1:${port}/`).catch(() => 'failed');
      await until('the request to be in flight', () => drainer.inflight === 1);
      const result = await drainer.drain();
      assert.strictEqual(result.forcedBy, 'timeout');
      assert.strictEqual(await req, 'failed');
      const hintLines = lines.filter((l) => l.obj.event === 'drain_hint');
      if (hints) {
        assert.deepEqual(hintLines.map((l) => [l.level, l.obj.code]), [['warn', 'timeout-too-short']]);
      } else {
        assert.deepEqual(hintLines, []);
      }
    }
  });
});
