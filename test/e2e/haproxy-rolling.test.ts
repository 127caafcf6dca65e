/**
 * The end-to-end proof: rolling restarts behind a real HAProxy (no retries, no redispatch) under
 * steady load lose no request with drainkit, and do lose requests without it.
 *
 * The negative control runs first: if the naive server "passed", the harness would be blind and
 * the drainkit result would prove nothing. It shows mass refusals, which only a balancer can;
 * the subtler failures (an idle keep-alive closed in the window, a response tail eaten by an
 * RST, a missing `Connection: close`) have controls of their own in negative-controls.test.ts,
 * on a direct socket harness where each failure is certain rather than probable.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { haproxySkip } from '../helpers/haproxy.js';
import { killTracked } from '../helpers/processes.js';
import { describeFailures, rollingRestart, type RollingResult } from '../helpers/rolling.js';

const NAIVE_SERVER = fileURLToPath(new URL('../fixtures/naive-server.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function summary(result: RollingResult): string[] {
  const windows = result.drains
    .filter((d) => d.stage === 'rolling')
    .map((d) => {
      const w = d.drainComplete?.window as { durationMs?: number; endedBy?: string } | undefined;
      const window = w?.durationMs === undefined ? 'no drain_complete line' : `window ${Math.round(w.durationMs)} ms (${w.endedBy ?? '?'})`;
      return `round ${d.round} ${d.server}: SIGTERM to exit ${d.exitedAt - d.signalledAt} ms, ${window}`;
    });
  return [
    `${result.load.total} requests, ${result.load.ok} ok, ${result.load.failed} failed ${JSON.stringify(result.load.failuresByKind)}`,
    `restart phase ${result.restartWallMs} ms`,
    ...windows,
  ];
}

// Skipped locally without HAProxy; in CI a missing HAProxy fails these tests, never skips them.
describe('rolling restart behind HAProxy (strict: no retries, no redispatch)', { timeout: 400_000, skip: haproxySkip() }, () => {
  // Backstop: rollingRestart cleans up after itself, but a test cancelled mid-way must not leave
  // HAProxy or a server running (they would also keep this test process alive).
  after(() => killTracked());

  it('negative control: a server that exits on SIGTERM fails requests, and the harness sees them', { timeout: 180_000 }, async (t) => {
    const result = await rollingRestart({
      servers: 3,
      rounds: 1,
      serverCommand: (port) => [NAIVE_SERVER, '--port', String(port)],
      signal: t.signal,
    });
    for (const line of summary(result)) t.diagnostic(line);
    assert.ok(result.load.total > 0, 'the load sent no request');
    assert.ok(result.load.failed > 0, `the naive server lost no request: the harness cannot see failures\n${describeFailures(result)}`);
  });

  it('drainkit example server (adaptive window): zero failed requests over 2 rounds, WebSocket and SSE clients reconnect and end connected', { timeout: 180_000 }, async (t) => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first (npm test does)`);
    const result = await rollingRestart({
      servers: 3,
      rounds: 2,
      serverCommand: (port) => [
        CLI, 'example-server', '--port', String(port),
        '--deregister-mode', 'adaptive', '--deregister-delay-ms', '5000', '--drain-timeout-ms', '10000',
        '--sse-interval-ms', '200', '--sse-reconnect-ms', '300',
      ],
      persistent: { websockets: 6, eventSources: 6 },
      signal: t.signal,
    });
    for (const line of summary(result)) t.diagnostic(line);

    assert.equal(result.load.failed, 0, `requests failed during the rolling restart\n${describeFailures(result)}`);
    assert.ok(result.load.total >= 2_000, `too little load to prove anything: ${result.load.total} requests`);
    for (const drain of result.drains) {
      const what = `${drain.stage} drain of ${drain.server} (pid ${drain.pid})`;
      assert.deepEqual(drain.exit, { code: 0, signal: null }, `${what} did not exit 0\n${describeFailures(result)}`);
      assert.ok(drain.drainComplete, `${what} printed no drain_complete line`);
      assert.equal(drain.drainComplete.success, true, `${what} reported ${JSON.stringify(drain.drainComplete)}`);
    }

    // Persistent clients: every drain told its WebSockets "going away" (1001) and its SSE streams
    // to retry; each reconnected through HAProxy to a survivor and all ended connected.
    const p = result.persistent!;
    t.diagnostic(`persistent clients: ${JSON.stringify(p)}`);
    assert.equal(p.websocket.openAtEnd, p.websocket.clients, 'every WebSocket client ends connected');
    assert.deepEqual(Object.keys(p.websocket.closeCodes), ['1001'], 'WebSocket clients only ever saw 1001 going away');
    assert.ok(p.websocket.opens > p.websocket.clients, 'WebSocket clients reconnected after drains');
    assert.deepEqual(p.websocket.errors, {}, 'no WebSocket connection attempt failed');
    assert.ok(p.websocket.echoes > 0);
    assert.equal(p.sse.openAtEnd, p.sse.clients, 'every EventSource ends connected');
    assert.equal(p.sse.failedForGood, 0, 'no EventSource was failed for good');
    assert.ok(p.sse.opens > p.sse.clients, 'EventSources reconnected after drains');
    assert.ok(p.sse.events > 0);
  });
});
