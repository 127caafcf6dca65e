/**
 * The drainer in a real child process receiving real signals (test/core/fixtures/drain-child.mjs
 * on the built package): who may end the process, what a throwing listener or logger cannot
 * break, signal handlers given back after the drain, a second signal cutting the shutdown hooks,
 * and the warnings about signals that cannot reach the process. Every wait is on a line the
 * child prints or on its exit, bounded, and says what it waited for.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { EXIT_CODE_FORCED } from '../../src/index.js';
import { killAll, track, type ExitStatus } from '../helpers/processes.js';

const FIXTURE = resolve('test/core/fixtures/drain-child.mjs');
const started: Child[] = [];

interface Child {
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the first line (already printed or to come) matching `match`; rejects after `ms` saying what it waited for. */
  line(match: (l: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
  send(text: string): void;
}

function start(config: object, how: { readonly command?: readonly string[]; readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}): Child {
  assert.ok(existsSync('dist/index.js'), 'dist/index.js is missing: run npm run build first');
  const argv = [FIXTURE, JSON.stringify(config)];
  const [cmd, ...args] = how.command ? [...how.command] : [process.execPath, ...argv];
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: how.env ?? childEnv(), cwd: how.cwd ?? process.cwd() });
  const closed = track(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr }).on('line', (text) => stderr.push(text));
  const c: Child = {
    child,
    closed,
    lines,
    stderr,
    line(match, what, ms = 20_000) {
      return new Promise((resolveLine, reject) => {
        const check = (): void => {
          const found = lines.find(match);
          if (found) {
            done();
            resolveLine(found);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; stdout: ${JSON.stringify(lines)}; stderr: ${stderr.join('\n')}`));
        }, ms);
        const onClose = (): void => {
          // Lines may still be in flight when 'close' fires; check once more, then give up.
          check();
          if (waiters.has(check)) {
            done();
            reject(new Error(`the child exited while waiting for ${what}; stdout: ${JSON.stringify(lines)}; stderr: ${stderr.join('\n')}`));
          }
        };
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void closed.then(onClose);
        check();
      });
    },
    send(text) {
      child.stdin.write(`${text}\n`);
    },
  };
  started.push(c);
  return c;
}

/** The test runner's environment without npm's variables, so children are not "started by npm". */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
  return { ...env, ...extra };
}

/** The child's exit, bounded: a child that does not exit fails the test (and is killed). */
async function exited(c: Child, what: string, ms = 20_000): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const outcome = await Promise.race([c.closed, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    c.child.kill('SIGKILL');
    await c.closed;
    throw new Error(`the child did not exit within ${ms} ms (${what}); stdout: ${JSON.stringify(c.lines)}; stderr: ${c.stderr.join('\n')}`);
  }
  return outcome;
}

const listening = (l: Record<string, unknown>): boolean => l.event === 'listening';
const FAST = { deregister: { mode: 'fixed', delayMs: 0 }, exitGraceMs: 0 };

describe('drainer in a child process', { timeout: 120_000 }, () => {
  after(() => killAll(started));

  it('a SIGTERM drain exits 0 although every event listener and the logger throw', async () => {
    const c = start({
      options: FAST,
      throwIn: ['state', 'phase', 'windowEnd', 'settled', 'drained', 'persistentShutdown'],
      throwingLogger: true,
      hooks: [{ name: 'db' }],
    });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    assert.deepEqual(await exited(c, 'after SIGTERM'), { code: 0, signal: null });
    assert.ok(c.lines.some((l) => l.event === 'hook_start' && l.name === 'db'), 'the shutdown hook ran');
    assert.ok(c.lines.some((l) => l.event === 'drained' && l.outcome === 'completed'), 'the drain completed');
    const stderr = c.stderr.join('\n');
    // Not lost silently: without a working logger, each listener error is a process warning.
    for (const event of ['state', 'phase', 'windowEnd', 'settled', 'persistentShutdown']) {
      assert.match(stderr, new RegExp(`a '${event}' listener threw \\(Error: ${event} listener broke\\)`), `the ${event} listener's error on stderr`);
    }
    assert.match(stderr, /the logger threw \(Error: logger info broke\)/);
    assert.doesNotMatch(stderr, /Unhandled|ERR_UNHANDLED_REJECTION/);
  });

  it('reports a throwing listener through the logger, at error', async () => {
    const c = start({ options: FAST, throwIn: ['phase'], recordLogger: true });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    assert.deepEqual(await exited(c, 'after SIGTERM'), { code: 0, signal: null });
    const errors = c.lines.filter((l) => l.event === 'log' && l.level === 'error');
    // One per phase: deregistering, closing, persistent, waiting, cleanup.
    assert.strictEqual(errors.length, 5, JSON.stringify(errors));
    assert.strictEqual((errors[0]!.fields as { listenerOf: string }).listenerOf, 'phase');
  });

  it('an API drain with signals handled does not end the process; a SIGTERM drain does, with 0', async () => {
    const api = start({ options: FAST, apiDrain: {}, stayAlive: true });
    await api.line((l) => l.event === 'api_drained', 'the API drain to resolve');
    // The exit, had one been scheduled, would come exitGraceMs (0) after the drain: ask the child
    // afterwards whether it is alive and what exit code it was given.
    api.send('status');
    const status = await api.line((l) => l.event === 'status', 'the status answer');
    assert.deepEqual(status, { event: 'status', state: 'stopped', exitCode: null, signalListeners: 0 });
    api.send('exit');
    assert.deepEqual(await exited(api, 'after "exit" on stdin'), { code: 0, signal: null });
    assert.strictEqual(api.lines.filter((l) => l.event === 'status').length, 1);

    const sig = start({ options: FAST, stayAlive: true });
    await sig.line(listening, 'the listening line');
    sig.child.kill('SIGTERM');
    // stdin stays open (stayAlive): only drainkit's exit can end this child.
    assert.deepEqual(await exited(sig, 'after SIGTERM'), { code: 0, signal: null });
  });

  it("drain(reason, { exit: true }) ends the process; { exit: 'as-signal' } does exactly when exitOnDrain is true", async () => {
    const asked = start({ options: { ...FAST, signals: false }, apiDrain: { request: { exit: true } }, stayAlive: true });
    assert.deepEqual(await exited(asked, 'after drain({ exit: true })'), { code: 0, signal: null });

    const owner = start({ options: FAST, apiDrain: { request: { exit: 'as-signal' } }, stayAlive: true });
    assert.deepEqual(await exited(owner, "after drain({ exit: 'as-signal' })"), { code: 0, signal: null });

    const notOwner = start({ options: { ...FAST, exitOnDrain: false }, apiDrain: { request: { exit: 'as-signal' } }, stayAlive: true });
    await notOwner.line((l) => l.event === 'api_drained', 'the drain to resolve');
    notOwner.send('status');
    assert.strictEqual((await notOwner.line((l) => l.event === 'status', 'the status answer')).exitCode, null);
    notOwner.send('exit');
    assert.deepEqual(await exited(notOwner, 'after "exit" on stdin'), { code: 0, signal: null });
  });

  it('with exitOnDrain false, the signal handlers are gone once stopped: a later SIGTERM kills the process', async () => {
    const c = start({ options: { ...FAST, exitOnDrain: false }, stayAlive: true });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    const drained = await c.line((l) => l.event === 'drained', 'the drained line');
    assert.deepEqual(drained.signalListeners, { SIGTERM: 0, SIGINT: 0 });
    c.child.kill('SIGTERM');
    assert.deepEqual(await exited(c, 'after the second SIGTERM'), { code: null, signal: 'SIGTERM' });
  });

  it('a second signal during cleanup aborts the running hook, skips the rest, and the exit follows with the forced code', async () => {
    // Hooks run last registered first: "cache" waits for its abort, "db" never gets its turn.
    const c = start({ options: FAST, hooks: [{ name: 'db' }, { name: 'cache', waitForAbort: true }] });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    await c.line((l) => l.event === 'hook_start' && l.name === 'cache', 'the "cache" hook to start');
    c.child.kill('SIGTERM');
    const aborted = await c.line((l) => l.event === 'hook_aborted', 'the "cache" hook to see its abort');
    assert.match(String(aborted.reason), /shutdown cut short \(SIGTERM\)/);
    const drained = await c.line((l) => l.event === 'drained', 'the drained line');
    assert.deepEqual(drained.hooks, [{ name: 'cache', outcome: 'aborted' }, { name: 'db', outcome: 'skipped' }]);
    assert.strictEqual(drained.outcome, 'completed', 'the wait had completed before the cleanup was cut');
    assert.deepEqual(await exited(c, 'after the second SIGTERM'), { code: EXIT_CODE_FORCED, signal: null });
    assert.ok(!c.lines.some((l) => l.event === 'hook_start' && l.name === 'db'), 'the skipped hook never ran');
  });

  it('a second signal during the window forces: forcedBy "signal", the signal as forceReason', async () => {
    const c = start({ options: { ...FAST, deregister: { mode: 'fixed', delayMs: 60_000 } } });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    // Two SIGTERMs sent before the first is handled merge into one: wait for the drain first.
    await c.line((l) => l.event === 'state' && l.state === 'draining', 'the drain to start');
    c.child.kill('SIGTERM');
    const status = await exited(c, 'after the second SIGTERM');
    const drained = c.lines.find((l) => l.event === 'drained');
    assert.ok(drained, 'a drained line');
    assert.strictEqual(status.code, EXIT_CODE_FORCED);
    assert.strictEqual(drained.forcedBy, 'signal');
    assert.strictEqual(drained.forceReason, 'SIGTERM');
  });
});
