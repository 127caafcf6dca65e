/**
 * Time spent against the drain's budget: the instance records its budget (deregistration window
 * maximum + drain timeout) with `drain_start` and in its row, and `registry instances` and the
 * dashboard's fleet row show "<spent> of <budget>" while it drains. A real example server held
 * in its drain by a request in flight, against real Postgres and a hosted PGlite. Needs
 * `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listEvents, listInstances } from '../../src/registry/index.js';
import { drainBudgetMs } from '../../src/registry/drain-budget.js';
import { drainTime } from '../../src/dashboard/browser/render.js';
import { killAll, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { NOT_BUILT, request, spawnDashboard } from '../dashboard/harness.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

const MAIN = 'dist/cli/main.js';

function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const noPostgres = await postgresSkip();

describe('drain budget: what it is, how it reads', () => {
  it('is the window maximum plus the drain timeout, for both window modes', () => {
    const server = http.createServer();
    const adaptive = createDrainer(server, { signals: [] });
    assert.equal(drainBudgetMs(adaptive.options), 35_000, 'the defaults: a 5 s window at most, a 30 s drain timeout');
    adaptive.detach();
    const fixed = createDrainer(server, { signals: [], deregister: { mode: 'fixed', delayMs: 2_000 }, drainTimeoutMs: 10_000 });
    assert.equal(drainBudgetMs(fixed.options), 12_000);
    fixed.detach();
  });

  it('reads "1.2 s of 35 s", and only the time spent when no budget was recorded', () => {
    assert.equal(drainTime(1_200, 35_000), '1.2 s of 35 s');
    assert.equal(drainTime(450, 2_300), '450 ms of 2.3 s');
    assert.equal(drainTime(61_000, 90_000), '1 min 1 s of 1 min 30 s');
    assert.equal(drainTime(1_200, null), '1.2 s');
  });
});


for (const kind of DATABASE_KINDS) {
  describe(`drain budget in the fleet view (${kind})`, { skip: NOT_BUILT || (kind === 'postgres' ? noPostgres : false) }, () => {
    let db: TestDatabase;
    const procs: ServerProcess[] = [];
    before(async () => {
      db = await createDatabase(kind);
    });
    after(async () => {
      await killAll(procs);
      await db?.close();
    });

    it('a draining instance shows time spent against window maximum + drain timeout', async () => {
      const dashboard = await spawnDashboard(['--database-url', db.url]);
      procs.push(dashboard);
      const server = await spawnServer({
        args: [MAIN, 'example-server', '--port', '0', '--database-url', db.url, '--heartbeat-ms', '200', '--label', 'app=budget',
          '--deregister-mode', 'fixed', '--deregister-delay-ms', '1000', '--drain-timeout-ms', '19000', '--log-format', 'json'],
      });
      procs.push(server);
      const row = await eventually('registered', async () => (await listInstances(db.store, { labels: { app: 'budget' } }))[0]);
      assert.equal(row.drainBudgetMs, null, 'no budget while active');
      const held = fetch(`http://127.0.0.1:${server.port}/work?ms=6000`).then((r) => r.status, () => 0);
      await eventually('the request in flight reached the registry', async () => ((await listInstances(db.store, { labels: { app: 'budget' } }))[0]?.inflightCount === 1 ? true : undefined));
      server.child.kill('SIGTERM');
      const draining = await eventually('draining', async () => {
        const i = (await listInstances(db.store, { labels: { app: 'budget' } }))[0];
        return i?.status === 'draining' ? i : undefined;
      });
      assert.equal(draining.drainBudgetMs, 20_000);
      const start = (await listEvents(db.store, { instanceId: row.id, types: ['drain_start'] })).at(-1);
      assert.equal(start?.details?.budgetMs, 20_000, 'drain_start records the budget');

      const table = await cli(['registry', 'instances', '--database-url', db.url]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /draining\s+(deregistering|closing|persistent|waiting) \(\d+(\.\d)?(ms|s) of 20s\)/);

      const page = await request(dashboard.origin, '/', { headers: { Authorization: `Bearer ${dashboard.token}` } });
      assert.equal(page.status, 200);
      const tr = page.body.match(new RegExp(`<tr data-instance-id="${row.id}"[^]*?</tr>`))?.[0] ?? '';
      assert.match(tr, /data-status="draining"/);
      assert.match(tr, /<span class="elapsed">for \d+(\.\d)? (ms|s) of 20 s<\/span>/);
      const drainPage = await request(dashboard.origin, `/instances/${row.id}`, { headers: { Authorization: `Bearer ${dashboard.token}` } });
      assert.match(drainPage.body, /<dt>took<\/dt><dd>\d+(\.\d)? (ms|s) of 20 s so far/);

      assert.equal(await held, 200, 'the request that held the drain completed');
      assert.equal((await server.closed).code, 0);
      const stopped = await cli(['registry', 'instances', '--database-url', db.url]);
      assert.doesNotMatch(stopped.stdout, / of 20s/, 'a stopped instance shows no budget');
    });
  });
}
