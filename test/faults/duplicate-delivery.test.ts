/**
 * Every statement an instance writes can reach the database twice: the instance gives up on an
 * answer that was lost and retries, or a statement it gave up on still sits in a closed socket's
 * send queue and TCP delivers it after the retry (network.test.ts shows both happening over a
 * degraded link). Here each reporter statement is delivered twice, and late after the drain
 * ended, on real Postgres and on PGlite over pglite-socket: the registry must read as if each
 * had been delivered once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listEvents, migrate, type Store } from '../../src/registry/index.js';
import * as sql from '../../src/registry/statements.js';
import { DATABASE_KINDS, createDatabase, postgresSkip, type TestDatabase } from '../registry/databases.js';

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
