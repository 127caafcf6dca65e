/**
 * The preStop endpoint in a real child process, played as the kubelet plays it: `httpGet` on the
 * health port, then SIGTERM once the hook has returned. The SIGTERM is the same drain, not a
 * second signal: a request in flight completes and the process exits 0 (drained), where a
 * second signal would have forced the drain. A second SIGTERM still forces.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT_CODE_FORCED } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { freePort, killTracked, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';

const FIXTURE = resolve('test/core/fixtures/drain-child.mjs');

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function startChild(extra: { exitGraceMs?: number; stayAlive?: boolean } = {}): Promise<{ proc: ServerProcess; healthPort: number }> {
  const healthPort = await freePort();
  const options = {
    deregister: { mode: 'fixed', delayMs: 500 },
    drainTimeoutMs: 20_000,
    exitGraceMs: extra.exitGraceMs ?? 0,
    health: { port: healthPort, host: '127.0.0.1', preStopPath: '/prestop' },
  };
  const proc = await spawnServer({ args: [FIXTURE, JSON.stringify({ options, recordLogger: true, stayAlive: extra.stayAlive === true })] });
  // The health server listens right after the main one; wait (bounded) until it answers.
  for (let i = 0; ; i++) {
    try {
      if ((await get(healthPort, '/healthz')).status === 200) break;
    } catch (err) {
      if (i > 200) throw new Error(`the health server on :${healthPort} never answered: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { proc, healthPort };
}

const logEvents = (proc: ServerProcess, name: string) =>
  proc.events.filter((e) => e.event === 'log' && (e.fields as { event?: string } | undefined)?.event === name);

/** Resolves once the child reported the end of its drain (bounded). */
function drained(proc: ServerProcess): Promise<void> {
  return withDeadline(
    (async () => {
      while (!proc.events.some((e) => e.event === 'drained')) await new Promise((r) => setTimeout(r, 10));
    })(),
    10_000,
    'the drain to end',
  );
}

describe('preStop then SIGTERM, as the kubelet sends them', { timeout: 60_000 }, () => {
  after(() => killTracked());

  it('the SIGTERM after the hook is the same drain: the in-flight request completes and the process exits 0', async () => {
    const { proc, healthPort } = await startChild();
    // In flight through the window and past the SIGTERM; the fixture answers it after 1.5 s.
    const slow = get(proc.port, '/?ms=1500');
    const answer = await withDeadline(get(healthPort, '/prestop'), 10_000, 'the preStop answer');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'deregistration window over (fixed)\n');
    const exit = await signalAndWait(proc, 'SIGTERM', 20_000);
    assert.deepEqual(await withDeadline(slow, 5_000, 'the slow request'), { status: 200, body: 'done' });
    assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}; lines ${JSON.stringify(proc.events)}`);
    const drained = proc.events.find((e) => e.event === 'drained');
    assert.equal(drained?.outcome, 'completed');
    assert.equal(logEvents(proc, 'drain_signal_after_prestop').length, 1, 'the SIGTERM is logged as the hook\'s follow-up');
    assert.equal(logEvents(proc, 'drain_start').length, 1);
  });

  it('the kubelet\'s SIGTERM arriving after the drain is over (the process still exiting) is the hook\'s follow-up, not a kill: exit 0', async () => {
    // The drain can end right at the window's end, before the kubelet's SIGTERM lands; a process
    // still exiting then (here: held by a timer for its exit grace) must not die of that signal.
    const { proc, healthPort } = await startChild({ exitGraceMs: 1_500, stayAlive: true });
    await withDeadline(get(healthPort, '/prestop'), 10_000, 'the preStop answer');
    await drained(proc);
    const exit = await signalAndWait(proc, 'SIGTERM', 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}; lines ${JSON.stringify(proc.events)}`);
    assert.equal(logEvents(proc, 'drain_signal_after_prestop').length, 1);
  });

  it('after a preStop-started drain the exit waits for the kubelet\'s SIGTERM (bounded), so that signal never lands on a process in teardown', async () => {
    // Nothing holds this process after its drain (exit grace 0): it used to exit at once, and a
    // SIGTERM arriving during Node's teardown, after its signal watchers closed, killed it by
    // signal (a CI run of the kubelet test). Now it is still there when the SIGTERM comes.
    const { proc, healthPort } = await startChild();
    await withDeadline(get(healthPort, '/prestop'), 10_000, 'the preStop answer');
    await drained(proc);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(proc.child.exitCode, null, 'the process waits for the kubelet\'s SIGTERM instead of exiting into it');
    const exit = await signalAndWait(proc, 'SIGTERM', 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}; lines ${JSON.stringify(proc.events)}`);
    assert.equal(logEvents(proc, 'drain_signal_after_prestop').length, 1);
  });

  it('when no SIGTERM follows the hook, the process still exits 0 once that wait is over', async () => {
    const { proc, healthPort } = await startChild();
    await withDeadline(get(healthPort, '/prestop'), 10_000, 'the preStop answer');
    assert.deepEqual(await withDeadline(proc.closed, 15_000, 'the exit without a SIGTERM'), { code: 0, signal: null });
  });

  it('a second SIGTERM after that still forces the drain', async () => {
    const { proc, healthPort } = await startChild();
    const slow = get(proc.port, '/?ms=15000').catch((err: Error) => ({ status: 0, body: err.message }));
    await withDeadline(get(healthPort, '/prestop'), 10_000, 'the preStop answer');
    proc.child.kill('SIGTERM');
    await withDeadline(
      (async () => {
        while (logEvents(proc, 'drain_signal_after_prestop').length === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      10_000,
      'the first SIGTERM to be logged',
    );
    const exit = await signalAndWait(proc, 'SIGTERM', 20_000);
    assert.deepEqual(exit, { code: EXIT_CODE_FORCED, signal: null });
    assert.equal(proc.events.find((e) => e.event === 'drained')?.forcedBy, 'signal');
    await slow;
  });
});
