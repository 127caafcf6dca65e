/** The deregistration window's policy as pure decisions over simulated time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSaysNotRouting } from '../../src/index.js';
import {
  decideWindow,
  openWindow,
  recordActivity,
  recordBalancerState,
  recordConnectionExplained,
  recordConnectionOpened,
  recordFailedProbe,
} from '../../src/core/window.js';
import type { ResolvedDeregisterOptions } from '../../src/index.js';

const adaptive: ResolvedDeregisterOptions = { mode: 'adaptive', minMs: 0, maxMs: 5_000, quietMs: 500 };

describe('deregistration window', () => {
  it('fixed: ends exactly at its length', () => {
    const s = openWindow(1_000);
    const opts: ResolvedDeregisterOptions = { mode: 'fixed', delayMs: 3_000 };
    assert.deepEqual(decideWindow(opts, s, 3_999), { done: false, recheckAt: 4_000 });
    assert.deepEqual(decideWindow(opts, s, 4_000), { done: true, endedBy: 'fixed' });
    assert.deepEqual(decideWindow({ mode: 'fixed', delayMs: 0 }, s, 1_000), { done: true, endedBy: 'skipped' });
  });

  it('adaptive without confirmation: runs to its maximum', () => {
    const s = openWindow(0);
    assert.deepEqual(decideWindow(adaptive, s, 4_999), { done: false, recheckAt: 5_000 });
    assert.deepEqual(decideWindow(adaptive, s, 5_000), { done: true, endedBy: 'max' });
  });

  it('adaptive: HAProxy send-state DOWN plus a quiet period ends it early', () => {
    const s = openWindow(0);
    assert.equal(recordBalancerState(adaptive, s, 'UP; name=be/s1; node=lb; weight=1/1; scur=3/3; qcur=0', 900), false);
    assert.equal(recordBalancerState(adaptive, s, 'DOWN 1/2; name=be/s1; node=lb', 1_000), true);
    assert.deepEqual(decideWindow(adaptive, s, 1_200), { done: false, recheckAt: 1_500 });
    // a request routed just before the flip pushes the quiet period out
    recordActivity(s, 1_300);
    assert.deepEqual(decideWindow(adaptive, s, 1_500), { done: false, recheckAt: 1_800 });
    assert.deepEqual(decideWindow(adaptive, s, 1_800), { done: true, endedBy: 'balancer-state' });
  });

  it('adaptive: never before its minimum, never after its maximum', () => {
    const withMin: ResolvedDeregisterOptions = { ...adaptive, minMs: 2_000 };
    const s = openWindow(0);
    recordBalancerState(withMin, s, 'MAINT', 100);
    assert.deepEqual(decideWindow(withMin, s, 600), { done: false, recheckAt: 2_000 });
    assert.deepEqual(decideWindow(withMin, s, 2_000), { done: true, endedBy: 'balancer-state' });
    const busy = openWindow(0);
    recordBalancerState(adaptive, busy, 'DOWN', 4_000);
    recordActivity(busy, 4_900);
    assert.deepEqual(decideWindow(adaptive, busy, 5_000), { done: true, endedBy: 'max' });
  });

  it('adaptive: counts 503 probes up to the failure threshold', () => {
    const opts: ResolvedDeregisterOptions = { ...adaptive, probeFailureThreshold: 2 };
    const s = openWindow(0);
    assert.equal(recordFailedProbe(opts, s, 1_000), false);
    assert.equal(recordFailedProbe(opts, s, 2_000), true);
    assert.deepEqual(decideWindow(opts, s, 2_500), { done: true, endedBy: 'probe-threshold' });
    const noThreshold = openWindow(0);
    for (let i = 1; i <= 10; i++) assert.equal(recordFailedProbe(adaptive, noThreshold, i * 100), false);
  });

  it('reads HAProxy send-state headers', () => {
    assert.equal(balancerSaysNotRouting(undefined), undefined);
    assert.equal(balancerSaysNotRouting('UP 2/3; name=b/s'), false);
    assert.equal(balancerSaysNotRouting('DOWN; name=b/s'), true);
    assert.equal(balancerSaysNotRouting('DOWN 1/2; name=b/s'), true);
    assert.equal(balancerSaysNotRouting('NOLB; name=b/s'), true);
    assert.equal(balancerSaysNotRouting(['MAINT', 'UP']), true);
    assert.equal(balancerSaysNotRouting('garbage'), undefined);
    assert.equal(balancerSaysNotRouting(''), undefined);
  });

  describe("confirm: 'traffic'", () => {
    const traffic: ResolvedDeregisterOptions = { mode: 'adaptive', minMs: 1_000, maxMs: 5_000, quietMs: 500, confirm: 'traffic' };

    it('ends quietMs after the last request, never before minMs', () => {
      const s = openWindow(0);
      // no traffic at all: quiet since the start, but minMs is the balancer's reaction time
      assert.deepEqual(decideWindow(traffic, s, 600), { done: false, recheckAt: 1_000 });
      recordActivity(s, 900);
      assert.deepEqual(decideWindow(traffic, s, 1_000), { done: false, recheckAt: 1_400 });
      recordActivity(s, 1_300);
      assert.deepEqual(decideWindow(traffic, s, 1_400), { done: false, recheckAt: 1_800 });
      assert.deepEqual(decideWindow(traffic, s, 1_800), { done: true, endedBy: 'traffic-quiet' });
    });

    it('an idle service ends at minMs exactly', () => {
      const s = openWindow(200);
      assert.deepEqual(decideWindow(traffic, s, 1_199), { done: false, recheckAt: 1_200 });
      assert.deepEqual(decideWindow(traffic, s, 1_200), { done: true, endedBy: 'traffic-quiet' });
    });

    it('traffic that never stops runs to maxMs', () => {
      const s = openWindow(0);
      for (let t = 0; t < 5_000; t += 300) {
        recordActivity(s, t);
        const d = decideWindow(traffic, s, t);
        assert.equal(d.done, false, `ended at ${t} ms while requests kept arriving`);
      }
      recordActivity(s, 4_800);
      assert.deepEqual(decideWindow(traffic, s, 5_000), { done: true, endedBy: 'max' });
    });

    it('an open connection without a request yet is traffic; one that closed or carried a probe is not', () => {
      const s = openWindow(0);
      const dispatched = {};
      const probe = {};
      recordConnectionOpened(s, dispatched, 1_200);
      recordConnectionOpened(s, probe, 1_300);
      assert.deepEqual(decideWindow(traffic, s, 1_500), { done: false, recheckAt: 1_800 });
      assert.equal(recordConnectionExplained(s, probe), true);
      assert.equal(recordConnectionExplained(s, probe), false, 'explained twice');
      assert.deepEqual(decideWindow(traffic, s, 1_500), { done: false, recheckAt: 1_700 });
      assert.equal(recordConnectionExplained(s, dispatched), true);
      assert.deepEqual(decideWindow(traffic, s, 1_500), { done: true, endedBy: 'traffic-quiet' });
    });

    it("the balancer's word still ends it, and says so", () => {
      const s = openWindow(0);
      recordBalancerState(traffic, s, 'DOWN 1/2; name=be/s1', 1_100);
      recordActivity(s, 1_050);
      assert.deepEqual(decideWindow(traffic, s, 1_600), { done: true, endedBy: 'balancer-state' });
    });

    it("without confirm: 'traffic' a quiet window still runs to maxMs", () => {
      const s = openWindow(0);
      const balancerOnly: ResolvedDeregisterOptions = { mode: 'adaptive', minMs: 1_000, maxMs: 5_000, quietMs: 500 };
      assert.deepEqual(decideWindow(balancerOnly, s, 4_000), { done: false, recheckAt: 5_000 });
    });
  });
});
