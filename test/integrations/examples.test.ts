/**
 * The examples under examples/ as real processes receiving SIGTERM: each serves, finishes the
 * request in flight, logs drainkit's phase lines through pino and its drain report, and exits 0.
 * They import drainkit by its package name, so `npm run build` must have run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { fetchText, within } from './clients.js';

const started: ServerProcess[] = [];

for (const name of ['express', 'fastify']) {
  describe(`examples/${name}.ts`, { timeout: 60_000 }, () => {
    after(() => killAll(started));

    it('serves, drains on SIGTERM with the request in flight completing, logs phases through pino and exits 0', async () => {
      assert.ok(existsSync('dist/index.js'), 'dist is missing: run npm run build first');
      const p = await spawnServer({ args: ['--import', 'tsx', `examples/${name}.ts`], env: { ...process.env, PORT: '0' } });
      started.push(p);
      const base = `http://127.0.0.1:${p.port}`;
      assert.equal((await fetchText(`${base}/`)).body, `hello from ${name}\n`);
      assert.equal((await fetchText(`${base}/readyz`)).status, 200);
      const slow = fetchText(`${base}/slow`, undefined, 30_000);
      // Sent at once: whether /slow arrives just before or just after the signal, the
      // deregistration window (up to 5 s without a balancer) still serves it.
      const status = signalAndWait(p, 'SIGTERM', 30_000);
      const res = await within(slow, 30_000, 'the /slow response');
      assert.equal(res.status, 200);
      assert.equal(res.body, 'slow done\n');
      assert.deepEqual(await status, { code: 0, signal: null });
      const phases = p.events.filter((e) => e.event === 'drain_phase').map((e) => e.phase);
      assert.deepEqual(phases, ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
      const report = p.events.find((e) => e.msg === 'drain report');
      assert.ok(report, 'the drain report was logged');
      assert.equal(report.outcome, 'completed');
      // /slow, whether it arrived just before or just after the signal, completes inside the drain.
      assert.equal(report.requestsCompleted, 1);
    });
  });
}
