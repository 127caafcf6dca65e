/**
 * The example server as a real child process receiving real signals: exit codes, the JSON event
 * lines on stdout, a second signal forcing, the drain timeout forcing, and usage errors.
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

const drainLine = drainCompleteLine;

describe('example server process', { timeout: 120_000 }, () => {
  after(() => killAll(started));

  it('drains on SIGTERM, finishes in-flight work, prints drain_complete and exits 0', async () => {
    // The window gives the request sent 100 ms before the signal time to arrive on a loaded machine.
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '1000');
    const work = request(p.port, '/work?ms=700');
    await new Promise((r) => setTimeout(r, 100));
    const status = await signalAndWait(p, 'SIGTERM');
    assert.equal(await work, 200);
    assert.deepEqual(status, { code: 0, signal: null });
    const line = drainLine(p);
    assert.equal(line.success, true);
    assert.equal(line.reason, 'SIGTERM');
    assert.equal(line.pid, p.pid);
  });

  it('forces at the drain timeout and exits with the forced code', async () => {
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '0', '--drain-timeout-ms', '300');
    const hung = request(p.port, '/work?ms=600000');
    await new Promise((r) => setTimeout(r, 100));
    const status = await signalAndWait(p, 'SIGTERM');
    assert.equal(status.code, EXIT_CODE_FORCED);
    assert.equal(typeof (await hung), 'string', 'the hung request was cut');
    const line = drainLine(p);
    assert.equal(line.outcome, 'forced');
    assert.equal(line.requestsRemaining, 1);
  });

  it('a second signal during the window forces at once', async () => {
    const p = await example('--deregister-mode', 'fixed', '--deregister-delay-ms', '60000');
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const status = await signalAndWait(p, 'SIGTERM', 20_000);
    assert.equal(status.code, EXIT_CODE_FORCED);
    const line = drainLine(p);
    assert.equal((line.window as { endedBy: string }).endedBy, 'skipped');
  });

  it('Ctrl-C in a terminal skips the window; SIGINT without a terminal does not', async () => {
    // `script` runs the server on a pseudo-terminal, as a developer's shell would.
    const cmd = `${process.execPath} ${MAIN} example-server --port 0 --log-level silent --deregister-mode fixed --deregister-delay-ms 60000`;
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
    assert.equal(await closed, 0);
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
