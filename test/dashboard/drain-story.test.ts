/** The drain view's story of a drain, from events as the reporter writes them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drainStory } from '../../src/dashboard/drain-story.js';
import { detailsJson, outcomeText, windowSentence } from '../../src/dashboard/views.js';
import type { DrainEventRow } from '../../src/registry/fleet.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
let nextId = 1;
function ev(type: string, atMs: number, details: Record<string, unknown>): DrainEventRow {
  return { id: nextId++, instanceId: 1, generation: 1, eventType: type, timestamp: new Date(T0 + atMs), details };
}

describe('drainStory', () => {
  it('tells phases, window, cause and the one sentence of what the drain spent its time on', () => {
    const events = [
      ev('registered', -60_000, {}),
      ev('drain_requested', -5, { requestedBy: 'alice', reason: 'deploy 42' }),
      ev('drain_start', 0, { reason: 'registry', inflight: 3, persistent: 1 }),
      ev('window_end', 400, { endedBy: 'quiet', durationMs: 400 }),
      ev('listener_closed', 400, { inflight: 3, persistent: 1 }),
      ev('persistent_notified', 410, { inflight: 3, persistent: 1 }),
      ev('waiting', 500, { inflight: 3, persistent: 0 }),
      ev('cleanup', 4_600, { inflight: 0, persistent: 0 }),
      ev('drain_complete', 4_650, { outcome: 'completed', success: true, requestsRemaining: 0, persistentRemaining: 0 }),
    ];
    const s = drainStory(events, T0 + 10_000);
    assert.ok(s);
    assert.deepEqual(s.phases.map((p) => [p.phase, p.durationMs]), [['deregistering', 400], ['closing', 10], ['persistent', 90], ['waiting', 4_100], ['cleanup', 50]]);
    assert.deepEqual(s.window, { endedBy: 'quiet', durationMs: 400 });
    assert.deepEqual(s.cause, { requestedBy: 'alice', reason: 'deploy 42' });
    assert.equal(s.running, false);
    assert.equal(s.summary, '4.1 s of 4.7 s waiting for 3 requests.');
    assert.deepEqual(s.counts.at(-1), { atMs: 4_650, inflight: 0, persistent: 0 });
  });

  it('names the paths the waiting drain waited for, as the phase event recorded them', () => {
    const story = (paths: unknown, inflight: number) => drainStory([
      ev('drain_start', 0, { reason: 'SIGTERM', inflight, persistent: 0 }),
      ev('waiting', 500, { inflight, persistent: 0, paths }),
      ev('cleanup', 4_600, { inflight: 0, persistent: 0 }),
      ev('drain_complete', 4_650, { outcome: 'completed', success: true }),
    ], T0 + 10_000)?.summary;
    assert.equal(story([{ path: '/export', count: 3 }], 3), '4.1 s of 4.7 s waiting for 3 requests to /export.');
    assert.equal(story([{ path: '/export', count: 2 }, { path: '/report', count: 1 }], 3), '4.1 s of 4.7 s waiting for 3 requests to /export (2) and /report (1).');
    assert.equal(story([{ path: '/a', count: 3 }, { path: '/b', count: 2 }, { path: '/c', count: 1 }], 7), '4.1 s of 4.7 s waiting for 7 requests to /a (3), /b (2), /c (1) and others.');
    // Rows written by earlier versions, or malformed ones, carry no paths: the sentence says less.
    assert.equal(story(undefined, 3), '4.1 s of 4.7 s waiting for 3 requests.');
    assert.equal(story([{ path: 7 }, 'x'], 3), '4.1 s of 4.7 s waiting for 3 requests.');
  });

  it('a drain on a signal names the signal; a running one says so; a forced one says why', () => {
    const running = drainStory([ev('drain_start', 0, { reason: 'SIGTERM', inflight: 1, persistent: 0 }), ev('waiting', 100, { inflight: 1, persistent: 0 })], T0 + 2_100);
    assert.deepEqual(running?.cause, { requestedBy: null, reason: 'SIGTERM' });
    assert.equal(running?.summary, '2.0 s of 2.1 s waiting for 1 request, still running.');
    const forced = drainStory([
      ev('drain_start', 0, { reason: 'SIGTERM', inflight: 2, persistent: 0 }),
      ev('waiting', 100, { inflight: 2, persistent: 0 }),
      ev('forced', 10_100, { inflight: 2, persistent: 0 }),
      ev('drain_complete', 10_200, { outcome: 'forced', success: false, forceReason: 'drain timeout' }),
    ], T0 + 20_000);
    assert.equal(forced?.summary, '10.0 s of 10.2 s waiting for 2 requests, then forced (drain timeout).');
  });

  it('a forced drain ends its chart on the count after the force, not on what was left when it was forced', () => {
    const forced = drainStory([
      ev('drain_start', 0, { reason: 'SIGTERM', inflight: 3, persistent: 1 }),
      ev('waiting', 100, { inflight: 3, persistent: 1 }),
      ev('forced', 10_100, { inflight: 3, persistent: 1 }),
      ev('cleanup', 10_150, { inflight: 0, persistent: 0 }),
      ev('drain_complete', 10_200, { outcome: 'forced', success: false, forcedBy: 'timeout', requestsRemaining: 3, persistentRemaining: 1 }),
    ], T0 + 20_000);
    assert.deepEqual(forced?.counts.at(-1), { atMs: 10_200, inflight: 0, persistent: 0 });
    const noCountAfter = drainStory([
      ev('drain_start', 0, { reason: 'SIGTERM', inflight: 2, persistent: 0 }),
      ev('forced', 5_000, { inflight: 2, persistent: 0 }),
      ev('drain_complete', 5_100, { outcome: 'forced', success: false, forcedBy: 'timeout', requestsRemaining: 2, persistentRemaining: 0 }),
    ], T0 + 20_000);
    assert.deepEqual(noCountAfter?.counts.at(-1), { atMs: 5_100, inflight: 0, persistent: 0 });
  });

  it('says how the window ended and how the drain was forced in English, one phrase each', () => {
    assert.equal(windowSentence('fixed', 3_000), 'the fixed window ended after 3.0 s');
    assert.equal(windowSentence('traffic-quiet', 1_200), 'traffic went quiet after 1.2 s');
    assert.equal(outcomeText({ outcome: 'forced', success: false, forcedBy: 'timeout', forceReason: 'timeout', connectionsForced: 2 }), 'forced by the drain timeout; 2 connections forced');
    assert.equal(outcomeText({ outcome: 'completed', success: true, forcedBy: null }), 'completed');
  });

  it('no drain_start: no story', () => {
    assert.equal(drainStory([ev('registered', 0, {})], T0), undefined);
  });
});

describe('audit details', () => {
  it('rounds measured floats to one decimal and leaves integers and text alone', () => {
    assert.equal(detailsJson({ durationMs: 1005.3691199999994, inflight: 3, window: { durationMs: 1002.19 }, reason: '1.23456' }), '{"durationMs":1005.4,"inflight":3,"window":{"durationMs":1002.2},"reason":"1.23456"}');
  });
});
