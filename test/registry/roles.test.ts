/**
 * `drainkit registry roles`: each least-privilege role can do exactly what it should against real
 * Postgres, and is refused (permission denied) for the rest. A fresh database, migrated; the
 * roles applied with the built CLI (twice: the script is idempotent); a login user in each role;
 * then real processes (an example server reporting as the instance user, the CLI as the operator
 * and the read-only user, the dashboard in --read-only) and direct SQL as each user.
 *
 * Roles are cluster-wide: every name carries this run's pid and a random tag, and the users and
 * roles are dropped after the database. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listClusterWorkers, listEvents, listInstances, migrate, openStore, reap, requestDrain, type Store } from '../../src/registry/index.js';
import { rolesScript } from '../../src/registry/roles.js';
import * as sql from '../../src/registry/statements.js';
import { killAll, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { request, spawnDashboard, type DashboardProcess } from '../dashboard/harness.js';
import { spawnCluster, type ClusterProcess } from '../cluster/harness.js';
import { ADMIN_URL, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

const MAIN = 'dist/cli/main.js';
const NOT_BUILT = existsSync(MAIN) ? false : 'run `npm run build` first: these tests run dist/';

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[]): Promise<CliResult> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const PERMISSION_DENIED = { code: '42501' };

const noPostgres = await postgresSkip();

describe('drainkit registry roles on real Postgres', { skip: noPostgres || NOT_BUILT }, () => {
  const tag = `dk${process.pid}_${randomBytes(3).toString('hex')}`;
  const roles = { instance: `${tag}_instance`, operator: `${tag}_operator`, readOnly: `${tag}_ro` };
  const users = { instance: `${tag}_web1`, operator: `${tag}_alice`, readOnly: `${tag}_board` };
  const roleFlags = ['--instance-role', roles.instance, '--operator-role', roles.operator, '--read-only-role', roles.readOnly];
  let db: TestDatabase;
  const url = (user: string): string => {
    const u = new URL(db.url);
    u.username = user;
    return u.href;
  };
  const clients: pg.Client[] = [];
  const stores: Store[] = [];
  const procs: (ServerProcess | ClusterProcess)[] = [];
  /** A connection as `user`, for direct SQL. */
  async function as(user: string): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url(user), connectionTimeoutMillis: 5_000 });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }
  async function storeAs(user: string): Promise<Store> {
    const s = await openStore({ databaseUrl: url(user) });
    stores.push(s);
    return s;
  }
  /** An active instance row written by the owner, for the refusals that need a target. */
  async function instanceRow(port: number): Promise<number> {
    const rows = await db.store.query<{ id: number }>(`INSERT INTO ServerInstance (host, port) VALUES ('roles-test', $1::int) RETURNING id`, [port]);
    return rows[0]!.id;
  }

  /**
   * A stale instance (last heartbeat an hour ago) with a pending drain request, and every other
   * live row's heartbeat refreshed, so that a reap (any TTL up to an hour) takes exactly this one.
   */
  async function staleWithPendingRequest(port: number): Promise<{ id: number; requestId: number }> {
    const rows = await db.store.query<{ id: number }>(`INSERT INTO ServerInstance (host, port) VALUES ('stale.roles.test', $1::int) RETURNING id`, [port]);
    const id = rows[0]!.id;
    const asked = await requestDrain(db.store, { instanceId: id }, { requestedBy: 'alice', reason: 'before the reap' });
    await db.store.query(`UPDATE ServerInstance SET last_heartbeat_at = CASE WHEN id = $1::int THEN now() - interval '1 hour' ELSE now() END WHERE status <> 'stopped'`, [id]);
    return { id, requestId: asked.requestId };
  }
  /** What a reap must have left: the instance stopped, one `lost` event by `reapedBy`, the request answered `lost`. */
  async function assertReaped(target: { id: number; requestId: number }, reapedBy: RegExp): Promise<void> {
    const row = await db.store.query<{ status: string }>('SELECT status FROM ServerInstance WHERE id = $1::int', [target.id]);
    assert.equal(row[0]?.status, 'stopped');
    const lost = (await listEvents(db.store, { instanceId: target.id })).filter((e) => e.eventType === 'lost');
    assert.equal(lost.length, 1, 'one lost event');
    assert.match(String(lost[0]?.details?.reapedBy), reapedBy);
    const answered = await db.store.query<{ outcome: string | null; acknowledged_at: Date | null }>('SELECT outcome, acknowledged_at FROM DrainRequest WHERE id = $1::int', [target.requestId]);
    assert.equal(answered[0]?.outcome, 'lost');
    assert.ok(answered[0]?.acknowledged_at instanceof Date);
  }

  before(async () => {
    db = await createDatabase('postgres');
    await migrate(db.store);
    for (let k = 0; k < 2; k += 1) {
      const r = await cli(['registry', 'roles', '--apply', '--database-url', db.url, ...roleFlags]);
      assert.equal(r.code, 0, `roles --apply (run ${k + 1}): ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`roles ${roles.instance} \\(instances\\), ${roles.operator} \\(operators\\), ${roles.readOnly} \\(read-only\\) applied`));
    }
    await adminQuery(
      `CREATE ROLE ${users.instance} LOGIN IN ROLE ${roles.instance}; CREATE ROLE ${users.operator} LOGIN IN ROLE ${roles.operator}; CREATE ROLE ${users.readOnly} LOGIN IN ROLE ${roles.readOnly};`,
    );
  });

  after(async () => {
    await killAll(procs);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await Promise.all(stores.map((s) => s.close()));
    await db?.close();
    // After the database: the roles' privileges and default privileges went with it.
    await adminQuery(`DROP ROLE IF EXISTS ${Object.values(users).join(', ')}; DROP ROLE IF EXISTS ${Object.values(roles).join(', ')};`);
  });

  it('the roles are NOLOGIN groups, the users log in through them', async () => {
    const rows = await db.store.query<{ rolname: string; rolcanlogin: boolean }>(
      `SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY (string_to_array($1::text, ',')) ORDER BY rolname`,
      [[...Object.values(roles), ...Object.values(users)].join(',')],
    );
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.rolname, r.rolcanlogin])), {
      [roles.instance]: false, [roles.operator]: false, [roles.readOnly]: false,
      [users.instance]: true, [users.operator]: true, [users.readOnly]: true,
    });
  });

  it('an instance reporting as the instance role registers, heartbeats, drains on the operator\'s `registry drain` and writes its events', async () => {
    const server = await spawnServer({
      args: [MAIN, 'example-server', '--port', '0', '--database-url', url(users.instance), '--heartbeat-ms', '200', '--label', 'app=roles',
        '--deregister-mode', 'fixed', '--deregister-delay-ms', '200', '--drain-timeout-ms', '5000', '--log-level', 'debug', '--log-format', 'json'],
    });
    procs.push(server);
    const row = await eventually('the instance registered', async () => (await listInstances(db.store, { labels: { app: 'roles' } }))[0]);
    assert.equal(row.status, 'active');
    // A request in flight reaches the row only through a heartbeat.
    const slow = fetch(`http://127.0.0.1:${server.port}/work?ms=800`).then((r) => r.text());
    await eventually('a heartbeat wrote the request in flight', async () => ((await listInstances(db.store, { labels: { app: 'roles' } }))[0]?.inflightCount === 1 ? true : undefined));
    await slow;

    const drained = await cli(['registry', 'drain', String(row.id), '--reason', 'roles test', '--by', 'alice', '--wait', '--json', '--database-url', url(users.operator)]);
    assert.equal(drained.code, 0, drained.stderr);
    assert.equal((await server.closed).code, 0);
    const types = (await listEvents(db.store, { instanceId: row.id })).map((e) => e.eventType);
    for (const t of ['registered', 'drain_requested', 'drain_start', 'window_end', 'drain_complete']) assert.ok(types.includes(t), `${t} in ${types.join(', ')}`);
    const stopped = (await listInstances(db.store, { labels: { app: 'roles' } }))[0];
    assert.equal(stopped?.status, 'stopped');
    // The reporter migrates (a no-op read here) and runs the reaper at once: neither was refused.
    const denied = server.stderr.filter((l) => /permission denied|42501/.test(l.text));
    assert.deepEqual(denied, [], 'nothing the reporter did was refused');
    assert.ok(server.stderr.some((l) => /registry_registered/.test(l.text)), 'the debug log is on (so a refused reaper run would show)');
  });

  it('an instance cannot request a drain: no INSERT, no re-opening an answered request, only the acknowledgement columns', async () => {
    const id = await instanceRow(10_001);
    const instance = await as(users.instance);
    await assert.rejects(instance.query(`INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1, 'web1', 'mine')`, [id]), PERMISSION_DENIED);
    await assert.rejects(requestDrain(await storeAs(users.instance), { instanceId: id }, { requestedBy: 'web1', reason: 'through the API' }), PERMISSION_DENIED);
    const viaCli = await cli(['registry', 'drain', String(id), '--reason', 'from an instance', '--database-url', url(users.instance)]);
    assert.equal(viaCli.code, 1);
    assert.match(viaCli.stderr, /permission denied for table drainrequest/);

    // What it may do: read a pending request addressed to it and answer it (as ACKNOWLEDGE_REQUESTS does).
    const asked = await requestDrain(await storeAs(users.operator), { instanceId: id }, { requestedBy: 'alice', reason: 'maintenance' });
    assert.equal((await instance.query(sql.PENDING_REQUEST, [id])).rowCount, 1);
    const answered = await instance.query(`UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'draining' WHERE id = $1`, [asked.requestId]);
    assert.equal(answered.rowCount, 1);
    // Re-opening the answered request would be a drain request by another name: the policy hides the row.
    const reopened = await instance.query(`UPDATE DrainRequest SET acknowledged_at = NULL, outcome = NULL WHERE id = $1`, [asked.requestId]);
    assert.equal(reopened.rowCount, 0);
    assert.equal((await db.store.query('SELECT 1 FROM DrainRequest WHERE id = $1::int AND acknowledged_at IS NOT NULL', [asked.requestId])).length, 1);
    // A pending request cannot be "answered" into a pending one either.
    const pending = await requestDrain(await storeAs(users.operator), { instanceId: id }, { requestedBy: 'alice', reason: 'again' });
    await assert.rejects(instance.query(`UPDATE DrainRequest SET outcome = 'draining' WHERE id = $1`, [pending.requestId]), /row-level security/);
    await assert.rejects(instance.query(`UPDATE DrainRequest SET instance_id = instance_id WHERE id = $1`, [pending.requestId]), PERMISSION_DENIED);
    await assert.rejects(instance.query(`UPDATE DrainRequest SET requested_by = 'someone else' WHERE id = $1`, [pending.requestId]), PERMISSION_DENIED);
    await assert.rejects(instance.query('DELETE FROM DrainRequest'), PERMISSION_DENIED);
    await assert.rejects(instance.query('DELETE FROM DrainEvent'), PERMISSION_DENIED);
    await assert.rejects(instance.query('DELETE FROM ServerInstance WHERE id = $1', [id]), PERMISSION_DENIED);
    await assert.rejects(instance.query('CREATE TABLE roles_test_intruder (x int)'), PERMISSION_DENIED);
    const prune = await cli(['registry', 'prune', '--older-than', '0s', '--database-url', url(users.instance)]);
    assert.equal(prune.code, 1);
    assert.match(prune.stderr, /permission denied/);
  });

  it('the operator requests drains, reaps and prunes, but cannot register or heartbeat', async () => {
    const id = await instanceRow(10_002);
    const operator = await as(users.operator);
    const store = await storeAs(users.operator);
    const first = await requestDrain(store, { instanceId: id }, { requestedBy: 'alice', reason: 'maintenance' });
    assert.equal(first.alreadyPending, false);
    await assert.rejects(operator.query(`INSERT INTO DrainRequest (instance_id, requested_by, reason, acknowledged_at, outcome) VALUES ($1, 'alice', 'pre-answered', now(), 'draining')`, [id]), /row-level security/);
    const reap = await cli(['registry', 'reap', '--json', '--database-url', url(users.operator)]);
    assert.equal(reap.code, 0, reap.stderr);
    const prune = await cli(['registry', 'prune', '--older-than', '3650d', '--json', '--database-url', url(users.operator)]);
    assert.equal(prune.code, 0, prune.stderr);
    await assert.rejects(operator.query(sql.REGISTER, ['roles-test', 10_003, 1, null, '{}', 0, 0, '{}', new Date(), 10_000]), PERMISSION_DENIED);
    await assert.rejects(operator.query(sql.HEARTBEAT, [id, 1, 5, 0]), PERMISSION_DENIED);
  });

  it("the instance role's reaper stops a stale instance, writes its `lost` event and answers its pending request `lost`", async () => {
    const target = await staleWithPendingRequest(10_010);
    const lost = await reap(await storeAs(users.instance), { ttlMs: 30_000, reapedBy: 'web1 reaper' });
    assert.deepEqual(lost.map((l) => l.id), [target.id]);
    assert.equal(lost[0]?.previousStatus, 'active');
    await assertReaped(target, /^web1 reaper$/);
  });

  it('the operator reaps with `registry reap`: the lost instance listed, its event, its request answered `lost`', async () => {
    const target = await staleWithPendingRequest(10_011);
    const r = await cli(['registry', 'reap', '--json', '--database-url', url(users.operator)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { id: number }[]).map((l) => l.id), [target.id]);
    await assertReaped(target, /^drainkit registry reap/);
  });

  it('the operator reads everything: instances, events, summary', async () => {
    const id = await instanceRow(10_012);
    const listed = await cli(['registry', 'instances', '--json', '--database-url', url(users.operator)]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { id: number }[]).some((i) => i.id === id));
    const summary = await cli(['registry', 'summary', '--json', '--database-url', url(users.operator)]);
    assert.equal(summary.code, 0, summary.stderr);
    assert.ok((JSON.parse(summary.stdout) as { total: number }).total >= 1);
    const events = await cli(['registry', 'events', '--json', '--database-url', url(users.operator)]);
    assert.equal(events.code, 0, events.stderr);
    assert.ok((JSON.parse(events.stdout) as { eventType: string }[]).some((e) => e.eventType === 'lost'), 'the events written by the reaps above are listed');
  });

  it("the operator drives the dashboard's drain and reap actions", async () => {
    const dashboard: DashboardProcess = await spawnDashboard(['--database-url', url(users.operator)]);
    procs.push(dashboard);
    const post = (action: string, body: Record<string, unknown>) =>
      request(dashboard.origin, `/actions/${action}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${dashboard.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => ({ status: r.status, json: JSON.parse(r.body) as Record<string, unknown> }));

    const id = await instanceRow(10_013);
    const drained = await post('drain', { instance: id, reason: 'from the dashboard', force: true, by: 'alice' });
    assert.equal(drained.status, 200, JSON.stringify(drained.json));
    assert.equal(drained.json.requested, true);
    const recorded = await db.store.query<{ requested_by: string }>('SELECT requested_by FROM DrainRequest WHERE instance_id = $1::int AND acknowledged_at IS NULL', [id]);
    assert.match(recorded[0]?.requested_by ?? '', /^alice via drainkit dashboard/);

    const target = await staleWithPendingRequest(10_014);
    const reaped = await post('reap', {});
    assert.equal(reaped.status, 200, JSON.stringify(reaped.json));
    assert.deepEqual((reaped.json.reaped as { id: number }[]).map((l) => l.id), [target.id]);
    await assertReaped(target, /^drainkit dashboard pid /);
    const denied = dashboard.stderr.filter((l) => /permission denied|42501/.test(l.text));
    assert.deepEqual(denied, [], 'nothing the dashboard did was refused');
  });

  it('`drainkit cluster --database-url` as the instance role registers and writes its workers', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drainkit-roles-cluster-'));
    try {
      const modeFile = path.join(dir, 'mode');
      writeFileSync(modeFile, 'ok');
      const c = await spawnCluster([MAIN, 'cluster', '--workers', '2', '--ready-timeout-ms', '5000', '--database-url', url(users.instance), '--heartbeat-ms', '200',
        '--label', 'app=roles-cluster', '--log-level', 'debug', 'test/cluster/fixtures/app.mjs', modeFile], 60_000);
      procs.push(c);
      const row = await eventually('the cluster instance registered', async () => (await listInstances(db.store, { labels: { app: 'roles-cluster' } })).find((i) => i.status === 'active'));
      const workers = await eventually('both workers ready in ClusterWorker', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: row.id });
        return ws.filter((w) => w.status === 'ready').length === 2 ? ws : undefined;
      });
      assert.deepEqual(workers.map((w) => w.pid).sort(), [...c.workers].sort());
      c.child.kill('SIGTERM');
      assert.equal((await c.closed).code, 0);
      const after = await listClusterWorkers(db.store, { instanceId: row.id });
      assert.ok(after.every((w) => w.status === 'exited'), `workers after SIGTERM: ${after.map((w) => w.status).join(', ')}`);
      const denied = c.stderr.filter((l) => /permission denied|42501/.test(l));
      assert.deepEqual(denied, [], 'nothing the cluster wrote was refused');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the read-only role lists the fleet and serves the dashboard in --read-only, and cannot write', async () => {
    const id = await instanceRow(10_004);
    const listed = await cli(['registry', 'instances', '--json', '--database-url', url(users.readOnly)]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { id: number }[]).some((i) => i.id === id));
    const summary = await cli(['registry', 'summary', '--json', '--database-url', url(users.readOnly)]);
    assert.equal(summary.code, 0, summary.stderr);
    assert.ok((JSON.parse(summary.stdout) as { total: number }).total >= 1);
    const events = await cli(['registry', 'events', '--json', '--database-url', url(users.readOnly)]);
    assert.equal(events.code, 0, events.stderr);

    const dashboard: DashboardProcess = await spawnDashboard(['--database-url', url(users.readOnly), '--read-only']);
    procs.push(dashboard);
    const page = await request(dashboard.origin, '/', { headers: { Authorization: `Bearer ${dashboard.token}` } });
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(`data-instance-id="${id}"`));
    assert.doesNotMatch(page.body, /action="\/actions\/drain"/);
    const audit = await request(dashboard.origin, '/audit', { headers: { Authorization: `Bearer ${dashboard.token}` } });
    assert.equal(audit.status, 200);

    const reader = await as(users.readOnly);
    await assert.rejects(requestDrain(await storeAs(users.readOnly), { instanceId: id }, { requestedBy: 'board', reason: 'x' }), PERMISSION_DENIED);
    await assert.rejects(reader.query(`INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1, 'board', 'x')`, [id]), PERMISSION_DENIED);
    await assert.rejects(reader.query(`UPDATE ServerInstance SET status = 'stopped' WHERE id = $1`, [id]), PERMISSION_DENIED);
    await assert.rejects(reader.query(`INSERT INTO DrainEvent (instance_id, event_type) VALUES ($1, 'lost')`, [id]), PERMISSION_DENIED);
    await assert.rejects(reader.query(`UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'lost'`), PERMISSION_DENIED);
    // A row that is stale for sure, so that the reap has something to write (a reap with nothing
    // stale only reads, which the read-only role may).
    await db.store.query(`INSERT INTO ServerInstance (host, port, status, last_heartbeat_at) VALUES ('stale.roles.test', 1, 'active', now() - interval '1 hour')`);
    for (const args of [['drain', String(id), '--reason', 'x'], ['reap'], ['prune', '--older-than', '0s']]) {
      const r = await cli(['registry', ...args, '--database-url', url(users.readOnly)]);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /permission denied/, args[0]);
    }
  });

  it('a table a later migration adds is readable by all three at once (default privileges)', async () => {
    await db.store.script('CREATE TABLE roles_test_later (x int); INSERT INTO roles_test_later VALUES (1);');
    for (const user of Object.values(users)) {
      const c = await as(user);
      assert.equal((await c.query('SELECT x FROM roles_test_later')).rowCount, 1, user);
      await assert.rejects(c.query('INSERT INTO roles_test_later VALUES (2)'), PERMISSION_DENIED, user);
    }
  });
});

describe('drainkit registry roles: printing, usage, PGlite', { skip: NOT_BUILT }, () => {
  it('prints the script without a database', async () => {
    const r = await cli(['registry', 'roles']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), rolesScript().trim());
    assert.match(r.stdout, /CREATE ROLE "drainkit_instance" NOLOGIN/);
    assert.match(r.stdout, /GRANT UPDATE \(acknowledged_at, outcome\) ON TABLE "public".drainrequest TO "drainkit_instance"/);
  });

  it('refuses names that are not plain lower-case identifiers, and one role for two jobs', async () => {
    const bad = await cli(['registry', 'roles', '--instance-role', 'Web"; DROP TABLE x; --']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--instance-role got "Web\\"; DROP TABLE x; --"; accepted: a lower-case identifier/);
    const schema = await cli(['registry', 'roles', '--schema', 'pg_catalog']);
    assert.equal(schema.code, 2);
    assert.match(schema.stderr, /--schema got "pg_catalog"; accepted: .*not starting with pg_/);
    const same = await cli(['registry', 'roles', '--operator-role', 'ops', '--read-only-role', 'ops']);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /three different roles; got drainkit_instance, ops, ops/);
    const noDb = await cli(['registry', 'roles', '--apply']);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /--database-url/);
  });

  it('refuses --apply on the embedded PGlite registry, saying why', async () => {
    const pglite = await createDatabase('pglite');
    try {
      await migrate(pglite.store);
      const r = await cli(['registry', 'roles', '--apply', '--database-url', pglite.url]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /roles are for real Postgres only: PGlite has a single user/);
      assert.equal((await pglite.store.query(`SELECT 1 FROM pg_roles WHERE rolname = 'drainkit_instance'`)).length, 0, 'nothing was created');
    } finally {
      await pglite.close();
    }
  });
});
