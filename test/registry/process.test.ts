/**
 * The example server as a real child process with `--database-url`, against real Postgres and a
 * PGlite served over pglite-socket: registration, heartbeats, SIGTERM, a database that goes away
 * in the middle of a drain, SIGKILL and the reaper, remote drains. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { listEvents, listInstances, reap, requestDrain, type Instance } from '../../src/registry/index.js';
import { killAll, signalAndWait, spawnServer, type ExitStatus, type ServerProcess } from '../helpers/processes.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';
import { TcpProxy } from './proxy.js';

const MAIN = 'dist/cli/main.js';

/** The child's exit status, or 'hang' after `timeoutMs` (a hang guard, not a timing assertion). */
function exited(child: ServerProcess, timeoutMs: number): Promise<ExitStatus | 'hang'> {
  return Promise.race([child.closed, new Promise<'hang'>((r) => setTimeout(() => r('hang'), timeoutMs).unref())]);
}

const DRAIN_EVENTS = ['drain_start', 'window_end', 'listener_closed', 'persistent_notified', 'waiting', 'cleanup', 'drain_complete'];

for (const kind of DATABASE_KINDS) {
  describe(`example server with --database-url on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 180_000 }, () => {
    let db: TestDatabase;
    const children: ServerProcess[] = [];
    const proxies: TcpProxy[] = [];
    const held: Promise<unknown>[] = [];
    const aborts = new AbortController();

    before(async () => {
      assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
      db = await createDatabase(kind);
    });
    after(async () => {
      await killAll(children);
      aborts.abort();
      await Promise.all(held);
      await Promise.all(proxies.map((p) => p.cut()));
      await db?.close();
    });

    async function spawn(url: string, extra: readonly string[] = []): Promise<ServerProcess> {
      const child = await spawnServer({
        // The identity rule's override: these tests find their servers as 127.0.0.1:<port>.
        env: { ...process.env, DRAINKIT_INSTANCE_HOST: '127.0.0.1' },
        args: [MAIN, 'example-server', '--port', '0', '--database-url', url, '--deregister-mode', 'fixed', '--deregister-delay-ms', '200', '--drain-timeout-ms', '10000', '--linger-ms', '0', '--log-level', 'warn', ...extra],
      });
      children.push(child);
      return child;
    }

    function registered(port: number): Promise<Instance> {
      return eventually(`instance on port ${port}`, async () => (await listInstances(db.store, { host: '127.0.0.1' })).find((i) => i.port === port && i.status === 'active'));
    }

    function hold(port: number, ms: number): Promise<number> {
      const p = fetch(`http://127.0.0.1:${port}/work?ms=${ms}`, { signal: aborts.signal }).then(async (r) => {
        await r.text();
        return r.status;
      });
      held.push(p.catch(() => undefined));
      return p;
    }

    async function eventsOf(id: number): Promise<string[]> {
      return (await listEvents(db.store, { instanceId: id })).map((e) => e.eventType);
    }

    it('registers, heartbeats in-flight requests, drains on SIGTERM; rows and events exactly as expected', async () => {
      const child = await spawn(db.url, ['--heartbeat-ms', '200', '--label', 'zone=a', '--label', 'role=web']);
      const inst = await registered(child.port);
      assert.equal(inst.pid, child.pid);
      assert.deepEqual(inst.labels, { zone: 'a', role: 'web' });
      const requests = [hold(child.port, 2_000), hold(child.port, 2_000)];
      await eventually('inflight_count 2', async () => ((await listInstances(db.store)).find((i) => i.id === inst.id)?.inflightCount === 2 ? true : undefined));

      const exit = await signalAndWait(child, 'SIGTERM', 30_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.deepEqual(await Promise.all(requests), [200, 200]);

      assert.deepEqual(await eventsOf(inst.id), ['registered', ...DRAIN_EVENTS]);
      const events = await listEvents(db.store, { instanceId: inst.id });
      // budgetMs: the fixed 200 ms window plus the 10 s drain timeout the server was started with.
      assert.deepEqual(events[1]?.details, { reason: 'SIGTERM', inflight: 2, persistent: 0, pid: child.pid, budgetMs: 10_200 });
      const complete = events.at(-1)?.details ?? {};
      assert.equal(complete.success, true);
      assert.equal(complete.requestsAtStart, 2);
      assert.equal(complete.requestsRemaining, 0);
      assert.equal(complete.connectionsForced, 0);
      const row = (await listInstances(db.store)).find((i) => i.id === inst.id);
      assert.equal(row?.status, 'stopped');
      assert.equal(row?.inflightCount, 0);
      assert.ok(row?.drainStartedAt instanceof Date && row.drainedAt instanceof Date && row.drainedAt >= row.drainStartedAt);
    });

    /**
     * An example server reporting through a TCP proxy, with a request of `holdMs` in flight that
     * the registry has seen; then the proxy cuts the database away.
     */
    async function cutMidRequest(holdMs: number) {
      const proxy = await TcpProxy.start(Number(new URL(db.url).port || 5432));
      proxies.push(proxy);
      const child = await spawn(proxy.wrap(db.url), ['--heartbeat-ms', '200']);
      const inst = await registered(child.port);
      const request = hold(child.port, holdMs);
      await eventually('inflight_count 1', async () => ((await listInstances(db.store)).find((i) => i.id === inst.id)?.inflightCount === 1 ? true : undefined));
      await proxy.cut();
      return { proxy, child, inst, request };
    }

    it('database unreachable mid-drain and back within the budget: exits 0, and the final events land', async () => {
      const { proxy, child, inst, request } = await cutMidRequest(1_500);
      child.child.kill('SIGTERM');
      setTimeout(() => void proxy.restore(), 1_000).unref();
      // One signal only: a second would force the drain.
      const exit = await exited(child, 30_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(await request, 200);
      assert.deepEqual(await eventsOf(inst.id), ['registered', ...DRAIN_EVENTS]);
      assert.equal((await listInstances(db.store)).find((i) => i.id === inst.id)?.status, 'stopped');
    });

    it('database gone for good mid-drain: still exits 0 on time', async () => {
      const { child, inst, request } = await cutMidRequest(500);
      // Hang guard only: window 200 ms + the request + the registry's 3 s flush + the exit grace.
      const exit = await signalAndWait(child, 'SIGTERM', 20_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(await request, 200);
      const drainComplete = child.events.find((e) => e.event === 'drain_complete');
      assert.equal(drainComplete?.success, true);
      // Nothing after registration could land.
      assert.deepEqual(await eventsOf(inst.id), ['registered']);
      // The loss is named before the exit, the final write included: the process must not end
      // while the queue sleeps between retries with nothing else holding it.
      const dropped = child.stderr.map((l) => { try { return JSON.parse(l.text) as { event?: string; writes?: string[] }; } catch { return undefined; } }).find((l) => l?.event === 'registry_writes_dropped');
      assert.ok(dropped, `registry_writes_dropped is logged; stderr tail:\n${child.stderr.slice(-8).map((l) => l.text).join('\n')}`);
      assert.ok(dropped.writes?.includes('drain_complete'), `the final write is among those named: ${JSON.stringify(dropped.writes)}`);
    });

    it('an instance killed by SIGKILL is marked stopped by the reaper with an event "lost"', async () => {
      // It records its 200 ms liveness write interval, so a 1 s TTL is its bound (a row is lost
      // only past max(TTL, 2 × its interval)).
      const child = await spawn(db.url, ['--heartbeat-ms', '200', '--liveness-write-ms', '200']);
      const inst = await registered(child.port);
      child.child.kill('SIGKILL');
      assert.equal((await child.closed).signal, 'SIGKILL');
      const lost = await eventually('reaped', async () => {
        // Several reapers at once, as when every instance runs one: exactly one takes the row.
        const runs = await Promise.all([1, 2, 3].map((n) => reap(db.store, { ttlMs: 1_000, reapedBy: `test ${n}` })));
        const mine = runs.flat().filter((l) => l.id === inst.id);
        return mine.length > 0 ? mine : undefined;
      });
      assert.equal(lost.length, 1);
      assert.equal(lost[0]?.previousStatus, 'active');
      const row = (await listInstances(db.store)).find((i) => i.id === inst.id);
      assert.equal(row?.status, 'stopped');
      const events = await listEvents(db.store, { instanceId: inst.id });
      assert.deepEqual(events.map((e) => e.eventType), ['registered', 'lost']);
      assert.equal(events[1]?.details?.pid, child.pid);
      assert.equal(events[1]?.details?.previousStatus, 'active');
      assert.deepEqual(await reap(db.store, { ttlMs: 1_000 }), []);
    });

    it(`drains on a remote request (${kind === 'postgres' ? 'NOTIFY, with a one-minute heartbeat' : 'heartbeat'}) and exits 0`, async () => {
      const child = await spawn(db.url, ['--heartbeat-ms', kind === 'postgres' ? '60000' : '200']);
      const inst = await registered(child.port);
      if (kind === 'postgres') {
        await eventually('LISTEN', async () => {
          const rows = await db.store.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
          return (rows[0]?.n ?? 0) > 0 ? true : undefined;
        });
      }
      await requestDrain(db.store, { instanceId: inst.id }, { requestedBy: 'test', reason: 'rebalance' });
      // No signal: the drain request alone must end the process.
      const exit = await exited(child, 30_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(child.events.find((e) => e.event === 'drain_complete')?.reason, 'remote: rebalance');
      assert.deepEqual(await eventsOf(inst.id), ['registered', 'drain_requested', ...DRAIN_EVENTS]);
    });
  });
}
