/**
 * The window confirmed by traffic, end to end: rolling restarts behind a real HAProxy that says
 * nothing the app can read (no `http-check send-state`, and the servers are not told HAProxy's
 * `fall`), so only the traffic itself can end the deregistration window early. Under steady
 * keep-alive load, with no minimum, every drain's window must end by `traffic-quiet` with zero
 * failed requests: the requests HAProxy keeps sending until its check sees the 503 hold it open.
 *
 * The negative control runs first, on the same harness and HAProxy settings: a zero-length
 * window (the listener closes at the first instant of the drain) loses requests, so the zero
 * below is the window's doing, not a harness that cannot see failures.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { haproxySkip } from '../helpers/haproxy.js';
import { killTracked } from '../helpers/processes.js';
import { describeFailures, rollingRestart, type RollingResult } from '../helpers/rolling.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** HAProxy checks every second and marks a server down at its first failed check (`fall 1`). */
const HAPROXY = { checkIntervalMs: 1_000, fall: 1, sendState: false } as const;
/**
 * No minimum at all, on purpose: HAProxy needs up to a check interval (1 s) to see the 503 and
 * stop routing, and here nothing but the traffic itself holds the window open that long. (In a
 * deployment, minMs is the balancer's slowest reaction; see the docs.)
 */
const MIN_MS = 0;
const QUIET_MS = 500;

function windows(result: RollingResult): { endedBy: string; durationMs: number }[] {
  return result.drains.map((d) => {
    const w = d.drainComplete?.window as { durationMs?: number; endedBy?: string } | undefined;
    return { endedBy: w?.endedBy ?? 'no drain_complete line', durationMs: Math.round(w?.durationMs ?? Number.NaN) };
  });
}

function summary(result: RollingResult): string[] {
  return [
    `${result.load.total} requests, ${result.load.ok} ok, ${result.load.failed} failed ${JSON.stringify(result.load.failuresByKind)}`,
    `restart phase ${result.restartWallMs} ms`,
    ...result.drains.map((d, i) => `${d.stage} ${d.round ?? ''} ${d.server}: SIGTERM to exit ${d.exitedAt - d.signalledAt} ms, window ${JSON.stringify(windows(result)[i])}`),
  ];
}

const serverArgs = (port: number, window: readonly string[]): string[] => [
  CLI, 'example-server', '--port', String(port), ...window, '--drain-timeout-ms', '10000', '--log-level', 'warn',
];

// Skipped locally without HAProxy; in CI a missing HAProxy fails these tests, never skips them.
describe('rolling restart behind HAProxy without send-state: the window ends on the traffic', { timeout: 400_000, skip: haproxySkip() }, () => {
  after(() => killTracked());

  it('negative control: with no window at all, the same rolling restart loses requests', { timeout: 180_000 }, async (t) => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const result = await rollingRestart({
      servers: 3,
      rounds: 1,
      serverCommand: (port) => serverArgs(port, ['--deregister-mode', 'fixed', '--deregister-delay-ms', '0']),
      haproxy: HAPROXY,
      signal: t.signal,
    });
    for (const line of summary(result)) t.diagnostic(line);
    assert.ok(result.load.total > 0, 'the load sent no request');
    assert.ok(result.load.failed > 0, `a zero window lost no request: the harness cannot see what the window prevents\n${describeFailures(result)}`);
  });

  it("confirm 'traffic': zero failed requests over 2 rounds, every window ended by traffic-quiet", { timeout: 180_000 }, async (t) => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const result = await rollingRestart({
      servers: 3,
      rounds: 2,
      serverCommand: (port) =>
        serverArgs(port, [
          '--deregister-mode', 'adaptive', '--deregister-confirm', 'traffic',
          '--deregister-min-ms', String(MIN_MS), '--quiet-ms', String(QUIET_MS), '--deregister-delay-ms', '10000',
        ]),
      haproxy: HAPROXY,
      signal: t.signal,
    });
    for (const line of summary(result)) t.diagnostic(line);

    assert.equal(result.load.failed, 0, `requests failed during the rolling restart\n${describeFailures(result)}`);
    assert.ok(result.load.total >= 2_000, `too little load to prove anything: ${result.load.total} requests`);
    assert.match(result.haproxyConfig, /option httpchk/);
    assert.doesNotMatch(result.haproxyConfig, /send-state/, 'HAProxy must give no readable confirmation here');
    for (const [i, drain] of result.drains.entries()) {
      const what = `${drain.stage} drain of ${drain.server} (pid ${drain.pid})`;
      assert.deepEqual(drain.exit, { code: 0, signal: null }, `${what} did not exit 0\n${describeFailures(result)}`);
      assert.equal(drain.drainComplete?.success, true, `${what} reported ${JSON.stringify(drain.drainComplete)}`);
      const w = windows(result)[i]!;
      // Under load the traffic, not the 10 s maximum, ends it: HAProxy stopped sending, and the server saw that.
      assert.equal(w.endedBy, 'traffic-quiet', `${what}: window ${JSON.stringify(w)}`);
      assert.ok(w.durationMs >= QUIET_MS, `${what}: window ${w.durationMs} ms ended before quietMs`);
    }
    t.diagnostic(`rolling windows (HAProxy's reaction + quietMs): ${windows(result).filter((_, i) => result.drains[i]!.stage === 'rolling').map((w) => w.durationMs).join(', ')} ms`);
  });
});
