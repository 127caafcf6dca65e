/**
 * `drainkit registry roll` behind a real HAProxy, under a steady load: three supervised example
 * servers (each restarted on its port when it exits) rolled one at a time through the registry,
 * and not one client request fails. HAProxy is strict (no retries, no redispatch), so a request a
 * drain dropped shows as a failed request. Real Postgres. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { listInstances } from '../../src/registry/index.js';
import { haproxySkip, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { startLoad } from '../helpers/load.js';
import { createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';
import { SupervisedServer } from './roll-supervisor.js';

const MAIN = 'dist/cli/main.js';

function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 150_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const skip = (await postgresSkip()) || haproxySkip();

describe('drainkit registry roll behind HAProxy', { skip, timeout: 240_000 }, () => {
  let db: TestDatabase;
  let haproxy: Haproxy | undefined;
  const fleet: SupervisedServer[] = [];

  before(async () => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
    db = await createDatabase('postgres');
  });
  after(async () => {
    await haproxy?.stop();
    await Promise.all(fleet.map((s) => s.stop()));
    await db?.close();
  });

  it('rolls three instances under a paced load with zero failed requests', async () => {
    // The adaptive window ends once HAProxy's health checks have seen the 503 (it checks every
    // second, takes a server out on one failure, back in after two successes).
    const args = ['--deregister-mode', 'adaptive', '--deregister-delay-ms', '5000', '--drain-timeout-ms', '10000'];
    fleet.push(...(await Promise.all([0, 1, 2].map(() => SupervisedServer.start(db.url, ['app=lb'], args)))));
    haproxy = await startHaproxy({ servers: fleet.map((s, i) => ({ name: `s${i}`, port: s.port })) });
    for (const [i] of fleet.entries()) await haproxy.waitUntil(`s${i}`, 'UP', 20_000);
    await eventually('three active instances', async () => ((await listInstances(db.store, { labels: { app: 'lb' }, status: 'active' })).length === 3 ? true : undefined));

    // Paced: 4 workers, one request at a time each, bounded in count and time.
    const load = startLoad({ origin: `http://127.0.0.1:${haproxy.port}`, concurrency: 4, slowEvery: 10, slowMs: 100, maxRequests: 200_000, maxDurationMs: 150_000 });
    const r = await cli(['registry', 'roll', '--label', 'app=lb', '--ready-timeout', '30s', '--reason', 'deploy under load', '--json', '--database-url', db.url]);
    const stats = await load.stop();
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.deepEqual((JSON.parse(r.stdout) as { steps: { state: string; toGeneration: number }[] }).steps.map((s) => [s.state, s.toGeneration]), [['replaced', 2], ['replaced', 2], ['replaced', 2]]);
    assert.ok(stats.total >= 100, `too little load to prove anything: ${stats.total} requests`);
    assert.equal(stats.failed, 0, `failed requests during the roll: ${JSON.stringify(stats.failuresByKind)} ${JSON.stringify(stats.samples.slice(0, 5))}`);
    for (const s of fleet) assert.deepEqual(s.exits[0], { code: 0, signal: null });
  });
});
