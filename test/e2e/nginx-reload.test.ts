/**
 * Rolling restarts behind a real nginx that is told first, the way a deploy script does it with
 * open-source nginx: the server is marked `down` in the upstream and nginx reloaded, then the
 * server gets SIGTERM at once, and after the restart the server is restored and nginx reloaded
 * again. Same load as test/e2e/nginx-rolling.test.ts (upstream keep-alive, `proxy_next_upstream`
 * at its default, every third request a POST).
 *
 * Here nothing connects to the draining server once nginx's old worker is done with it, so
 * drainkit's traffic-confirmed window ends on the traffic itself and its listener closes with no
 * handshake in progress: exactly zero failed requests, with no tolerance for the accept-queue
 * race that passive failover leaves (docs/nginx.md). The negative control, a server that exits
 * on SIGTERM, shows the same harness sees the POSTs the old worker still had in flight.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CLI, NAIVE_SERVER, describeResult, nginxOrSkip, rollingBehindNginx } from '../helpers/nginx-rolling.js';
import { killTracked } from '../helpers/processes.js';

describe('rolling restart behind nginx, deregistered by a reload before each SIGTERM', { timeout: 240_000 }, () => {
  after(() => killTracked());

  it('negative control: a server that exits on SIGTERM right after the reload fails the POSTs nginx still had on it', { timeout: 120_000 }, async (t) => {
    if (!nginxOrSkip(t)) return;
    const r = await rollingBehindNginx((port) => [NAIVE_SERVER, '--port', String(port)], 2, 'reload', t.signal);
    t.diagnostic(describeResult(r).split('\n')[0]!);
    // Told first, the six restarts take about two seconds in all: a few hundred requests.
    assert.ok(r.load.total > 100, `too little load: ${r.load.total}`);
    assert.ok((r.load.failuresByMethod.POST ?? 0) > 0, `the naive server lost no POST: the harness cannot see failures\n${describeResult(r)}`);
  });

  it("drainkit example server, confirm 'traffic' (min 500 ms, quiet 300 ms, max 5 s): zero failed requests, every window ended by the traffic", { timeout: 150_000 }, async (t) => {
    if (!nginxOrSkip(t)) return;
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const r = await rollingBehindNginx((port) => [
      CLI, 'example-server', '--port', String(port), '--log-level', 'warn',
      '--deregister-mode', 'adaptive', '--deregister-confirm', 'traffic', '--deregister-min-ms', '500',
      '--deregister-delay-ms', '5000', '--quiet-ms', '300', '--drain-timeout-ms', '10000',
    ], 2, 'reload', t.signal);
    const windows = r.drains.map((d) => d.drainComplete?.window as { endedBy?: string; durationMs?: number } | undefined);
    t.diagnostic(`${describeResult(r).split('\n')[0]!}; windows ${JSON.stringify(windows.map((w) => `${w?.endedBy} ${Math.round(w?.durationMs ?? -1)} ms`))}`);
    assert.equal(r.load.failed, 0, `requests failed during the rolling restart\n${describeResult(r)}`);
    assert.ok(r.load.total >= 600 && r.load.posts >= 180, `too little load to prove anything: ${r.load.total} requests, ${r.load.posts} POST`);
    assert.equal(r.drains.length, 6);
    for (const [i, d] of r.drains.entries()) {
      assert.deepEqual(d.exit, { code: 0, signal: null }, `drain of :${d.port} round ${d.round} did not exit 0\n${describeResult(r)}`);
      assert.equal(d.drainComplete?.success, true, `drain of :${d.port}: ${JSON.stringify(d.drainComplete)}`);
      // nginx sends nothing new once reloaded, so the traffic goes quiet well before the maximum.
      assert.equal(windows[i]?.endedBy, 'traffic-quiet', `window of :${d.port} round ${d.round} ended by ${String(windows[i]?.endedBy)}\n${describeResult(r)}`);
    }
  });
});
