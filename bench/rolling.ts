/**
 * The end-to-end rolling restart (3 example servers behind a real HAProxy with strict settings,
 * steady keep-alive load, every server restarted twice) with the adaptive deregistration window,
 * over the same with a fixed 3 s window. The headline is the ratio of the restart phase's wall
 * time (first SIGTERM to the last replacement reported UP), adaptive over fixed, at zero failed
 * requests. Runs alternate adaptive, fixed, adaptive, fixed… A fourth mode, `traffic`, measures
 * the window confirmed by traffic behind the same HAProxy without `send-state` (a balancer that
 * says nothing readable, as Kubernetes endpoints, nginx and cloud load balancers): its window
 * length against the fixed one. The scenario is the end-to-end
 * test's own harness (test/helpers/rolling.ts), so the benchmark measures exactly what the test
 * proves.
 */
import { join } from 'node:path';
import { findHaproxy } from '../test/helpers/haproxy.js';
import { rollingRestart, type RollingResult } from '../test/helpers/rolling.js';
import { ROOT } from './lib/children.js';
import { median, round } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
/**
 * `adaptive` is the recommended HAProxy pairing: the balancer's `fall` (1 here) passed as the
 * probe failure threshold, so the first 503 probe confirms, with `send-state` as a second source.
 * `adaptive-state` relies on `send-state` alone, which says DOWN only on the probe after the one
 * answered 503: one check interval later. `traffic` gets no confirmation at all (HAProxy runs
 * without `send-state`, the threshold is not given): its minimum is HAProxy's reaction bound
 * (inter 1 s × fall 1), after which 500 ms without a request or new connection end the window.
 */
const MODES = {
  adaptive: ['--deregister-mode', 'adaptive', '--deregister-delay-ms', '5000', '--probe-failure-threshold', '1'],
  'adaptive-state': ['--deregister-mode', 'adaptive', '--deregister-delay-ms', '5000'],
  fixed: ['--deregister-mode', 'fixed', '--deregister-delay-ms', '3000'],
  traffic: ['--deregister-mode', 'adaptive', '--deregister-confirm', 'traffic', '--deregister-min-ms', '1000', '--quiet-ms', '500', '--deregister-delay-ms', '5000'],
  // minMs 0, as the HAProxy e2e test runs it: the window is the traffic's alone (with minMs 1000
  // the measured window, ~1 s, is mostly the minimum).
  'traffic-min0': ['--deregister-mode', 'adaptive', '--deregister-confirm', 'traffic', '--deregister-min-ms', '0', '--quiet-ms', '500', '--deregister-delay-ms', '5000'],
} as const;
type Mode = keyof typeof MODES;
const ALL_MODES: readonly Mode[] = ['adaptive', 'adaptive-state', 'fixed', 'traffic', 'traffic-min0'];
/** ROLLING_MODES=fixed,traffic-min0 runs only those (the whole bench takes minutes). */
const ORDER: readonly Mode[] = (() => {
  const only = process.env.ROLLING_MODES?.split(',').map((m) => m.trim()).filter(Boolean);
  if (!only) return ALL_MODES;
  const unknown = only.filter((m) => !(ALL_MODES as readonly string[]).includes(m));
  if (unknown.length > 0) throw new Error(`ROLLING_MODES: unknown mode ${unknown.join(', ')} (accepted: ${ALL_MODES.join(', ')})`);
  return only as Mode[];
})();
/** HAProxy runs with `send-state` except for `traffic`, which must end on the traffic alone. */
const SEND_STATE: Readonly<Record<Mode, boolean>> = { adaptive: true, 'adaptive-state': true, fixed: true, traffic: false, 'traffic-min0': false };

interface Run {
  readonly mode: Mode;
  readonly restartWallMs: number;
  readonly requests: number;
  readonly failed: number;
  readonly failuresByKind: Readonly<Record<string, number>>;
  /** Per restart step, medians: SIGTERM → exit, exit → replacement listening, → HAProxy UP. */
  readonly stepMedianMs: { readonly drain: number; readonly start: number; readonly up: number };
  /** The drains' deregistration windows: median length and what ended them. */
  readonly windowMedianMs: number;
  readonly windowEndedBy: Readonly<Record<string, number>>;
  readonly drainsOk: boolean;
}

function summarizeRun(mode: Mode, r: RollingResult): Run {
  const rolling = r.drains.filter((d) => d.stage === 'rolling');
  const windows = rolling.map((d) => d.drainComplete?.window as { durationMs?: number; endedBy?: string } | undefined);
  const endedBy: Record<string, number> = {};
  for (const w of windows) endedBy[w?.endedBy ?? 'unknown'] = (endedBy[w?.endedBy ?? 'unknown'] ?? 0) + 1;
  return {
    mode,
    restartWallMs: r.restartWallMs,
    requests: r.load.total,
    failed: r.load.failed,
    failuresByKind: r.load.failuresByKind,
    stepMedianMs: {
      drain: median(r.steps.map((s) => s.exitedAt - s.signalledAt)),
      start: median(r.steps.map((s) => s.replacementListeningAt - s.exitedAt)),
      up: median(r.steps.map((s) => s.upAt - s.replacementListeningAt)),
    },
    windowMedianMs: Math.round(median(windows.map((w) => w?.durationMs ?? Number.NaN))),
    windowEndedBy: endedBy,
    drainsOk: r.drains.every((d) => d.exit.code === 0 && d.drainComplete?.success === true),
  };
}

export const rolling: Benchmark = {
  name: 'rolling',
  async run({ quick, log }): Promise<BenchResult> {
    if (!findHaproxy()) throw new Error('haproxy is not installed (Debian package "haproxy"; or set HAPROXY_BIN)');
    const pairs = quick ? 1 : 2;
    const runs: Run[] = [];
    for (let pair = 1; pair <= pairs; pair += 1) {
      for (const mode of ORDER) {
        const result = await rollingRestart({
          servers: 3,
          rounds: quick ? 1 : 2,
          serverCommand: (port) => [CLI, 'example-server', '--port', String(port), ...MODES[mode], '--drain-timeout-ms', '10000', '--log-level', 'warn'],
          haproxy: { sendState: SEND_STATE[mode] },
        });
        const run = summarizeRun(mode, result);
        runs.push(run);
        log(`rolling: pair ${pair} ${mode}: restart ${run.restartWallMs} ms, ${run.requests} requests, ${run.failed} failed; per step drain ${run.stepMedianMs.drain} ms, start ${run.stepMedianMs.start} ms, UP ${run.stepMedianMs.up} ms; windows ${JSON.stringify(run.windowEndedBy)}`);
      }
    }
    const of = (mode: Mode): Run[] => runs.filter((r) => r.mode === mode);
    const wall = (mode: Mode): number => median(of(mode).map((r) => r.restartWallMs));
    const pairRatios = of('adaptive').map((a, i) => a.restartWallMs / of('fixed')[i]!.restartWallMs);
    const ratio = wall('adaptive') / wall('fixed');
    const stateOnlyRatio = wall('adaptive-state') / wall('fixed');
    const windowMs = (mode: Mode): number => median(of(mode).map((r) => r.windowMedianMs));
    const trafficWindowRatio = windowMs('traffic') / windowMs('fixed');
    const trafficMin0Ratio = windowMs('traffic-min0') / windowMs('fixed');
    const failures = runs.reduce((n, r) => n + r.failed, 0);
    const perMode = Object.fromEntries(ORDER.map((m) => [m, {
      restartWallMsMedian: Math.round(wall(m)),
      failed: of(m).reduce((n, r) => n + r.failed, 0),
      requests: of(m).reduce((n, r) => n + r.requests, 0),
      stepDrainMsMedian: Math.round(median(of(m).map((r) => r.stepMedianMs.drain))),
      stepStartMsMedian: Math.round(median(of(m).map((r) => r.stepMedianMs.start))),
      stepUpMsMedian: Math.round(median(of(m).map((r) => r.stepMedianMs.up))),
      windowMsMedian: Math.round(median(of(m).map((r) => r.windowMedianMs))),
    }]));
    return {
      benchmark: 'rolling',
      target: 'adaptive / fixed 3 s restart wall time ≤ 0.6 at zero failures',
      met: ratio <= 0.6 && failures === 0 && runs.every((r) => r.drainsOk),
      headline: `ratio ${ratio.toFixed(3)} (${Math.round(wall('adaptive'))} ms / ${Math.round(wall('fixed'))} ms); send-state alone ${stateOnlyRatio.toFixed(3)}; traffic-confirmed window ${Math.round(windowMs('traffic'))} ms vs fixed ${Math.round(windowMs('fixed'))} ms (${trafficWindowRatio.toFixed(3)}); with minMs 0 ${Math.round(windowMs('traffic-min0'))} ms (${trafficMin0Ratio.toFixed(3)}); ${failures} failed requests`,
      config: { servers: 3, restartsPerServer: quick ? 1 : 2, runsPerMode: pairs, serverArgs: MODES, haproxy: 'inter 1s fall 1 rise 2, no retries, no redispatch, http-check send-state (not for traffic)' },
      ratio: round(ratio, 3),
      stateOnlyRatio: round(stateOnlyRatio, 3),
      trafficWindowRatio: round(trafficWindowRatio, 3),
      trafficMin0WindowRatio: round(trafficMin0Ratio, 3),
      pairRatios: pairRatios.map((x) => round(x, 3)),
      perMode,
      runs,
    };
  },
};
