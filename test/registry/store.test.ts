/**
 * The store's bounds and the migration lock against real Postgres, each asserting that its code
 * path really ran (a server-side cancel, a lock wait seen in pg_locks), so that a green CI means
 * they were exercised; and, in CI, that Postgres was there at all, so those suites cannot have
 * been skipped. The embedded PGlite has its own line for the client-side bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { MIGRATION_LOCK_KEY, migrate, openStore, type Store } from '../../src/registry/index.js';
import { ADMIN_URL, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

/** "In CI" as the CI runner sets it (any non-empty value but "false" / "0"). */
const IN_CI = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI.toLowerCase());

// Awaited before the first describe: the test runner of Node 20 drops the suites declared after a
// top-level await that comes once a suite is already running (this file then ran one test).
const PG_SKIP = await postgresSkip();

describe('registry tests in CI', () => {
  it('find Postgres reachable, so the Postgres suites (LISTEN/NOTIFY, statement timeouts, migration lock) ran', { skip: IN_CI ? false : 'not in CI' }, async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
    c.on('error', () => undefined);
    let version: string | undefined;
    try {
      await c.connect();
      version = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v;
    } catch (err) {
      assert.fail(`CI is set but Postgres at ${ADMIN_URL} is not reachable (${(err as Error).message}): the registry's Postgres suites would not have run`);
    } finally {
      await c.end().catch(() => undefined);
    }
    assert.match(version ?? '', /^\d+/);
  });
});

describe('store bounds and the migration lock on postgres', { skip: PG_SKIP, timeout: 120_000 }, () => {
  let db: TestDatabase;
  const stores: Store[] = [];
  before(async () => {
    db = await createDatabase('postgres');
  });
  after(async () => {
    for (const s of stores) await s.close();
    await db?.close();
  });

  async function store(options: { queryTimeoutMs?: number } = {}): Promise<Store> {
    const s = await openStore({ databaseUrl: db.url, ...options });
    stores.push(s);
    return s;
  }

  it('sets statement_timeout on the server, which cancels a statement the client would still wait for', async () => {
    const s = await store({ queryTimeoutMs: 500 });
    const shown = await s.query<{ statement_timeout: string }>('SHOW statement_timeout');
    assert.equal(shown[0]?.statement_timeout, '500ms');
    // The client-side bound of this one statement is far away: only the server can end it.
    await assert.rejects(s.query('SELECT pg_sleep(5)', [], { timeoutMs: 20_000 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, '57014', `expected the server's statement-timeout cancel, got ${err.message}`);
      assert.match(err.message, /statement timeout/);
      return true;
    });
  });

  it('bounds a statement on the client side too', async () => {
    const s = await store({ queryTimeoutMs: 60_000 });
    const started = Date.now();
    await assert.rejects(s.query('SELECT pg_sleep(10)', [], { timeoutMs: 300 }), /timeout/i);
    // A hang guard, not a timing assertion: well under the 10 s the statement asks for.
    assert.ok(Date.now() - started < 8_000, 'the client gave up before the statement ended');
  });

  it('migrates under the advisory lock: a migration waits while another session holds it', async () => {
    const fresh = await createDatabase('postgres');
    const holder = new pg.Client({ connectionString: fresh.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
      let settled = false;
      const migrating = migrate(fresh.store, { appliedBy: 'lock test' }).finally(() => (settled = true));
      // The migration's session shows up waiting for exactly that lock.
      await eventually('the migration waiting on the advisory lock', async () => {
        const rows = await holder.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database() AND a.pid <> pg_backend_pid()`,
        );
        return (rows.rows[0]?.n ?? 0) > 0 ? true : undefined;
      });
      assert.equal(settled, false, 'migrate() must not finish while the lock is held');
      const none = await holder.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'drainkit_migrations'");
      assert.equal(none.rows[0]?.n, 0, 'nothing was created while waiting');
      await holder.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
      await migrating;
      const applied = await fresh.store.query<{ applied_by: string }>('SELECT applied_by FROM drainkit_migrations ORDER BY version');
      assert.ok(applied.length > 0 && applied.every((r) => r.applied_by === 'lock test'));
    } finally {
      await holder.end().catch(() => undefined);
      await fresh.close();
    }
  });
});

describe('store bounds on the embedded PGlite (shared session: client side only)', { timeout: 120_000 }, () => {
  it('bounds a statement on the client side, and sets no session statement_timeout for everyone', async () => {
    const db = await createDatabase('pglite');
    try {
      const s = await openStore({ databaseUrl: db.url, queryTimeoutMs: 500 });
      try {
        const shown = await s.query<{ statement_timeout: string }>('SHOW statement_timeout');
        assert.equal(shown[0]?.statement_timeout, '0', 'a setting on the shared session would apply to every client');
        await assert.rejects(s.query('SELECT pg_sleep(2)', [], { timeoutMs: 300 }), /timeout/i);
      } finally {
        await s.close();
      }
    } finally {
      await db.close();
    }
  });
});
