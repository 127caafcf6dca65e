/**
 * `deregister.confirm: 'traffic'` on real sockets: the window ends quietMs after the last
 * request or new connection, and health probes (on the main port, each on its own connection,
 * as HAProxy and the kubelet send them) and bare TCP checks do not count as traffic. The
 * assertions are causal (the window never ends before the last traffic plus quietMs; it ends
 * by traffic, not by its maximum), never durations.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDrainer, DrainkitError, type Drainer, type DrainerOptions, type DrainResult } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { listen } from '../helpers/servers.js';

/** Long enough that probes every PROBE_EVERY_MS, if they counted, would keep the window open to its maximum. */
const QUIET_MS = 1_500;
const MAX_MS = 20_000;
const PROBE_EVERY_MS = 100;

async function start(deregister: DrainerOptions['deregister']) {
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, logger: false, drainTimeoutMs: 5_000, deregister });
  let lastRequestAt = 0;
  server.on('request', (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    lastRequestAt = performance.now();
    res.end('ok');
  });
  let lastConnectionAt = 0;
  server.on('connection', () => {
    lastConnectionAt = performance.now();
  });
  const port = await listen(server);
  return {
    server,
    drainer,
    port,
    get lastRequestAt() {
      return lastRequestAt;
    },
    get lastConnectionAt() {
      return lastConnectionAt;
    },
  };
}

/** The window's end as the drainer reports it, on the same clock as the server's handlers. */
function windowEnd(drainer: Drainer): Promise<{ at: number; endedBy: string }> {
  return new Promise((resolve) => drainer.once('windowEnd', ({ endedBy }) => resolve({ at: performance.now(), endedBy })));
}

function request(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

function tcpCheck(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

/** Runs `step` every PROBE_EVERY_MS until `stop` resolves; bounded in count. */
async function repeatUntil(stop: Promise<unknown>, step: () => Promise<unknown>, maxCount: number): Promise<number> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  let n = 0;
  while (!stopped && n < maxCount) {
    try {
      await step();
    } catch (err) {
      // Once the window is over the listener closes: a check racing that is refused, as expected.
      if (!stopped) throw err;
    }
    n += 1;
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  return n;
}

const traffic = { mode: 'adaptive', minMs: 0, maxMs: MAX_MS, quietMs: QUIET_MS, confirm: 'traffic' } as const;

describe("deregistration window confirmed by traffic", { timeout: 60_000 }, () => {
  it('requests in the window push its end out; it ends quietMs after the last one, by traffic', async () => {
    const h = await start(traffic);
    try {
      const ended = windowEnd(h.drainer);
      const drained = h.drainer.drain('test');
      // Six requests, each on a new connection, spaced by less than quietMs: the window must outlast all of them.
      for (let i = 0; i < 6; i++) {
        assert.equal(await request(h.port, '/work'), 200, `request ${i} in the window`);
        await new Promise((r) => setTimeout(r, QUIET_MS / 5));
      }
      const end = await withDeadline(ended, MAX_MS + 10_000, 'the window to end');
      assert.equal(end.endedBy, 'traffic-quiet');
      assert.ok(end.at >= h.lastRequestAt + QUIET_MS - 1, `window ended ${Math.round(h.lastRequestAt + QUIET_MS - end.at)} ms before the last request + quietMs`);
      const result: DrainResult = await withDeadline(drained, 10_000, 'the drain to finish');
      assert.equal(result.window.endedBy, 'traffic-quiet');
      assert.equal(result.success, true);
    } finally {
      h.server.close();
    }
  });

  it('a connection opened in the window is traffic even before it sends a request', async () => {
    const h = await start(traffic);
    let idle: net.Socket | undefined;
    try {
      const ended = windowEnd(h.drainer);
      const drained = h.drainer.drain('test');
      // Opened well after the start: without counting it, the window would end quietMs after the start.
      await new Promise((r) => setTimeout(r, QUIET_MS / 2));
      idle = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: h.port }, () => resolve(s));
        s.on('error', reject);
      });
      const end = await withDeadline(ended, MAX_MS + 10_000, 'the window to end');
      assert.equal(end.endedBy, 'traffic-quiet');
      assert.ok(end.at >= h.lastConnectionAt + QUIET_MS - 1, `window ended ${Math.round(h.lastConnectionAt + QUIET_MS - end.at)} ms before the new connection + quietMs`);
      idle.destroy();
      await withDeadline(drained, 10_000, 'the drain to finish');
    } finally {
      idle?.destroy();
      h.server.close();
    }
  });

  it('readiness probes on the main port, each on a new connection, are not traffic', async () => {
    const h = await start(traffic);
    try {
      const ended = windowEnd(h.drainer);
      const drained = h.drainer.drain('test');
      const probes = repeatUntil(ended, async () => assert.equal(await request(h.port, '/readyz'), 503), (MAX_MS / PROBE_EVERY_MS) * 2);
      const end = await withDeadline(ended, MAX_MS + 10_000, 'the window to end');
      assert.equal(end.endedBy, 'traffic-quiet', 'probes kept the window open to its maximum');
      assert.ok((await probes) >= 3, 'probes ran during the window');
      await withDeadline(drained, 10_000, 'the drain to finish');
    } finally {
      h.server.close();
    }
  });

  it('bare TCP checks (connect, close) are not traffic', async () => {
    const h = await start(traffic);
    try {
      const ended = windowEnd(h.drainer);
      const drained = h.drainer.drain('test');
      const checks = repeatUntil(ended, () => tcpCheck(h.port), (MAX_MS / PROBE_EVERY_MS) * 2);
      const end = await withDeadline(ended, MAX_MS + 10_000, 'the window to end');
      assert.equal(end.endedBy, 'traffic-quiet', 'TCP checks kept the window open to its maximum');
      assert.ok((await checks) >= 3, 'checks ran during the window');
      await withDeadline(drained, 10_000, 'the drain to finish');
    } finally {
      h.server.close();
    }
  });

  it('options: confirm must be "balancer" or "traffic", and traffic needs minMs', () => {
    const make = (deregister: unknown) => () => createDrainer(http.createServer(), { signals: false, logger: false, deregister: deregister as DrainerOptions['deregister'] });
    assert.throws(make({ mode: 'adaptive', confirm: 'traffic' }), (err: unknown) => err instanceof DrainkitError && /deregister\.minMs.*required with confirm "traffic"/.test(err.message));
    assert.throws(make({ mode: 'adaptive', minMs: 0, confirm: 'quiet' }), (err: unknown) => err instanceof DrainkitError && /deregister\.confirm.*"balancer" \(default\) or "traffic"/.test(err.message));
    assert.throws(make({ mode: 'fixed', delayMs: 10, confirm: 'traffic' }), /unknown option "deregister\.confirm"/);
    const d = createDrainer(http.createServer(), { signals: false, logger: false, deregister: { mode: 'adaptive', minMs: 2_000, confirm: 'traffic' } });
    assert.deepEqual(d.options.deregister, { mode: 'adaptive', minMs: 2_000, maxMs: 5_000, quietMs: 500, confirm: 'traffic' });
    const b = createDrainer(http.createServer(), { signals: false, logger: false, deregister: { mode: 'adaptive', confirm: 'balancer' } });
    assert.deepEqual(b.options.deregister, { mode: 'adaptive', minMs: 0, maxMs: 5_000, quietMs: 500 });
  });

  it("example-server: --deregister-confirm traffic needs --deregister-min-ms, and adaptive mode", () => {
    const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    for (const [flags, message] of [
      [['--deregister-confirm', 'traffic'], /--deregister-confirm traffic needs --deregister-min-ms/],
      [['--deregister-mode', 'fixed', '--deregister-confirm', 'traffic'], /--deregister-confirm.* apply to --deregister-mode adaptive only/],
      [['--deregister-confirm', 'sometimes'], /--deregister-confirm.*balancer, traffic/],
    ] as const) {
      const r = spawnSync(process.execPath, [main, 'example-server', '--port', '0', ...flags], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `flags ${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
