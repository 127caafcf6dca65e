/**
 * The instance reporter in-process, against real Postgres and embedded PGlite (served over
 * pglite-socket, so the reporter's `pg` driver runs in shared-session mode there).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createDrainer, type Drainer, type Logger } from '../../src/index.js';
import { DRAIN_REQUEST_CHANNEL, MIGRATIONS, fleetSummary, getInstance, listEvents, listInstances, registry, openStore, requestDrain, startReporter, type Instance, type Reporter, type Store } from '../../src/registry/index.js';
import * as statements from '../../src/registry/statements.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';
import { TcpProxy } from './proxy.js';
import { startServer, type TestServer } from './servers.js';

/** `promise`, or a rejection naming what was awaited after `ms` (a hang guard, not a timing assertion). */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A pino-shaped logger that keeps what it is given. */
function capture(into: { level: string; obj: Record<string, unknown> }[]): Logger {
  const at = (level: string) => (obj: object) => void into.push({ level, obj: obj as Record<string, unknown> });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

for (const kind of DATABASE_KINDS) {
  describe(`reporter on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 120_000 }, () => {
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

    async function instance(options: { url?: string; heartbeatMs?: number; labels?: Record<string, string>; logger?: Logger } = {}): Promise<{ s: TestServer; reporter: Reporter }> {
      const s = await startServer();
      servers.push(s);
      const reporter = startReporter(s.drainer, {
        databaseUrl: options.url ?? db.url,
        host: '127.0.0.1',
        port: s.port,
        version: '1.2.3',
        labels: options.labels ?? { zone: 'test' },
        heartbeatMs: options.heartbeatMs ?? 100,
        reapTtlMs: false,
        shutdownFlushMs: 5_000,
        ...(options.logger && { logger: options.logger }),
      });
      reporters.push(reporter);
      return { s, reporter };
    }

    it('registers, shows in-flight requests within a heartbeat, and writes every transition of a drain', async () => {
      const { s, reporter } = await instance();
      const id = await reporter.whenRegistered();
      const row = await getInstance(db.store, id);
      assert.equal(row?.status, 'active');
      assert.equal(row?.port, s.port);
      assert.equal(row?.pid, process.pid);
      assert.equal(row?.version, '1.2.3');
      assert.deepEqual(row?.labels, { zone: 'test' });
      assert.equal(row?.drainStartedAt, null);

      await s.hold(3, 1_500);
      await eventually('inflight_count 3', async () => ((await getInstance(db.store, id))?.inflightCount === 3 ? true : undefined));

      const result = await s.drainer.drain('test');
      assert.equal(result.success, true);
      const events = await eventually('drain_complete', async () => {
        const all = await listEvents(db.store, { instanceId: id });
        return all.some((e) => e.eventType === 'drain_complete') ? all : undefined;
      });
      assert.deepEqual(
        events.map((e) => e.eventType),
        ['registered', 'drain_start', 'window_end', 'listener_closed', 'persistent_notified', 'waiting', 'cleanup', 'drain_complete'],
      );
      assert.deepEqual(events[0]?.details, { host: '127.0.0.1', port: s.port, pid: process.pid, version: '1.2.3', labels: { zone: 'test' }, rejoined: false, supersededRequests: 0 });
      // budgetMs: the window maximum plus the drain timeout, as the drainer resolved them.
      const { deregister, drainTimeoutMs } = s.drainer.options;
      const budgetMs = (deregister.mode === 'fixed' ? deregister.delayMs : deregister.maxMs) + drainTimeoutMs;
      assert.deepEqual(events[1]?.details, { reason: 'test', inflight: 3, persistent: 0, pid: process.pid, budgetMs });
      const complete = events[7]?.details ?? {};
      assert.equal(complete.success, true);
      assert.equal(complete.requestsAtStart, 3);
      assert.equal(complete.requestsRemaining, 0);
      assert.equal(complete.connectionsForced, 0);
      assert.equal(typeof complete.durationMs, 'number');
      const final = await getInstance(db.store, id);
      assert.equal(final?.status, 'stopped');
      assert.ok(final?.drainStartedAt instanceof Date && final.drainedAt instanceof Date);
      assert.ok(final.drainedAt.getTime() >= final.drainStartedAt.getTime());
      assert.equal(final.inflightCount, 0);
      assert.equal(final.phase, null);
    });

    it('attaches as a createDrainer plugin, registering with the port once listening', async () => {
      const server = http.createServer((_req, res) => res.end('ok'));
      const drainer = createDrainer(server, {
        signals: false,
        deregister: { mode: 'fixed', delayMs: 0 },
        plugins: [registry({ databaseUrl: db.url, host: '127.0.0.1', heartbeatMs: 100, reapTtlMs: false, labels: { via: 'plugin' } })],
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const row = await eventually('the plugin to register', async () =>
        (await listInstances(db.store, { labels: { via: 'plugin' } })).find((i) => i.port === port));
      assert.equal(row.status, 'active');
      const result = await drainer.drain('plugin test');
      assert.equal(result.success, true);
      await eventually('status stopped', async () => ((await getInstance(db.store, row.id))?.status === 'stopped' ? true : undefined));
      const types = (await listEvents(db.store, { instanceId: row.id })).map((e) => e.eventType);
      assert.equal(types.at(-1), 'drain_complete');
      assert.throws(() => registry({ databaseUrl: db.url, heartbeatMs: -1 }), /heartbeatMs/);
      drainer.detach();
    });

    it('a draining predecessor never writes over its successor on the same host:port; its events stay its own', async () => {
      // Two processes (two reporters with their own pids) claiming one identity, as when a
      // replacement binds the port the draining predecessor just closed.
      const identity = 40_000 + Math.floor(Math.random() * 20_000);
      const logs: { level: string; obj: Record<string, unknown> }[] = [];
      const logger = capture(logs);
      const a = await startServer();
      servers.push(a);
      const common = { databaseUrl: db.url, host: 'takeover.test', port: identity, heartbeatMs: 100, reapTtlMs: false as const, shutdownFlushMs: 5_000 };
      const reporterA = startReporter(a.drainer, { ...common, pid: 1001, logger });
      reporters.push(reporterA);
      const idA = await reporterA.whenRegistered();
      await a.hold(1, 1_500);
      const drainedA = a.drainer.drain('deploy');
      await eventually('the predecessor draining', async () => ((await getInstance(db.store, idA))?.status === 'draining' ? true : undefined));

      const b = await startServer();
      servers.push(b);
      const reporterB = startReporter(b.drainer, { ...common, pid: 1002, logger });
      reporters.push(reporterB);
      const idB = await reporterB.whenRegistered();
      assert.equal(idB, idA, 'one row per host:port');
      const taken = await getInstance(db.store, idB);
      assert.equal(taken?.status, 'active');
      assert.equal(taken?.pid, 1002);
      const generationB = taken?.generation ?? 0;

      // The predecessor finishes its drain and lands every write it has (phases, drain_complete).
      assert.equal((await drainedA).success, true);
      await eventually('the predecessor drain_complete', async () =>
        (await listEvents(db.store, { instanceId: idA, types: ['drain_complete'] })).length === 1 ? true : undefined);

      const row = await getInstance(db.store, idB);
      assert.equal(row?.status, 'active', 'the successor is not stopped by the predecessor');
      assert.equal(row?.pid, 1002);
      assert.equal(row?.generation, generationB);
      assert.equal(row?.drainStartedAt, null);
      assert.equal(row?.phase, null);

      const events = await listEvents(db.store, { instanceId: idA });
      const ofA = events.filter((e) => e.generation === generationB - 1).map((e) => e.eventType);
      const ofB = events.filter((e) => e.generation === generationB).map((e) => e.eventType);
      assert.deepEqual(ofA, ['registered', 'drain_start', 'window_end', 'listener_closed', 'persistent_notified', 'waiting', 'cleanup', 'drain_complete']);
      assert.deepEqual(ofB, ['registered']);
      assert.deepEqual(await listEvents(db.store, { instanceId: idA, generation: generationB }).then((r) => r.map((e) => e.eventType)), ['registered']);

      // The successor still heartbeats its own row; the stopped predecessor sends nothing more.
      await b.hold(2, 1_000);
      await eventually('the successor in-flight count', async () => ((await getInstance(db.store, idB))?.inflightCount === 2 ? true : undefined));
      await reporterB.stop();
    });

    it('a live process whose host:port was taken over stops writing to it and never acknowledges its successor\'s drain requests', async () => {
      const identity = 40_000 + Math.floor(Math.random() * 20_000);
      const logs: { level: string; obj: Record<string, unknown> }[] = [];
      const a = await startServer();
      const b = await startServer();
      servers.push(a, b);
      const common = { databaseUrl: db.url, host: 'conflict.test', port: identity, heartbeatMs: 100, reapTtlMs: false as const, shutdownFlushMs: 5_000 };
      const reporterA = startReporter(a.drainer, { ...common, pid: 2001, logger: capture(logs) });
      reporters.push(reporterA);
      await reporterA.whenRegistered();
      const reporterB = startReporter(b.drainer, { ...common, pid: 2002 });
      reporters.push(reporterB);
      const id = await reporterB.whenRegistered();
      // A change of counts makes the next heartbeat write (an idle one waits for livenessWriteMs).
      await a.hold(3, 1_000);
      await eventually('the identity conflict logged', () => Promise.resolve(logs.some((l) => l.obj.event === 'registry_identity_taken') ? true : undefined));
      assert.equal(logs.filter((l) => l.obj.event === 'registry_identity_taken').length, 1, 'said once');
      assert.equal(logs.some((l) => l.obj.event === 'registry_rejoin'), false, 'no tug of war');
      assert.equal((await getInstance(db.store, id))?.inflightCount, 0, 'the taken-over process does not write its counts');

      const drainedB = new Promise<string>((resolve) => b.drainer.once('drained', (r) => resolve(r.reason)));
      await requestDrain(db.store, { instanceId: id }, { requestedBy: 'test', reason: 'takeover' });
      assert.equal(await drainedB, 'remote: takeover');
      assert.equal(a.drainer.state, 'active', 'the request was for the row\'s holder only');
      assert.equal((await getInstance(db.store, id))?.pid, 2002);
      await reporterA.stop();
    });

    it('gives up a write that retrying cannot fix (its row was pruned) instead of blocking the queue', async () => {
      const logs: { level: string; obj: Record<string, unknown> }[] = [];
      const s = await startServer();
      servers.push(s);
      // A one-minute heartbeat: nothing notices the missing row and registers again meanwhile.
      const reporter = startReporter(s.drainer, { databaseUrl: db.url, host: '127.0.0.1', port: s.port, heartbeatMs: 60_000, reapTtlMs: false, shutdownFlushMs: 3_000, logger: capture(logs) });
      reporters.push(reporter);
      const id = await reporter.whenRegistered();
      await db.store.query('DELETE FROM DrainEvent WHERE instance_id = $1', [id]);
      await db.store.query('DELETE FROM ServerInstance WHERE id = $1', [id]);
      const result = await s.drainer.drain('after a prune');
      assert.equal(result.success, true);
      const abandoned = logs.filter((l) => l.obj.event === 'registry_write_abandoned');
      assert.equal(abandoned[0]?.obj.write, 'drain_start');
      assert.equal(abandoned[0]?.obj.sqlstate, '23503', 'a foreign-key violation');
      assert.equal(logs.some((l) => l.obj.event === 'registry_writes_dropped'), false, 'nothing was left stuck for stop() to drop');
      const hook = result.hooks.find((h) => h.name === 'drainkit-registry');
      assert.equal(hook?.outcome, 'ok');
    });

    it('reads drain requests again when a notification arrives while a read runs (Postgres: NOTIFY)', { skip: kind !== 'postgres' }, async () => {
      // The reporter's store is the test's own, with a gate that can hold the result of one
      // pending-request read after the database answered it.
      let gate: { entered: () => void; release: Promise<void> } | undefined;
      const gated: Store = {
        driver: db.store.driver,
        async query(text, params, options) {
          const rows = await db.store.query(text, params, options);
          const g = gate;
          if (g && text === statements.PENDING_REQUEST) {
            gate = undefined;
            g.entered();
            await g.release;
          }
          return rows as never;
        },
        script: (text, options) => db.store.script(text, options),
        // The reporter's handler runs first; then the test hears that it ran.
        listen: (channel, handlers) => db.store.listen!(channel, { ...handlers, onNotify: (payload) => { handlers.onNotify(payload); onNotified(); } }),
        close: () => Promise.resolve(),
      };
      let notifications = 0;
      const notifiedWaiters: { n: number; resolve: () => void }[] = [];
      const onNotified = (): void => {
        notifications += 1;
        for (const w of notifiedWaiters.filter((x) => x.n <= notifications)) w.resolve();
      };
      const notified = (n: number): Promise<void> => new Promise((resolve) => (notifications >= n ? resolve() : notifiedWaiters.push({ n, resolve })));
      const s = await startServer();
      servers.push(s);
      const reporter = startReporter(s.drainer, { store: gated, host: '127.0.0.1', port: s.port, heartbeatMs: 60_000, reapTtlMs: false });
      reporters.push(reporter);
      const id = await reporter.whenRegistered();
      await eventually('LISTEN', async () => {
        const rows = await db.store.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      });
      let release!: () => void;
      const entered = new Promise<void>((resolve) => {
        gate = { entered: resolve, release: new Promise<void>((r) => (release = r)) };
      });
      // A notification with no request behind it starts a read that finds nothing…
      await db.store.query(`SELECT pg_notify('${DRAIN_REQUEST_CHANNEL}', $1::text)`, [String(id)]);
      await bounded(entered, 10_000, 'the gated pending-request read');
      // …and while that read is held, the real request and its notification arrive.
      const drained = new Promise<string>((resolve) => s.drainer.once('drained', (r) => resolve(r.reason)));
      await requestDrain(db.store, { instanceId: id }, { requestedBy: 'test', reason: 'mid-poll' });
      await bounded(notified(2), 10_000, "the request's notification to reach the reporter");
      release();
      assert.equal(await bounded(drained, 10_000, 'the drain the notified request asks for (the heartbeat is a minute away)'), 'remote: mid-poll');
    });

    it('writes stopped only after the shutdown hooks ran, with their outcome in drain_complete', async () => {
      const s = await startServer();
      servers.push(s);
      // Registered before the reporter, so it runs after the reporter's flush hook (last
      // registered runs first): whatever the reporter queued by then has landed.
      const seen: { id?: number; statusDuringHooks?: string | undefined } = {};
      s.drainer.onShutdown('probe', async () => {
        seen.statusDuringHooks = seen.id === undefined ? 'unregistered' : (await getInstance(db.store, seen.id))?.status;
      }, { timeoutMs: 5_000 });
      const reporter = startReporter(s.drainer, { databaseUrl: db.url, host: '127.0.0.1', port: s.port, heartbeatMs: 100, reapTtlMs: false });
      reporters.push(reporter);
      const id = await reporter.whenRegistered();
      seen.id = id;
      const result = await s.drainer.drain('hooks first');
      assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['drainkit-registry', 'ok'], ['probe', 'ok']]);
      assert.equal(seen.statusDuringHooks, 'draining', 'the row is not stopped while hooks run');
      await eventually('status stopped', async () => ((await getInstance(db.store, id))?.status === 'stopped' ? true : undefined));
      const complete = (await listEvents(db.store, { instanceId: id, types: ['drain_complete'] }))[0];
      assert.deepEqual((complete?.details?.hooks as { name: string; outcome: string }[]).map((h) => [h.name, h.outcome]), [['drainkit-registry', 'ok'], ['probe', 'ok']]);
    });

    it('answers a request that arrives just before a drain it did not start with "already_draining"', async () => {
      // No LISTEN and a one-minute heartbeat: the request stays unread until the drain starts.
      const unlistened: Store = { driver: db.store.driver, query: (t, p, o) => db.store.query(t, p, o), script: (t, o) => db.store.script(t, o), close: () => Promise.resolve() };
      const s = await startServer();
      servers.push(s);
      const reporter = startReporter(s.drainer, { store: unlistened, host: '127.0.0.1', port: s.port, heartbeatMs: 60_000, reapTtlMs: false });
      reporters.push(reporter);
      const id = await reporter.whenRegistered();
      const request = await requestDrain(db.store, { instanceId: id }, { requestedBy: 'ops', reason: 'late' });
      await s.drainer.drain('SIGTERM');
      await eventually('status stopped', async () => ((await getInstance(db.store, id))?.status === 'stopped' ? true : undefined));
      const rows = await db.store.query<{ outcome: string | null; acknowledged_at: Date | null }>('SELECT outcome, acknowledged_at FROM DrainRequest WHERE id = $1', [request.requestId]);
      assert.equal(rows[0]?.outcome, 'already_draining');
      assert.ok(rows[0]?.acknowledged_at instanceof Date);
      const requested = await listEvents(db.store, { instanceId: id, types: ['drain_requested'] });
      assert.equal(requested[0]?.details?.outcome, 'already_draining');
      assert.equal(requested[0]?.details?.requestId, request.requestId);
      assert.equal((await fleetSummary(db.store)).pendingDrainRequests, 0);
    });

    it('one identity rule: host option, else DRAINKIT_INSTANCE_HOST, else os.hostname(); the port the server listens on', async () => {
      const before = process.env.DRAINKIT_INSTANCE_HOST;
      const started: Drainer[] = [];
      const plugin = async (options: { host?: string }): Promise<Instance> => {
        const server = http.createServer((_req, res) => res.end('ok'));
        const drainer = createDrainer(server, { signals: false, exitOnDrain: false, deregister: { mode: 'fixed', delayMs: 0 }, plugins: [registry({ databaseUrl: db.url, heartbeatMs: 100, reapTtlMs: false, ...options })] });
        started.push(drainer);
        // An earlier test's instance may have had the same ephemeral port under another host:
        // only a row registered by this one counts (a second of slack for clock rounding).
        const since = Date.now() - 1_000;
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const port = (server.address() as AddressInfo).port;
        return eventually(`the plugin on port ${port} to register`, async () =>
          (await listInstances(db.store)).find((i) => i.port === port && i.status === 'active' && i.registeredAt.getTime() >= since));
      };
      try {
        delete process.env.DRAINKIT_INSTANCE_HOST;
        assert.equal((await plugin({})).host, os.hostname(), 'not the listening address 127.0.0.1');
        process.env.DRAINKIT_INSTANCE_HOST = 'web-7.pods.internal';
        assert.equal((await plugin({})).host, 'web-7.pods.internal');
        assert.equal((await plugin({ host: 'explicit.example' })).host, 'explicit.example', 'the option wins over the variable');
        process.env.DRAINKIT_INSTANCE_HOST = ' ';
        assert.throws(() => registry({ databaseUrl: db.url }), { code: 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION', message: /DRAINKIT_INSTANCE_HOST got " "; accepted: a host name or address/ });
      } finally {
        if (before === undefined) delete process.env.DRAINKIT_INSTANCE_HOST;
        else process.env.DRAINKIT_INSTANCE_HOST = before;
        for (const d of started) await d.drain('test over');
      }
    });

    it('twenty instances starting at once against a fresh database: one migration, twenty rows', async () => {
      const fresh = await createDatabase(kind);
      try {
        // PGlite's host migrates before serving; drop everything it created (whatever tables the
        // migrations add) so the reporters race for a fresh database.
        if (kind === 'pglite') await fresh.store.script('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
        const warnings: object[] = [];
        const logger = { info: () => undefined, warn: (o: object) => warnings.push(o), error: (o: object) => warnings.push(o) };
        const started = await Promise.all(Array.from({ length: 20 }, () => instance({ url: fresh.url, heartbeatMs: 1_000, logger })));
        const ids = await Promise.all(started.map(({ reporter }) => reporter.whenRegistered()));
        assert.equal(new Set(ids).size, 20);
        const migrations = await fresh.store.query<{ version: number; applied_by: string }>('SELECT version, applied_by FROM drainkit_migrations');
        assert.equal(migrations.length, MIGRATIONS.length);
        assert.match(migrations[0]?.applied_by ?? '', /^127\.0\.0\.1:\d+ pid \d+$/);
        assert.equal((await listInstances(fresh.store, { status: 'active' })).length, 20);
        const registered = await listEvents(fresh.store, { types: ['registered'] });
        assert.equal(registered.length, 20);
        // Registration is retried in the background, so a failed migration would still end in
        // twenty rows: it must not have failed at all.
        assert.deepEqual(warnings, []);
        await Promise.all(started.map(({ reporter }) => reporter.stop()));
      } finally {
        await fresh.close();
      }
    });

    it('serves while the database is down at start, and registers once it is back', async () => {
      const target = Number(new URL(db.url).port || 5432);
      const proxy = await TcpProxy.start(target);
      await proxy.cut();
      try {
        const { s, reporter } = await instance({ url: proxy.wrap(db.url) });
        const res = await fetch(`http://127.0.0.1:${s.port}/`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'ok\n');
        assert.equal(reporter.instanceId, undefined);
        await proxy.restore();
        const id = await reporter.whenRegistered();
        assert.equal((await getInstance(db.store, id))?.status, 'active');
        await reporter.stop();
      } finally {
        await proxy.cut();
      }
    });

    it(`takes a remote drain request ${kind === 'postgres' ? 'at once through NOTIFY' : 'on its heartbeat'} and drains as on SIGTERM`, async () => {
      // On Postgres the heartbeat is a minute: only the notification can deliver the request.
      const { s, reporter } = await instance({ heartbeatMs: kind === 'postgres' ? 60_000 : 100 });
      const id = await reporter.whenRegistered();
      if (kind === 'postgres') {
        // The LISTEN connection is up once the backend shows it listening.
        await eventually('LISTEN', async () => {
          const rows = await db.store.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
          return (rows[0]?.n ?? 0) > 0 ? true : undefined;
        });
      }
      const drained = new Promise<string>((resolve) => s.drainer.once('drained', (r) => resolve(r.reason)));
      const request = await requestDrain(db.store, { host: '127.0.0.1', port: s.port }, { requestedBy: 'ops@example', reason: 'kernel upgrade' });
      assert.equal(request.instanceId, id);
      assert.equal(await drained, 'remote: kernel upgrade');
      const events = await eventually('drain_complete', async () => {
        const all = await listEvents(db.store, { instanceId: id });
        return all.some((e) => e.eventType === 'drain_complete') ? all : undefined;
      });
      assert.deepEqual(events.slice(0, 3).map((e) => e.eventType), ['registered', 'drain_requested', 'drain_start']);
      assert.equal(events[1]?.details?.requestedBy, 'ops@example');
      assert.equal(events[1]?.details?.reason, 'kernel upgrade');
      assert.equal(events[1]?.details?.requestId, request.requestId);
      const pending = await db.store.query<{ acknowledged_at: Date | null; outcome: string }>('SELECT acknowledged_at, outcome FROM DrainRequest WHERE id = $1', [request.requestId]);
      assert.ok(pending[0]?.acknowledged_at instanceof Date);
      assert.equal(pending[0]?.outcome, 'draining');
    });
  });
}

describe('reporter without a reachable database', () => {
  it('flush() resolves false when stop() dropped what was pending, and after', async () => {
    const s = await startServer();
    try {
      // Port 1 refuses: the registration stays pending.
      const reporter = startReporter(s.drainer, { databaseUrl: 'postgres://postgres@127.0.0.1:1/none', host: '127.0.0.1', port: s.port, reapTtlMs: false });
      const flushed = reporter.flush(30_000);
      await reporter.stop();
      assert.equal(await bounded(flushed, 5_000, 'flush() to settle on stop()'), false);
      assert.equal(await reporter.flush(1_000), false);
    } finally {
      await s.close();
    }
  });
});

describe('reporter options are checked where they are written', () => {
  it('registry() validates with or without a port: bad options throw from registry() itself', () => {
    assert.throws(() => registry({ databaseUrl: 'postgres://h/db', heartbeatMs: -1 }), { code: 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION', message: /heartbeatMs got -1/ });
    assert.throws(() => registry({ databaseUrl: 'postgres://h/db', port: 3000, heartbeatMs: -1 }), { code: 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION', message: /heartbeatMs got -1/ });
    assert.throws(() => registry({ databaseUrl: 'postgres://h/db', port: 3000, labels: { zone: 1 as unknown as string } }), /labels got/);
    assert.throws(() => registry({ databaseUrl: 'postgres://h/db', port: 3000, bogus: true } as never), { code: 'ERR_DRAINKIT_REGISTRY_UNKNOWN_OPTION' });
    assert.throws(() => registry({ databaseUrl: 'postgres://h/db', port: 70_000 }), /port got 70000/);
  });

  it('a database URL that is not postgres:// is refused at construction, naming what was given and what is accepted', async () => {
    const s = await startServer();
    try {
      const mysql = { code: 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION', message: /databaseUrl got "mysql:\/\/app:\*\*\*@db\/app" \(a mysql:\/\/ URL\); accepted: a postgres:\/\/ or postgresql:\/\/ URL/ };
      assert.throws(() => registry({ databaseUrl: 'mysql://app:secret@db/app' }), mysql);
      assert.throws(() => registry({ databaseUrl: 'mysql://app:secret@db/app', port: 3000 }), mysql);
      assert.throws(() => startReporter(s.drainer, { databaseUrl: 'mysql://app:secret@db/app', port: s.port }), mysql);
      assert.throws(() => startReporter(s.drainer, { databaseUrl: 'db.internal:5432', port: s.port }), /databaseUrl got "db.internal:5432"/);
      assert.throws(() => startReporter(s.drainer, { databaseUrl: '', port: s.port }), /databaseUrl got an empty string/);
      assert.throws(() => startReporter(s.drainer, { databaseUrl: 'postgres://', port: s.port }), /names no host/);
      const before = process.env.DATABASE_URL;
      process.env.DATABASE_URL = 'mysql://db/app';
      try {
        assert.throws(() => registry({}), /DATABASE_URL got "mysql:\/\/db\/app"/);
      } finally {
        if (before === undefined) delete process.env.DATABASE_URL;
        else process.env.DATABASE_URL = before;
      }
      await assert.rejects(openStore({ databaseUrl: 'mysql://db/app' }), /databaseUrl got "mysql:\/\/db\/app"/);
      // The accepted forms.
      registry({ databaseUrl: 'postgresql://user:pw@db.internal:5432/app' });
      registry({ databaseUrl: 'postgres:///app?host=/var/run/postgresql' });
    } finally {
      await s.close();
    }
  });
});
