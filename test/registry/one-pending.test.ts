/**
 * One pending drain request per instance, atomically: operators (or a roll and an operator)
 * asking for the same instance at the same moment record one request; the others get it back
 * with `alreadyPending`. On real Postgres the callers are separate pools, so their statements
 * really overlap; on PGlite (one shared session) they are queued, and the answer is the same.
 * Also: migration 5 answers the duplicates an earlier version left, and the CLI says when a
 * request was already pending. Needs `npm run build` for the CLI case.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { migrate, openStore, requestDrain, type DrainRequestInfo, type Store } from '../../src/registry/index.js';
import { MIGRATIONS, migrationScript } from '../../src/registry/schema.js';
import { DATABASE_KINDS, createDatabase, postgresSkip, type TestDatabase } from './databases.js';

const MAIN = 'dist/cli/main.js';
const CALLERS = 8;
const ROUNDS = 5;

const noPostgres = await postgresSkip();

function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`one pending drain request per instance (${kind})`, { skip: kind === 'postgres' ? noPostgres : false }, () => {
    let db: TestDatabase;
    const callers: Store[] = [];
    let port = 20_000;

    async function activeInstance(): Promise<number> {
      port += 1;
      const rows = await db.store.query<{ id: number }>(`INSERT INTO ServerInstance (host, port) VALUES ('pending-test', $1::int) RETURNING id`, [port]);
      return rows[0]!.id;
    }

    async function pendingCount(id: number): Promise<number> {
      const rows = await db.store.query<{ n: number }>('SELECT count(*)::int AS n FROM DrainRequest WHERE instance_id = $1::int AND acknowledged_at IS NULL', [id]);
      return rows[0]!.n;
    }

    before(async () => {
      db = await createDatabase(kind);
      await migrate(db.store);
      for (let k = 0; k < CALLERS; k += 1) {
        const s = await openStore({ databaseUrl: db.url, maxConnections: 1 });
        await s.query('SELECT 1'); // connected before the race, so the statements leave together
        callers.push(s);
      }
    });

    after(async () => {
      await Promise.all(callers.map((s) => s.close()));
      await db?.close();
    });

    it(`${CALLERS} callers at once record one request; the others get it back`, async () => {
      for (let round = 0; round < ROUNDS; round += 1) {
        const id = await activeInstance();
        const answers: DrainRequestInfo[] = await Promise.all(
          callers.map((s, k) => requestDrain(s, { instanceId: id }, { requestedBy: `operator-${k}`, reason: `round ${round}` })),
        );
        const recorded = answers.filter((a) => !a.alreadyPending);
        assert.equal(recorded.length, 1, `round ${round}: exactly one caller recorded a request: ${JSON.stringify(answers)}`);
        assert.deepEqual(new Set(answers.map((a) => a.requestId)), new Set([recorded[0]!.requestId]), 'every caller names that request');
        for (const a of answers.filter((x) => x.alreadyPending)) {
          assert.equal(a.requestedBy, recorded[0]!.requestedBy, 'the second caller learns who asked first');
          assert.equal(a.reason, `round ${round}`);
        }
        assert.equal(await pendingCount(id), 1);
      }
    });

    it('a request is recorded again once the pending one was answered', async () => {
      const id = await activeInstance();
      const first = await requestDrain(callers[0]!, { instanceId: id }, { requestedBy: 'alice', reason: 'first' });
      await db.store.query(`UPDATE DrainRequest SET acknowledged_at = now(), outcome = 'superseded' WHERE id = $1::int`, [first.requestId]);
      const second = await requestDrain(callers[1]!, { instanceId: id }, { requestedBy: 'bob', reason: 'second' });
      assert.equal(second.alreadyPending, false);
      assert.notEqual(second.requestId, first.requestId);
    });

    it('the CLI says when a request was already pending, and records no second one', { skip: existsSync(MAIN) ? false : 'run `npm run build` first' }, async () => {
      const id = await activeInstance();
      const first = await cli(['registry', 'drain', String(id), '--reason', 'upgrade', '--by', 'alice', '--database-url', db.url]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^drain requested: request \d+ for instance \d+/);
      const second = await cli(['registry', 'drain', String(id), '--reason', 'also upgrade', '--by', 'bob', '--database-url', db.url]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`^drain already requested: request \\d+ for instance ${id} was pending \\(by alice at [0-9T:.Z-]+: upgrade\\); no second request recorded`));
      const json = await cli(['registry', 'drain', String(id), '--reason', 'again', '--json', '--database-url', db.url]);
      assert.equal(json.code, 0, json.stderr);
      assert.equal((JSON.parse(json.stdout) as { alreadyPending: boolean }).alreadyPending, true);
      assert.equal(await pendingCount(id), 1);
    });
  });

  describe(`migration 5 answers duplicate pending requests left by earlier versions (${kind})`, { skip: kind === 'postgres' ? noPostgres : false }, () => {
    // An unmigrated database: the hosted PGlite migrates itself, so PGlite is opened in process here.
    let db: { store: Store; close(): Promise<void> };
    before(async () => {
      if (kind === 'postgres') db = await createDatabase(kind);
      else {
        const store = await openStore({ dataDir: 'memory://' });
        db = { store, close: () => store.close() };
      }
    });
    after(async () => {
      await db?.close();
    });

    it('keeps the oldest pending, answers the rest superseded, then refuses a second pending row', async () => {
      await db.store.script(migrationScript(MIGRATIONS.filter((m) => m.version <= 4), 'test'));
      const [row] = await db.store.query<{ id: number }>(`INSERT INTO ServerInstance (host, port) VALUES ('legacy', 1) RETURNING id`);
      const id = row!.id;
      for (const who of ['first', 'second', 'third']) {
        await db.store.query(`INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1::int, $2::text, 'legacy')`, [id, who]);
      }
      await migrate(db.store);
      const requests = await db.store.query<{ requested_by: string; outcome: string | null }>('SELECT requested_by, outcome FROM DrainRequest ORDER BY id');
      assert.deepEqual(requests.map((r) => [r.requested_by, r.outcome]), [['first', null], ['second', 'superseded'], ['third', 'superseded']]);
      await assert.rejects(
        db.store.query(`INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1::int, 'fourth', 'legacy')`, [id]),
        /idx_drain_request_one_pending|duplicate key/,
      );
    });
  });
}
