/**
 * The reaper judges each instance by its own liveness write interval (registry migration 8): an
 * instance that writes its heartbeat every 60 s is not lost to a reap with a 30 s TTL while it
 * is alive, and is lost once it has been silent for longer than twice its interval. Rows that
 * recorded no interval (earlier versions) are judged by the default 10 s, or the interval the
 * reap is told. A real reporter in this process against real Postgres and a hosted PGlite; the
 * heartbeat's age is set back in SQL instead of waiting for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getInstance, listEvents, reap, startReporter, type Reporter } from '../../src/registry/index.js';
import { startServer, type TestServer } from './servers.js';
import { DATABASE_KINDS, createDatabase, postgresSkip, type TestDatabase } from './databases.js';

const noPostgres = await postgresSkip();

for (const kind of DATABASE_KINDS) {
  describe(`reap by each instance's own liveness write interval (${kind})`, { skip: kind === 'postgres' ? noPostgres : false }, () => {
    let db: TestDatabase;
    const servers: TestServer[] = [];
    const reporters: Reporter[] = [];
    before(async () => {
      db = await createDatabase(kind);
    });
    after(async () => {
      await Promise.all(reporters.map((r) => r.stop()));
      await Promise.all(servers.map((s) => s.close()));
      await db?.close();
    });

    async function instance(livenessWriteMs: number): Promise<number> {
      const s = await startServer();
      servers.push(s);
      const reporter = startReporter(s.drainer, { databaseUrl: db.url, host: '127.0.0.1', port: s.port, heartbeatMs: 100, livenessWriteMs, reapTtlMs: false });
      reporters.push(reporter);
      return reporter.whenRegistered();
    }

    /** Makes the row's last heartbeat `ageMs` old, as if the instance had not written since. */
    async function age(id: number, ageMs: number): Promise<void> {
      await db.store.query('UPDATE ServerInstance SET last_heartbeat_at = now() - make_interval(secs => $2::int / 1000.0) WHERE id = $1::int', [id, ageMs]);
    }

    it('records the interval at register', async () => {
      const id = await instance(60_000);
      const rows = await db.store.query<{ liveness_write_ms: number | null }>('SELECT liveness_write_ms FROM ServerInstance WHERE id = $1::int', [id]);
      assert.equal(rows[0]?.liveness_write_ms, 60_000);
    });

    it('an instance writing every 60 s is kept by a 30 s-TTL reap while alive, and lost past 2 × 60 s', async () => {
      const id = await instance(60_000);
      // 45 s since its last write: past the TTL, well within its own interval (it is alive and idle).
      await age(id, 45_000);
      assert.deepEqual((await reap(db.store, { ttlMs: 30_000 })).filter((l) => l.id === id), []);
      assert.deepEqual((await reap(db.store, { ttlMs: 1_000 })).filter((l) => l.id === id), [], 'not with the shortest TTL either');
      assert.equal((await getInstance(db.store, id))?.status, 'active');
      assert.deepEqual((await listEvents(db.store, { instanceId: id })).map((e) => e.eventType), ['registered'], 'no false lost event');
      // 125 s: two of its writes missed. It is gone.
      await age(id, 125_000);
      const lost = (await reap(db.store, { ttlMs: 30_000, reapedBy: 'test' })).filter((l) => l.id === id);
      assert.equal(lost.length, 1);
      assert.equal((await getInstance(db.store, id))?.status, 'stopped');
      const event = (await listEvents(db.store, { instanceId: id })).at(-1);
      assert.equal(event?.eventType, 'lost');
      assert.equal(event?.details?.livenessWriteMs, 60_000);
      assert.equal(event?.details?.ttlMs, 30_000);
    });

    it('the TTL still decides when it is the longer bound', async () => {
      // Every 20 s (a long interval, so that it does not write again during the test): 2 × 20 s = 40 s.
      const id = await instance(20_000);
      await age(id, 50_000);
      assert.deepEqual((await reap(db.store, { ttlMs: 60_000 })).filter((l) => l.id === id), []);
      assert.equal((await reap(db.store, { ttlMs: 45_000 })).filter((l) => l.id === id).length, 1);
    });

    it('a row without a recorded interval (an earlier version) is judged by the default 10 s, or the interval given', async () => {
      const id = await instance(60_000);
      await db.store.query('UPDATE ServerInstance SET liveness_write_ms = NULL WHERE id = $1::int', [id]);
      await age(id, 15_000);
      assert.deepEqual((await reap(db.store, { ttlMs: 1_000 })).filter((l) => l.id === id), [], '15 s is within 2 × 10 s');
      assert.equal((await reap(db.store, { ttlMs: 1_000, livenessWriteMs: 5_000 })).filter((l) => l.id === id).length, 1, 'but past 2 × 5 s');
    });

    it('refuses an assumed interval out of range, naming it', async () => {
      await assert.rejects(reap(db.store, { ttlMs: 30_000, livenessWriteMs: 10 }), /reap livenessWriteMs got 10; accepted: an integer from 50 to 600000/);
    });
  });
}
