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
/** Pids from listening lines: under a wrapper the server is not our direct child, and a failed test must not leave it running. */
const serverPids = new Set<number>();

async function cleanUp(): Promise<void> {
  for (const pid of serverPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  serverPids.clear();
  await killAll(started);
}

interface Child {
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the first line (already printed or to come) matching `match`; rejects after `ms` saying what it waited for. */
  line(match: (l: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
  send(text: string): void;
  /** Everything the child wrote on stdout, as text. */
  stdoutText(): string;
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
  let stdoutText = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdoutText += d));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    if (line.event === 'listening' && typeof line.pid === 'number') serverPids.add(line.pid);
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
    stdoutText: () => stdoutText,
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
    // Under a wrapper the server itself holds the pipes open: kill it too, or `closed` never comes.
    for (const l of c.lines) {
      if (l.event === 'listening' && typeof l.pid === 'number') {
        try {
          process.kill(l.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await c.closed;
    throw new Error(`the child did not exit within ${ms} ms (${what}); stdout: ${JSON.stringify(c.lines)}; stderr: ${c.stderr.join('\n')}`);
  }
  return outcome;
}

const listening = (l: Record<string, unknown>): boolean => l.event === 'listening';
const FAST = { deregister: { mode: 'fixed', delayMs: 0 }, exitGraceMs: 0 };

describe('drainer in a child process', { timeout: 120_000 }, () => {
  after(cleanUp);

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

  it('await fastify.close() with the drainkit plugin drains and does not end the process', async () => {
    const c = start({}, { command: [process.execPath, resolve('test/core/fixtures/fastify-child.mjs')] });
    assert.deepEqual(await c.line((l) => l.event === 'closed', 'fastify.close() to resolve'), { event: 'closed', state: 'stopped' });
    c.send('status');
    assert.deepEqual(await c.line((l) => l.event === 'status', 'the status answer'), { event: 'status', exitCode: null });
    c.send('exit');
    assert.deepEqual(await exited(c, 'after "exit" on stdin'), { code: 0, signal: null });
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

describe('warnings at start about signals that may not reach the process', { timeout: 120_000 }, () => {
  after(cleanUp);
  const WRAPPER = /DRAINKIT_SIGNAL_WRAPPER.*this process was started through (.*?), which does not pass SIGTERM on reliably.*exec node.*tini.*signalWarnings: false/;

  /** Starts the child, reads its listening line, drains it with SIGTERM; returns its stderr. */
  async function stderrOf(config: object, how: Parameters<typeof start>[1] = {}): Promise<string> {
    const c = start(config, how);
    // Signalled directly: a wrapper would not pass the signal on (which is what the warning says).
    const { pid } = (await c.line(listening, 'the listening line')) as { pid: number };
    process.kill(pid, 'SIGTERM');
    assert.strictEqual((await exited(c, 'after SIGTERM')).code, 0);
    return c.stderr.join('\n');
  }

  const shWrapped = (config: object): Parameters<typeof start>[1] => ({
    // `; exit $?` keeps sh from exec-ing node, as a Dockerfile's shell-form CMD with more than one command does.
    command: ['sh', '-c', `"${process.execPath}" "$0" "$1"; exit $?`, FIXTURE, JSON.stringify(config)],
  });

  it('started by sh -c: warns once, naming the wrapper and what to do; started directly: silent', async () => {
    const wrapped = await stderrOf({ options: FAST }, shWrapped({ options: FAST }));
    const m = WRAPPER.exec(wrapped);
    assert.ok(m, wrapped);
    assert.match(m[1]!, /^sh -c \(pid \d+\)$/);
    assert.strictEqual(wrapped.split('\n').filter((l) => l.includes('DRAINKIT_SIGNAL_WRAPPER')).length, 1);

    const direct = await stderrOf({ options: FAST });
    assert.doesNotMatch(direct, /DRAINKIT_SIGNAL_WRAPPER/);
  });

  it('signalWarnings: false, or signals: false, keeps it quiet', async () => {
    const quiet = { options: { ...FAST, signalWarnings: false } };
    assert.doesNotMatch(await stderrOf(quiet, shWrapped(quiet)), /DRAINKIT_SIGNAL_WRAPPER/);
    const noSignals = { options: { ...FAST, signals: false, exitOnDrain: true }, apiDrain: { request: { exit: true } } };
    const c = start(noSignals, shWrapped(noSignals));
    assert.strictEqual((await exited(c, 'after the API drain')).code, 0);
    assert.doesNotMatch(c.stderr.join('\n'), /DRAINKIT_SIGNAL_WRAPPER/);
  });

  it('started by npm run: warns and names the script', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drainkit-npm-'));
    try {
      const config = JSON.stringify({ options: FAST });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'wrapped', version: '1.0.0', private: true, scripts: { start: `node ${FIXTURE} '${config}'` } }));
      const wrapped = await stderrOf({}, { command: ['npm', 'run', '--silent', 'start'], cwd: dir });
      const m = WRAPPER.exec(wrapped);
      assert.ok(m, wrapped);
      // npm runs the script through `sh -c`, which may or may not exec node.
      assert.match(m[1]!, /^npm run start \(pid \d+\)( and sh -c \(pid \d+\))?$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two drainers handling signals: one warning saying how to silence it; one SIGTERM drains both and the exit waits for both', async () => {
    const c = start({ options: FAST, second: { options: { deregister: { mode: 'fixed', delayMs: 300 }, exitGraceMs: 0 } } });
    await c.line(listening, 'the listening line');
    c.child.kill('SIGTERM');
    assert.deepEqual(await exited(c, 'after SIGTERM'), { code: 0, signal: null });
    const drained = c.lines.filter((l) => l.event === 'drained').map((l) => l.server);
    assert.deepEqual(drained, ['first', 'second'], 'the first drain to end did not cut the second one short');
    const stderr = c.stderr.join('\n');
    const shared = stderr.split('\n').filter((l) => l.includes('DRAINKIT_SIGNALS_SHARED'));
    assert.strictEqual(shared.length, 1, stderr);
    assert.match(shared[0]!, /another drainer in this process already handles SIGTERM, SIGINT: one signal drains both/);
    assert.match(shared[0]!, /pass signals: false to all drainers but one \(or signalWarnings: false to silence this\)/);
  });
});

describe('the default logger', { timeout: 120_000 }, () => {
  after(cleanUp);

  /** Runs the child on a pseudo-terminal (as a developer's shell would), drains it with SIGTERM, returns the terminal's output lines. */
  async function onTerminal(config: object): Promise<string[]> {
    const cmd = `"${process.execPath}" "${FIXTURE}" '${JSON.stringify(config)}'`;
    const c = start({}, { command: ['script', '-qfec', cmd, '/dev/null'] });
    const { pid } = (await c.line(listening, 'the listening line')) as { pid: number };
    process.kill(pid, 'SIGTERM');
    assert.strictEqual((await exited(c, 'after SIGTERM')).code, 0);
    return c.stdoutText().split(/\r?\n/).filter((l) => l.startsWith('drainkit:'));
  }

  it('on a terminal without a logger: one plain line per phase and outcome, no JSON', async () => {
    // A real exit grace: with 0 the forced-exit timer races the process's own exit and, on a
    // loaded machine, sometimes wins and adds its (correct) "event loop still busy" line.
    const lines = await onTerminal({ options: { ...FAST, deregister: { mode: 'fixed', delayMs: 50 }, exitGraceMs: 10_000, signalWarnings: false } });
    // An idle server: the phases with nothing to do (no persistent connection to tell, nothing to
    // wait for, no hook) print no line (test/core/terminal-logger.test.ts has the busy case).
    assert.strictEqual(lines.length, 3, lines.join('\n'));
    assert.match(lines[0]!, /^drainkit: draining \(SIGTERM\): readiness answers 503; 0 requests in flight, 0 persistent connections$/);
    assert.match(lines[1]!, /^drainkit: closing the listener after a \d+ ms deregistration window \(fixed\): 0 requests in flight$/);
    assert.match(lines[2]!, /^drainkit: drain completed in \d+ ms: 0 requests completed$/);
  });

  it('logger: false on a terminal, and no logger without a terminal: nothing', async () => {
    assert.deepEqual(await onTerminal({ options: { ...FAST, signalWarnings: false, logger: false } }), []);
    const piped = start({ options: FAST });
    await piped.line(listening, 'the listening line');
    piped.child.kill('SIGTERM');
    assert.strictEqual((await exited(piped, 'after SIGTERM')).code, 0);
    assert.deepEqual(piped.stderr, []);
  });
});
