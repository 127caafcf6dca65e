/**
 * The store's bounds and the migration lock against real Postgres, each asserting that its code
 * path really ran (a server-side cancel, a lock wait seen in pg_locks), so that a green CI means
 * they were exercised; and, in CI, that Postgres was there at all, so those suites cannot have
 * been skipped. The embedded PGlite has its own line for the client-side bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { MIGRATION_LOCK_KEY, migrate, openStore, requestDrain, startReporter, type Reporter, type Store } from '../../src/registry/index.js';
import { ADMIN_URL, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';
import { startServer, type TestServer } from './servers.js';
import { inCI } from '../helpers/ci.js';


// Awaited before the first describe: the test runner of Node 20 drops the suites declared after a
// top-level await that comes once a suite is already running (this file then ran one test).
const PG_SKIP = await postgresSkip();

describe('registry tests in CI', () => {
  it('find Postgres reachable, so the Postgres suites (LISTEN/NOTIFY, statement timeouts, migration lock) ran', { skip: inCI() ? false : 'not in CI' }, async () => {
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

describe('one LISTEN connection per store, shared by its reporters, on postgres', { skip: PG_SKIP, timeout: 120_000 }, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createDatabase('postgres');
  });
  after(async () => {
    await db?.close();
  });

  /** The backends of this database holding a LISTEN (a LISTEN connection's last statement is its LISTEN). */
  async function listenBackends(): Promise<number[]> {
    const rows = await db.store.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' ORDER BY pid");
    return rows.map((r) => r.pid);
  }

  interface Fleet {
    readonly store: Store;
    readonly members: readonly { readonly s: TestServer; readonly reporter: Reporter; readonly id: number; readonly drained: Promise<string> }[];
    close(): Promise<void>;
  }

  /** `count` servers whose reporters share one store; a one-minute heartbeat, so only a NOTIFY (or the re-read after a reconnect) delivers a request. */
  async function fleetOnOneStore(count: number): Promise<Fleet> {
    const store = await openStore({ databaseUrl: db.url, maxConnections: 2 });
    const members: { s: TestServer; reporter: Reporter; id: number; drained: Promise<string> }[] = [];
    const close = async (): Promise<void> => {
      for (const m of members) await m.reporter.stop();
      for (const m of members) await m.s.close();
      await store.close();
    };
    try {
      for (let i = 0; i < count; i++) {
        const s = await startServer();
        const drained = new Promise<string>((resolve) => s.drainer.once('drained', (r) => resolve(r.reason)));
        const reporter = startReporter(s.drainer, { store, host: '127.0.0.1', port: s.port, heartbeatMs: 60_000, reapTtlMs: false });
        members.push({ s, reporter, id: 0, drained });
      }
      for (const m of members) m.id = await m.reporter.whenRegistered();
    } catch (err) {
      await close();
      throw err;
    }
    return { store, members, close };
  }

  it('holds exactly one LISTEN backend for eight reporters, and every one gets its drain request', async () => {
    const fleet = await fleetOnOneStore(8);
    try {
      const pids = await eventually('a LISTEN backend', async () => ((await listenBackends()).length > 0 ? listenBackends() : undefined));
      // Give a reporter that would open its own LISTEN the time to show it (each opens as it starts).
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await listenBackends(), pids, 'eight reporters on one store hold one LISTEN connection');
      assert.equal(pids.length, 1);
      for (const m of fleet.members) await requestDrain(db.store, { instanceId: m.id }, { requestedBy: 'test', reason: `drain ${m.id}` });
      for (const m of fleet.members) {
        assert.equal(await bounded(m.drained, 20_000, `instance ${m.id} to drain on its notification`), `remote: drain ${m.id}`);
      }
      // Each reporter leaves the subscription as its drain starts: the last one closes it.
      await eventually('the LISTEN connection closed after the last subscriber left', async () => ((await listenBackends()).length === 0 ? true : undefined));
    } finally {
      await fleet.close();
    }
  });

  it('re-establishes a killed LISTEN backend and delivers a request made while it was down', async () => {
    const fleet = await fleetOnOneStore(3);
    try {
      const first = await eventually('a LISTEN backend', async () => {
        const pids = await listenBackends();
        return pids.length === 1 ? pids[0] : undefined;
      });
      const [a, b, c] = fleet.members;
      assert.ok(a && b && c);
      // The request goes in right behind the kill, before the reconnect (100 ms backoff) can
      // LISTEN again: its NOTIFY reaches nobody, only the re-read after the reconnect finds it.
      await db.store.query('SELECT pg_terminate_backend($1)', [first]);
      await requestDrain(db.store, { instanceId: a.id }, { requestedBy: 'test', reason: 'while down' });
      assert.equal(await bounded(a.drained, 20_000, 'the request made while the LISTEN backend was down'), 'remote: while down');
      const second = await eventually('a new LISTEN backend', async () => {
        const pids = await listenBackends();
        return pids.length === 1 && pids[0] !== first ? pids[0] : undefined;
      });
      assert.notEqual(second, first);
      // The new connection delivers to the others as the first did.
      await requestDrain(db.store, { instanceId: b.id }, { requestedBy: 'test', reason: 'after' });
      assert.equal(await bounded(b.drained, 20_000, 'a request after the reconnect'), 'remote: after');
      assert.deepEqual(await listenBackends(), [second], 'still one LISTEN backend for the remaining reporter');
    } finally {
      await fleet.close();
    }
  });
});

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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
