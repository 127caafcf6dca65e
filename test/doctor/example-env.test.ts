/**
 * The example server reads the same DRAINKIT_* variables a manifest sets (what the doctor
 * checks), flags given on the command line win, and a bad variable is a usage error (exit 2).
 * Needs `npm run build` (dist/cli/main.js).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { drainCompleteLine, killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';

const MAIN = 'dist/cli/main.js';
const started: ServerProcess[] = [];

async function example(env: Record<string, string>, ...flags: string[]): Promise<ServerProcess> {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
  const p = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', ...flags], env: { ...process.env, ...env } });
  started.push(p);
  return p;
}

async function status(port: number, path: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

describe('example server: DRAINKIT_* environment', { timeout: 60_000 }, () => {
  after(() => killAll(started));

  it('serves the readiness path and window the environment names', async () => {
    const p = await example({ DRAINKIT_READINESS_PATH: '/ready', DRAINKIT_DEREGISTER_MODE: 'fixed', DRAINKIT_DEREGISTER_DELAY_MS: '0', DRAINKIT_DRAIN_TIMEOUT_MS: '4000' });
    assert.equal(await status(p.port, '/ready'), 200, 'GET /ready is the readiness path');
    assert.equal(await status(p.port, '/readyz'), 404, 'the default path is no longer readiness');
    assert.deepEqual(await signalAndWait(p, 'SIGTERM', 15_000), { code: 0, signal: null });
    const line = drainCompleteLine(p);
    assert.deepEqual((line.window as { endedBy: string }).endedBy, 'skipped', `a zero fixed window: ${JSON.stringify(line.window)}`);
  });

  it('a flag given on the command line wins over the variable', async () => {
    const p = await example({ DRAINKIT_DEREGISTER_MODE: 'fixed', DRAINKIT_DEREGISTER_DELAY_MS: '60000' }, '--deregister-mode', 'fixed', '--deregister-delay-ms', '0');
    assert.deepEqual(await signalAndWait(p, 'SIGTERM', 15_000), { code: 0, signal: null }, 'exited well before the 60 s window of the environment');
  });

  it('a bad or unknown variable is a usage error naming it (exit 2)', async () => {
    for (const [env, pattern] of [
      [{ DRAINKIT_DRAIN_TIMEOUT_MS: '30s' }, /DRAINKIT_DRAIN_TIMEOUT_MS is "30s"; accepted: an integer/],
      [{ DRAINKIT_DRAIN_TIMEOUT: '3000' }, /unknown environment variable DRAINKIT_DRAIN_TIMEOUT \(did you mean DRAINKIT_DRAIN_TIMEOUT_MS\?\)/],
    ] as const) {
      const child = spawn(process.execPath, [MAIN, 'example-server', '--port', '0'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // Hang guard: a server that ignored the variable would listen forever.
      const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      clearTimeout(guard);
      assert.equal(code, 2, `exit code for ${JSON.stringify(env)}; stderr: ${stderr}`);
      assert.match(stderr, pattern);
    }
  });
});
