/**
 * Rolling restarts behind a real nginx (open-source: no active health checks; it learns a
 * server is gone only when a connection to it fails) with upstream keep-alive and
 * `proxy_next_upstream` at its default, under steady keep-alive load with POSTs: zero failed
 * requests with drainkit, failures without it.
 *
 * The negative control also shows why POST is the hard case: nginx resends a GET that failed on
 * a dying server to the next one, but never a POST that reached a server (non-idempotent), so
 * every failure the control sees is a POST.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it, type TestContext } from 'node:test';
import { CLI, NAIVE_SERVER, describeResult, nginxOrSkip, rollingBehindNginx, type RollingNginxResult } from '../helpers/nginx-rolling.js';
import { killTracked } from '../helpers/processes.js';

/**
 * No failed request but the one race docs/nginx.md names: nginx keeps connecting up to the
 * listener's close, and a connection whose handshake the kernel completes in the instant of the
 * close is reset, with the POST nginx wrote on it (nginx resends a GET). drainkit now reads the
 * accept queue's length from the kernel right before the close (src/core/accept-queue.ts), which
 * narrowed that instant, but a fresh-clone CI run still lost one POST of 11,158 that way (before
 * the read: about one in 10,000 in some runs). It is tolerated only in exactly that form: each
 * failure a 502 for a POST, matched by nginx's log of a reset while reading a POST's response
 * header, at most one per drain round. Anything else, or more, fails the test; the negative
 * control loses many more than that.
 */
function assertOnlyAcceptQueueRace(t: TestContext, r: RollingNginxResult, rounds: number): void {
  if (r.load.failed === 0) return;
  const posts502 = r.load.failuresByKind['status:502'] ?? 0;
  const resetPosts = (r.errorLog.match(/recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream[^\n]*request: "POST /g) ?? []).length;
  const raced = r.load.failed === posts502 && (r.load.failuresByMethod.POST ?? 0) === posts502 && posts502 <= Math.min(resetPosts, rounds);
  assert.ok(raced, `requests failed during the rolling restart, beyond the accept-queue race\n${describeResult(r)}`);
  t.diagnostic(`the accept-queue race of docs/nginx.md: ${posts502} POST reset at a listener close (nginx logged ${resetPosts} reset POST)`);
}

describe('rolling restart behind nginx (passive health only, proxy_next_upstream defaults)', { timeout: 240_000 }, () => {
  after(() => killTracked());

  it('negative control: a server that exits on SIGTERM fails POSTs, which nginx does not resend; GETs are resent', { timeout: 120_000 }, async (t) => {
    if (!nginxOrSkip(t)) return;
    // Two rounds: about one POST is in flight per step, so six steps make a blind pass all but impossible.
    const r = await rollingBehindNginx((port) => [NAIVE_SERVER, '--port', String(port)], 2, 'passive', t.signal);
    t.diagnostic(describeResult(r).split('\n')[0]!);
    assert.ok(r.load.total > 500, `too little load: ${r.load.total}`);
    assert.ok((r.load.failuresByMethod.POST ?? 0) > 0, `the naive server lost no POST: the harness cannot see failures\n${describeResult(r)}`);
    assert.equal(r.load.failuresByMethod.GET ?? 0, 0, `nginx resends a failed GET to the next server (proxy_next_upstream error), so only POSTs should fail\n${describeResult(r)}`);
  });

  it('drainkit example server (fixed 2 s window > upstream keepalive_timeout 1 s): no failed request but the accept-queue race, over 2 rounds', { timeout: 150_000 }, async (t) => {
    if (!nginxOrSkip(t)) return;
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const r = await rollingBehindNginx((port) => [
      CLI, 'example-server', '--port', String(port), '--log-level', 'warn',
      '--deregister-mode', 'fixed', '--deregister-delay-ms', '2000', '--drain-timeout-ms', '10000',
    ], 2, 'passive', t.signal);
    t.diagnostic(describeResult(r).split('\n')[0]!);
    assertOnlyAcceptQueueRace(t, r, 2);
    assert.ok(r.load.total >= 1_000 && r.load.posts >= 300, `too little load to prove anything: ${r.load.total} requests, ${r.load.posts} POST`);
    assert.equal(r.drains.length, 6);
    for (const d of r.drains) {
      assert.deepEqual(d.exit, { code: 0, signal: null }, `drain of :${d.port} round ${d.round} did not exit 0\n${describeResult(r)}`);
      assert.equal(d.drainComplete?.success, true, `drain of :${d.port}: ${JSON.stringify(d.drainComplete)}`);
    }
  });
  // nginx never reads readiness, so nothing but the listener's close tells it to stop: the
  // draining server keeps its share of the traffic through the window, which therefore runs to
  // its maximum unless the load happens to pause for quiet-ms. Either way, with the minimum above
  // the upstream keepalive_timeout no pooled connection is left at the close: zero failures.
  it("confirm 'traffic' (min 1.5 s > upstream keepalive_timeout 1 s, max 3 s): no failed request but the accept-queue race; the window ends by the traffic or at its maximum", { timeout: 150_000 }, async (t) => {
    if (!nginxOrSkip(t)) return;
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const r = await rollingBehindNginx((port) => [
      CLI, 'example-server', '--port', String(port), '--log-level', 'warn',
      '--deregister-mode', 'adaptive', '--deregister-confirm', 'traffic', '--deregister-min-ms', '1500',
      '--deregister-delay-ms', '3000', '--quiet-ms', '300', '--drain-timeout-ms', '10000',
    ], 1, 'passive', t.signal);
    const endings = r.drains.map((d) => (d.drainComplete?.window as { endedBy?: string } | undefined)?.endedBy);
    t.diagnostic(`${describeResult(r).split('\n')[0]!}; windows ended by ${JSON.stringify(endings)}`);
    assertOnlyAcceptQueueRace(t, r, 1);
    assert.ok(r.load.total >= 500 && r.load.posts >= 150, `too little load to prove anything: ${r.load.total} requests, ${r.load.posts} POST`);
    assert.equal(r.drains.length, 3);
    for (const [i, d] of r.drains.entries()) {
      assert.deepEqual(d.exit, { code: 0, signal: null }, `drain of :${d.port} did not exit 0\n${describeResult(r)}`);
      assert.equal(d.drainComplete?.success, true, `drain of :${d.port}: ${JSON.stringify(d.drainComplete)}`);
      assert.ok(endings[i] === 'traffic-quiet' || endings[i] === 'max', `window of :${d.port} ended by ${String(endings[i])}`);
    }
  });
});
