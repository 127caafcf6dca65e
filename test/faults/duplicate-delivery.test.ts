/**
 * Every statement an instance writes can reach the database twice: the instance gives up on an
 * answer that was lost and retries, or a statement it gave up on still sits in a closed socket's
 * send queue and TCP delivers it after the retry (network.test.ts shows both happening over a
 * degraded link). Here each reporter statement is delivered twice, and late after the drain
 * ended, on real Postgres and on PGlite over pglite-socket: the registry must read as if each
 * had been delivered once. On Postgres, two copies of each event statement also run at the same
 * instant (the second starts while the first's transaction is still open, so neither sees the
 * other's row): one row. And a registry from before the unique index, holding such copies, is
 * migrated to one of each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { listEvents, migrate, type Store } from '../../src/registry/index.js';
import { MIGRATIONS, migrationScript } from '../../src/registry/schema.js';
import * as sql from '../../src/registry/statements.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from '../registry/databases.js';

interface Row {
  readonly status: string;
  readonly generation: number;
  readonly phase: string | null;
}

for (const kind of DATABASE_KINDS) {
  describe(`statements delivered twice on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 60_000 }, () => {
    let db: TestDatabase;
    let store: Store;

    before(async () => {
      db = await createDatabase(kind);
      store = db.store;
      await migrate(store);
    });
    after(async () => {
      await db?.close();
    });

    const row = async (id: number): Promise<Row | undefined> => (await store.query<Row>('SELECT status, generation, phase FROM ServerInstance WHERE id = $1', [id]))[0];
    const types = async (id: number): Promise<string[]> => (await listEvents(store, { instanceId: id })).map((e) => e.eventType);

    function register(port: number, pid: number, at: Date): Promise<{ id: number; generation: number }[]> {
      const details = JSON.stringify({ pid });
      return store.query<{ id: number; generation: number }>(sql.REGISTER, ['dup-host', port, pid, null, '{}', 0, 0, details, at, 10_000]);
    }

    it('a registration, each transition and event, twice and late: one of each, and the stopped row stays stopped', async () => {
      const t = Date.now();
      const at = (ms: number): Date => new Date(t + ms);
      const first = await register(7001, 4242, at(0));
      const again = await register(7001, 4242, at(0));
      assert.equal(first.length, 1);
      assert.deepEqual(again, first, 'the copy returns the registration that landed');
      const { id, generation } = first[0] as { id: number; generation: number };
      assert.equal(generation, 1);

      const drainStart = [id, generation, 2, 0, JSON.stringify({ reason: 'SIGTERM' }), at(10), 35_000] as const;
      const windowEnd = [id, generation, 'window_end', JSON.stringify({ endedBy: 'max' }), at(20)] as const;
      const closing = [id, generation, 'closing', 'listener_closed', JSON.stringify({ phase: 'closing' }), at(30), 1, 0] as const;
      const complete = [id, generation, JSON.stringify({ success: true }), at(40)] as const;
      for (const [text, params] of [[sql.DRAIN_START, drainStart], [sql.EVENT, windowEnd], [sql.PHASE, closing], [sql.DRAIN_COMPLETE, complete]] as const) {
        await store.query(text, [...params]);
        await store.query(text, [...params]);
      }
      assert.deepEqual(await types(id), ['registered', 'drain_start', 'window_end', 'listener_closed', 'drain_complete']);
      assert.deepEqual(await row(id), { status: 'stopped', generation: 1, phase: null });

      // Late copies, after the process finished: nothing changes.
      await store.query(sql.DRAIN_START, [...drainStart]);
      await store.query(sql.PHASE, [...closing]);
      assert.deepEqual(await register(7001, 4242, at(0)), first);
      assert.deepEqual(await row(id), { status: 'stopped', generation: 1, phase: null });
      assert.deepEqual(await types(id), ['registered', 'drain_start', 'window_end', 'listener_closed', 'drain_complete']);
    });

    it('a heartbeat that lands on a stopped row (reaped, or a copy after drain_complete) leaves it stopped, its heartbeat and counts as they were', async () => {
      const [r] = await register(7004, 400, new Date());
      const { id, generation } = r as { id: number; generation: number };
      await store.query("UPDATE ServerInstance SET status = 'stopped', last_heartbeat_at = now() - interval '1 hour' WHERE id = $1", [id]);
      const before = await store.query<{ last_heartbeat_at: Date; inflight_count: number }>('SELECT last_heartbeat_at, inflight_count FROM ServerInstance WHERE id = $1', [id]);
      const answer = await store.query<{ status: string | null; current_status: string; current_generation: number }>(sql.HEARTBEAT, [id, generation, 9, 0]);
      // What the reporter reads as "stopped or gone: register again" (reporter.ts #heartbeat).
      assert.deepEqual(answer.map((a) => [a.status, a.current_status, a.current_generation]), [[null, 'stopped', generation]]);
      const afterwards = await store.query<{ last_heartbeat_at: Date; inflight_count: number }>('SELECT last_heartbeat_at, inflight_count FROM ServerInstance WHERE id = $1', [id]);
      assert.deepEqual(afterwards, before, 'a stopped row does not look alive again');
    });

    it('a new registration still takes the next generation: a successor, and the same process rejoining later', async () => {
      const t = Date.now();
      const [a] = await register(7002, 100, new Date(t));
      const [b] = await register(7002, 200, new Date(t)); // a successor, same instant, other pid
      const [c] = await register(7002, 200, new Date(t + 5)); // the successor rejoins (reaped meanwhile)
      assert.deepEqual([a?.generation, b?.generation, c?.generation], [1, 2, 3]);
      assert.equal(new Set([a?.id, b?.id, c?.id]).size, 1);
      assert.deepEqual(await types(a?.id as number), ['registered', 'registered', 'registered']);
    });

    it('a registry migrated from before the unique index keeps the earliest of each copied event and gets the index', async () => {
      const old = await createDatabase(kind);
      try {
        // The registry as version 6 left it, with an event written twice (the race the index closes).
        // (The hosted PGlite migrates as it starts: undo migration 7 there, a no-op on Postgres.)
        await old.store.script(migrationScript(MIGRATIONS.filter((m) => m.version <= 6), 'test'));
        await old.store.script('DROP INDEX IF EXISTS idx_drain_event_once; DELETE FROM drainkit_migrations WHERE version = 7;');
        // A row as a version-6 reporter registers it (REGISTER of this version names later columns).
        const [r] = await old.store.query<{ id: number; generation: number }>("INSERT INTO ServerInstance (host, port, pid) VALUES ('dup-host', 7010, 1) RETURNING id, generation");
        const { id, generation } = r as { id: number; generation: number };
        const at = new Date();
        const insert = 'INSERT INTO DrainEvent (instance_id, generation, event_type, timestamp, details) VALUES ($1::int, $2::int, $3::text, $4::timestamptz, $5::jsonb) RETURNING id';
        const [kept] = await old.store.query<{ id: number }>(insert, [id, generation, 'waiting', at, '{"copy":1}']);
        await old.store.query(insert, [id, generation, 'waiting', at, '{"copy":2}']);
        await migrate(old.store);
        const events = (await listEvents(old.store, { instanceId: id })).filter((e) => e.eventType === 'waiting');
        assert.deepEqual(events.map((e) => [e.id, e.details]), [[kept?.id, { copy: 1 }]]);
        const index = await old.store.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_drain_event_once'");
        assert.match(index[0]?.indexdef ?? '', /UNIQUE INDEX idx_drain_event_once ON public\.drainevent USING btree \(instance_id, generation, event_type, "timestamp"\)/);
        // What the index is for: a second row of the same event is refused, and the statements' ON CONFLICT drops it.
        await assert.rejects(old.store.query(insert, [id, generation, 'waiting', at, '{"copy":3}']), /idx_drain_event_once|duplicate key/);
        assert.deepEqual(await old.store.query(sql.EVENT.replace(/WHERE NOT EXISTS[\s\S]*?\)\n/, ''), [id, generation, 'waiting', '{}', at]), []);
      } finally {
        await old.close();
      }
    });

    it('two distinct events of one type at distinct instants are both kept', async () => {
      const [r] = await register(7003, 300, new Date());
      const { id, generation } = r as { id: number; generation: number };
      const t = Date.now();
      await store.query(sql.EVENT, [id, generation, 'waiting', '{}', new Date(t)]);
      await store.query(sql.EVENT, [id, generation, 'waiting', '{}', new Date(t + 1)]);
      assert.deepEqual(await types(id), ['registered', 'waiting', 'waiting']);
    });
  });
}

describe('two copies of an event statement at the same instant on postgres', { skip: await postgresSkip(), timeout: 60_000 }, () => {
  let db: TestDatabase;
  const clients: pg.Client[] = [];
  before(async () => {
    db = await createDatabase('postgres');
    await migrate(db.store);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await db?.close();
  });

  async function client(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5_000 });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }

  /**
   * Runs `text` on two sessions at once: the first copy inside an open transaction, the second
   * started before the first commits (so its look for the event cannot see the first's row),
   * then the first commits, then the second. Returns the rows of `type` for the registration.
   */
  async function concurrently(id: number, generation: number, type: string, text: string, params: readonly unknown[]): Promise<number> {
    const a = await client();
    const b = await client();
    await a.query('BEGIN');
    await a.query(text, [...params]);
    await b.query('BEGIN');
    const second = b.query(text, [...params]);
    // The second copy either runs through (it saw nothing, and nothing makes it wait) or waits
    // for the first's transaction: on the unique index, or on the ServerInstance row it also
    // updates. Either way its look for the event was made before the first commits.
    let done = false;
    void second.then(() => (done = true), () => (done = true));
    const pid = (b as unknown as { processID: number }).processID;
    await eventually('the second copy to run through or wait on a lock', async () => {
      if (done) return true;
      const rows = await db.store.query<{ w: string | null }>('SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = $1::int', [pid]);
      return rows[0]?.w === 'Lock' ? true : undefined;
    }, 10_000);
    await a.query('COMMIT');
    await second;
    await b.query('COMMIT');
    const rows = await db.store.query<{ n: number }>('SELECT count(*)::int AS n FROM DrainEvent WHERE instance_id = $1::int AND generation = $2::int AND event_type = $3::text', [id, generation, type]);
    return rows[0]?.n ?? 0;
  }

  it('drain_start, a phase event, an event and drain_complete: one row each', async () => {
    const [r] = await db.store.query<{ id: number; generation: number }>(sql.REGISTER, ['race-host', 7100, 1, null, '{}', 0, 0, '{}', new Date(), 10_000]);
    const { id, generation } = r as { id: number; generation: number };
    const t = Date.now();
    const at = (ms: number): Date => new Date(t + ms);
    assert.equal(await concurrently(id, generation, 'drain_start', sql.DRAIN_START, [id, generation, 1, 0, '{}', at(10), 35_000]), 1, 'drain_start once');
    assert.equal(await concurrently(id, generation, 'listener_closed', sql.PHASE, [id, generation, 'closing', 'listener_closed', '{}', at(20), 0, 0]), 1, 'listener_closed once');
    assert.equal(await concurrently(id, generation, 'waiting', sql.EVENT, [id, generation, 'waiting', '{}', at(30)]), 1, 'waiting once');
    assert.equal(await concurrently(id, generation, 'drain_complete', sql.DRAIN_COMPLETE, [id, generation, '{}', at(40)]), 1, 'drain_complete once');
    assert.deepEqual((await listEvents(db.store, { instanceId: id })).map((e) => e.eventType), ['registered', 'drain_start', 'listener_closed', 'waiting', 'drain_complete']);
  });
});
