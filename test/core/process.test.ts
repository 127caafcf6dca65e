/**
 * The example server as a real child process receiving real signals: exit codes, the JSON event
 * lines on stdout, a second signal forcing, the drain timeout forcing, and usage errors. Waits
 * are on what the server shows (its in-flight gauge, its readiness answer, its exit), bounded,
 * and named; counts whose value is known are asserted exactly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { after, describe, it } from 'node:test';
import { EXIT_CODE_FORCED } from '../../src/index.js';
import { killAll, signalAndWait, spawnServer, type ServerProcess, drainCompleteLine } from '../helpers/processes.js';

const MAIN = 'dist/cli/main.js';
const started: ServerProcess[] = [];

async function example(...flags: string[]): Promise<ServerProcess> {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
  const p = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', ...flags] });
  started.push(p);
  return p;
}

/** Starts a request and resolves with its status, or the error code if it failed. */
function request(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** GETs `path` and resolves with status and body (rejects on a network error). */
function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Checks `cond` against the server until it holds; fails after `ms` naming what it waited for (a hang guard). */
async function until(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolves once the server has `n` requests of ours in flight, read from its own gauge: the
 * scrape is itself in flight while it is answered, so the gauge reads n + 1.
 */
function inFlight(port: number, n: number): Promise<void> {
  return until(`${n} request(s) in flight on the server`, async () => {
    const { body } = await fetchText(port, '/metrics');
    const m = /^drainkit_inflight_requests (\d+)$/m.exec(body);
    assert.ok(m, `no drainkit_inflight_requests in /metrics: ${body.slice(0, 200)}`);
    return Number(m[1]) === n + 1;
  });
}

/** Resolves once readiness answers 503: the drain has started. */
function draining(port: number): Promise<void> {
  return until('readiness to answer 503', async () => (await fetchText(port, '/readyz')).status === 503);
}

const drainLine = drainCompleteLine;

describe('example server process', { timeout: 120_000 }, () => {
  after(() => killAll(started));

  it('drains on SIGTERM, finishes in-flight work, prints drain_complete and exits 0', async () => {
    // The window gives the request sent 100 ms before the signal time to arrive on a loaded machine.
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '300');
    const work = request(p.port, '/work?ms=700');
    await inFlight(p.port, 1);
    const status = await signalAndWait(p, 'SIGTERM');
    assert.strictEqual(await work, 200);
    assert.deepEqual(status, { code: 0, signal: null });
    const line = drainLine(p);
    assert.strictEqual(line.success, true);
    assert.strictEqual(line.reason, 'SIGTERM');
    assert.strictEqual(line.pid, p.pid);
    assert.strictEqual(line.requestsAtStart, 1);
    assert.strictEqual(line.requestsCompleted, 1);
    assert.strictEqual(line.requestsRemaining, 0);
  });

  it('forces at the drain timeout and exits with the forced code', async () => {
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '0', '--drain-timeout-ms', '300');
    const hung = request(p.port, '/work?ms=600000');
    await inFlight(p.port, 1);
    const status = await signalAndWait(p, 'SIGTERM');
    assert.strictEqual(status.code, EXIT_CODE_FORCED);
    // Cut mid-request by the force: a reset, not a refusal (which would mean it never arrived).
    assert.strictEqual(await hung, 'ECONNRESET', 'the hung request was cut');
    const line = drainLine(p);
    assert.strictEqual(line.outcome, 'forced');
    assert.strictEqual(line.forcedBy, 'timeout');
    assert.strictEqual(line.requestsAtStart, 1);
    assert.strictEqual(line.requestsRemaining, 1);
    assert.strictEqual(line.connectionsForced, 1);
  });

  it('a second signal during the window forces at once', async () => {
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '60000');
    p.child.kill('SIGTERM');
    await draining(p.port);
    const status = await signalAndWait(p, 'SIGTERM', 20_000);
    assert.strictEqual(status.code, EXIT_CODE_FORCED);
    const line = drainLine(p);
    assert.strictEqual((line.window as { endedBy: string }).endedBy, 'skipped');
    assert.strictEqual(line.forcedBy, 'signal');
    assert.strictEqual(line.forceReason, 'SIGTERM');
  });

  it('Ctrl-C in a terminal skips the window; SIGINT without a terminal does not', async () => {
    // `script` runs the server on a pseudo-terminal, as a developer's shell would.
    const cmd = `${process.execPath} ${MAIN} example-server --port 0 --log-format json --log-level silent --deregister-mode fixed --deregister-delay-ms 60000`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    started.push({ child, closed: closed.then((code) => ({ code, signal: null })) } as unknown as ServerProcess);
    let out = '';
    child.stdout.setEncoding('utf8');
    const pid = await new Promise<number>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 15_000);
      child.stdout.on('data', (d: string) => {
        out += d;
        const m = /"event":"listening".*?"pid":(\d+)/.exec(out);
        if (m) {
          clearTimeout(guard);
          resolve(Number(m[1]));
        }
      });
    });
    process.kill(pid, 'SIGINT');
    let guard: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([
      closed,
      new Promise<never>((_, reject) => {
        guard = setTimeout(() => {
          process.kill(pid, 'SIGKILL');
          reject(new Error(`the server on a terminal did not exit within 20 s of SIGINT; output: ${out}`));
        }, 20_000);
      }),
    ]);
    clearTimeout(guard);
    assert.strictEqual(exitCode, 0);
    const line = /\{"event":"drain_complete".*\}/.exec(out);
    assert.ok(line, out);
    assert.equal((JSON.parse(line[0]) as { window: { endedBy: string } }).window.endedBy, 'skipped');

    const piped = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '300');
    assert.deepEqual(await signalAndWait(piped, 'SIGINT'), { code: 0, signal: null });
    assert.equal((drainLine(piped).window as { endedBy: string }).endedBy, 'fixed');
  });

  it('rejects bad flags with a usage error and exit code 2', () => {
    for (const flags of [['--port', 'abc'], ['--port', '0', '--deregister-mode', 'sometimes'], ['--port', '0', '--drain-timeout-ms', '-1'], ['--nope']]) {
      const r = spawnSync(process.execPath, [MAIN, 'example-server', ...flags], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `flags ${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /error|drainkit:/i);
    }
    // Combinations are checked in the command's action, after commander's own parsing: the
    // message must still reach stderr (it once did not) and name the flags.
    for (const [flags, message] of [
      [['--port', '0', '--deregister-mode', 'fixed', '--quiet-ms', '100'], /--quiet-ms .* apply to --deregister-mode adaptive only/],
      [['--port', '0', '--deregister-min-ms', '3000', '--deregister-delay-ms', '1000'], /--deregister-min-ms \(3000\) must not exceed --deregister-delay-ms \(1000\)/],
      [['--port', '0', '--heartbeat-ms', '100'], /apply with --database-url only/],
    ] as const) {
      const r = spawnSync(process.execPath, [MAIN, 'example-server', ...flags], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `flags ${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const unknown = spawnSync(process.execPath, [MAIN, 'frobnicate'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(unknown.status, 2);
    const help = spawnSync(process.execPath, [MAIN, 'example-server', '--help'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--deregister-mode/);
  });
});
