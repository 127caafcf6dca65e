/**
 * Schema, migrations, read API, reaper and retention against real Postgres and embedded PGlite
 * (here the in-process PGlite store, the other driver).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  LATEST_VERSION,
  MIGRATIONS,
  RegistryError,
  fleetSummary,
  listEvents,
  listInstances,
  migrate,
  prune,
  reap,
  requestDrain,
} from '../../src/registry/index.js';
import { DATABASE_KINDS, createDatabase, postgresSkip, type TestDatabase } from './databases.js';

/** The seed's columns: name, type, nullable, default (as information_schema prints them). */
const SEED_COLUMNS = {
  serverinstance: [
    ['id', 'integer', 'NO', "nextval('serverinstance_id_seq'::regclass)"],
    ['host', 'text', 'NO', null],
    ['port', 'integer', 'NO', null],
    ['status', 'text', 'NO', "'active'::text"],
    ['inflight_count', 'integer', 'NO', '0'],
    ['drain_started_at', 'timestamp with time zone', 'YES', null],
    ['drained_at', 'timestamp with time zone', 'YES', null],
  ],
  drainevent: [
    ['id', 'integer', 'NO', "nextval('drainevent_id_seq'::regclass)"],
    ['instance_id', 'integer', 'YES', null],
    ['event_type', 'text', 'NO', null],
    ['timestamp', 'timestamp with time zone', 'NO', 'now()'],
    ['details', 'jsonb', 'YES', null],
  ],
} as const;

for (const kind of DATABASE_KINDS) {
  describe(`registry schema and fleet API on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 120_000 }, () => {
    let db: TestDatabase;
    before(async () => {
      db = await createDatabase(kind);
      await migrate(db.store);
    });
    after(async () => {
      await db?.close();
    });

    async function insertInstance(port: number, status: string, heartbeatAgoS: number, labels: Record<string, string> = {}): Promise<number> {
      const rows = await db.store.query<{ id: number }>(
        `INSERT INTO ServerInstance (host, port, status, inflight_count, pid, labels, last_heartbeat_at)
         VALUES ('fleet-test', $1, $2, 2, 4242, $3::jsonb, now() - make_interval(secs => $4)) RETURNING id`,
        [port, status, JSON.stringify(labels), heartbeatAgoS],
      );
      return rows[0]!.id;
    }

    it("keeps the seed's tables, columns, constraints and index unchanged", async () => {
      for (const [table, columns] of Object.entries(SEED_COLUMNS)) {
        const rows = await db.store.query<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
          `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
           WHERE table_name = $1 ORDER BY ordinal_position`,
          [table],
        );
        assert.deepEqual(rows.slice(0, columns.length).map((r) => [r.column_name, r.data_type, r.is_nullable, r.column_default]), columns);
      }
      const constraints = await db.store.query<{ def: string }>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
         WHERE conrelid IN ('serverinstance'::regclass, 'drainevent'::regclass)
           AND contype <> 'n' -- Postgres 18 (PGlite) also lists NOT NULL here; the columns check covers those
         ORDER BY 1`,
      );
      assert.deepEqual(constraints.map((c) => c.def).sort(), [
        "CHECK ((status = ANY (ARRAY['active'::text, 'draining'::text, 'stopped'::text])))",
        'FOREIGN KEY (instance_id) REFERENCES serverinstance(id)',
        'PRIMARY KEY (id)',
        'PRIMARY KEY (id)',
        'UNIQUE (host, port)',
      ].sort());
      const index = await db.store.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_drain_instance'");
      assert.match(index[0]?.indexdef ?? '', /ON public\.drainevent USING btree \(instance_id, "timestamp"\)$/);
    });

    it('migrates idempotently: a second run applies nothing', async () => {
      await migrate(db.store, { appliedBy: 'second run' });
      const rows = await db.store.query<{ version: number; applied_by: string }>('SELECT version, applied_by FROM drainkit_migrations ORDER BY version');
      // Versions may have gaps (migrations are numbered by whoever added them): every one applied, once.
      assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
      assert.equal(rows.at(-1)?.version, LATEST_VERSION);
      assert.notEqual(rows[0]?.applied_by, 'second run');
    });

    it('lists instances by status and label, and sums the fleet', async () => {
      await db.store.script('DELETE FROM DrainRequest; DELETE FROM DrainEvent; DELETE FROM ServerInstance;');
      await insertInstance(1, 'active', 0, { zone: 'a' });
      await insertInstance(2, 'active', 0, { zone: 'b' });
      await insertInstance(3, 'draining', 0, { zone: 'a' });
      await insertInstance(4, 'stopped', 0, { zone: 'a' });
      assert.deepEqual((await listInstances(db.store, { labels: { zone: 'a' } })).map((i) => i.port), [1, 3, 4]);
      assert.deepEqual((await listInstances(db.store, { status: ['active', 'draining'], labels: { zone: 'a' } })).map((i) => i.port), [1, 3]);
      assert.deepEqual((await listInstances(db.store, { status: 'stopped' })).map((i) => i.port), [4]);
      assert.deepEqual(await fleetSummary(db.store), { total: 4, active: 2, draining: 1, stopped: 1, inflight: 6, persistent: 0, pendingDrainRequests: 0 });
      await assert.rejects(listInstances(db.store, { status: 'gone' as never }), (err: RegistryError) => err.code === 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION');
    });

    it('refuses a drain request for an unknown instance, or one already draining or stopped, recording none', async () => {
      const stopped = await insertInstance(10, 'stopped', 0);
      const draining = await insertInstance(12, 'draining', 0);
      await db.store.query('UPDATE ServerInstance SET drain_started_at = now() WHERE id = $1', [draining]);
      for (const target of [{ instanceId: 999_999 }, { host: 'nowhere', port: 1 }]) {
        await assert.rejects(requestDrain(db.store, target, { requestedBy: 't', reason: 'r' }), { code: 'ERR_DRAINKIT_REGISTRY_NOT_FOUND', message: /no instance matches (instance 999999|nowhere:1)$/ });
      }
      await assert.rejects(requestDrain(db.store, { instanceId: stopped }, { requestedBy: 't', reason: 'r' }), {
        code: 'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE',
        message: new RegExp(`instance ${stopped} \\(fleet-test:10\\) is already stopped; only an active instance takes a drain request`),
      });
      await assert.rejects(requestDrain(db.store, { host: 'fleet-test', port: 12 }, { requestedBy: 't', reason: 'r' }), {
        code: 'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE',
        message: new RegExp(`instance ${draining} \\(fleet-test:12\\) is already draining since \\d{4}-`),
      });
      const recorded = await db.store.query<{ n: number }>('SELECT count(*)::int AS n FROM DrainRequest');
      assert.equal(recorded[0]?.n, 0, 'a refused request leaves nothing pending');
      const live = await insertInstance(11, 'active', 0);
      const req = await requestDrain(db.store, { host: 'fleet-test', port: 11 }, { requestedBy: 't', reason: 'r' });
      assert.equal(req.instanceId, live);
      assert.equal((await fleetSummary(db.store)).pendingDrainRequests, 1);
    });

    it('reaps stale instances once even with five reapers at once, and leaves fresh ones', async () => {
      await db.store.script('DELETE FROM DrainRequest; DELETE FROM DrainEvent; DELETE FROM ServerInstance;');
      const stale = await Promise.all([20, 21, 22].map((p) => insertInstance(p, p === 22 ? 'draining' : 'active', 120)));
      const fresh = await insertInstance(23, 'active', 0);
      await insertInstance(24, 'stopped', 120);
      // Inserted concurrently, so their ids come in any order: compare sorted.
      const staleIds = [...stale].sort((a, b) => a - b);
      const runs = await Promise.all([1, 2, 3, 4, 5].map((n) => reap(db.store, { ttlMs: 60_000, reapedBy: `r${n}` })));
      assert.deepEqual(runs.flat().map((l) => l.id).sort((a, b) => a - b), staleIds);
      const lost = await listEvents(db.store, { types: ['lost'] });
      assert.deepEqual(lost.map((e) => e.instanceId).sort((a, b) => (a ?? 0) - (b ?? 0)), staleIds);
      assert.equal(lost.find((e) => e.instanceId === stale[2])?.details?.previousStatus, 'draining');
      assert.equal((await listInstances(db.store)).find((i) => i.id === fresh)?.status, 'active');
      assert.deepEqual((await listInstances(db.store, { status: 'stopped' })).map((i) => i.port), [20, 21, 22, 24]);
    });

    it('prunes stopped instances and events older than the age, keeping live instances', async () => {
      await db.store.script('DELETE FROM DrainRequest; DELETE FROM DrainEvent; DELETE FROM ServerInstance;');
      const oldStopped = await insertInstance(30, 'stopped', 7_200);
      const newStopped = await insertInstance(31, 'stopped', 0);
      const oldActive = await insertInstance(32, 'active', 7_200);
      await requestDrain(db.store, { instanceId: oldActive }, { requestedBy: 't', reason: 'keep me' });
      // A request left for an instance that then stopped: it goes with the instance, and is counted.
      await db.store.query("INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1, 't', 'cascaded')", [oldStopped]);
      for (const [id, agoS] of [[oldStopped, 7_200], [oldStopped, 0], [newStopped, 0], [oldActive, 7_200], [oldActive, 0]] as const) {
        await db.store.query(`INSERT INTO DrainEvent (instance_id, event_type, timestamp) VALUES ($1, 'x', now() - make_interval(secs => $2))`, [id, agoS]);
      }
      const result = await prune(db.store, { olderThanMs: 3_600_000 });
      assert.deepEqual(result, { instances: 1, events: 3, requests: 1 });
      assert.deepEqual((await listInstances(db.store)).map((i) => i.port), [31, 32]);
      const left = await listEvents(db.store);
      assert.deepEqual(left.map((e) => e.instanceId).sort(), [newStopped, oldActive].sort());
      assert.equal((await fleetSummary(db.store)).pendingDrainRequests, 1);
    });
  });
}
