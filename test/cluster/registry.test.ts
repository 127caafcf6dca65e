/**
 * `drainkit cluster --database-url` and `example-server --workers n --database-url` against a
 * fresh Postgres database and an embedded PGlite: the primary is the host:port instance, every
 * worker is a `ClusterWorker` row with its status, phase and in-flight count, reloads (good and
 * aborted) are events with the old and new pids, a remote drain request stops the whole cluster
 * (exit 0), and SIGTERM leaves the instance and every worker stopped. Real processes, real
 * signals, a paced load through the cluster port during the reloads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { instanceHost, listClusterWorkers, listEvents, listInstances, prune, reap, requestDrain, type ClusterWorkerRow, type DrainEventRow, type Instance } from '../../src/registry/index.js';
import { DATABASE_KINDS, createDatabase, postgresSkip, type TestDatabase } from '../registry/databases.js';
import { withDeadline } from '../helpers/deadline.js';
import { killTracked } from '../helpers/processes.js';
import { spawnCluster, startPacedLoad, waitGone } from './harness.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'drainkit-cluster-registry-'));
const HOST = instanceHost(undefined);
let files = 0;

function modeFile(initial: 'ok' | 'hang'): { file: string; set(mode: 'ok' | 'hang'): void } {
  const file = path.join(dir, `mode-${(files += 1)}`);
  writeFileSync(file, initial);
  return { file, set: (mode) => writeFileSync(file, mode) };
}

/** Polls the registry until `read` returns something, at most `ms`; fails naming what it waited for and what it last saw. */
async function until<T>(what: string, read: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}; last read: ${last instanceof Error ? last.message : 'nothing matched'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function instanceOn(db: TestDatabase, port: number): Promise<Instance | undefined> {
  return (await listInstances(db.store, { host: HOST })).find((i) => i.port === port);
}

function live(workers: readonly ClusterWorkerRow[]): ClusterWorkerRow[] {
  return workers.filter((w) => w.status !== 'exited');
}

/** A request that takes `ms` on a worker; resolves with its status once answered. */
function slowGet(origin: string, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}/work?ms=${ms}`, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
  });
}

/**
 * `drainkit registry instances …` through an asynchronous spawn (the PGlite suite's database
 * lives in this process and must keep answering); resolves with its stdout, failing on a
 * non-zero exit; 60 s hang guard.
 */
function registryCli(db: TestDatabase, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'registry', 'instances', '--database-url', db.url, ...args], { timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`registry instances ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The table's row of the instance on `port`, and the header line. */
function rowOf(table: string, port: number): { header: string; row: string | undefined } {
  const lines = table.split('\n');
  return { header: lines[0]!, row: lines.find((l) => new RegExp(`:${port}\\s`).test(l)) };
}

function eventsOf(events: readonly DrainEventRow[], type: string): Record<string, unknown>[] {
  return events.filter((e) => e.eventType === type).map((e) => e.details as Record<string, unknown>);
}

for (const kind of DATABASE_KINDS) {
  describe(`cluster in the registry (${kind})`, { timeout: 180_000 }, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let db: TestDatabase;
    before(async () => {
      if (skip === false) db = await createDatabase(kind);
    });
    after(async () => {
      await killTracked();
      await db?.close();
    });

    it('shows the workers with in-flight counts; a good and an aborted reload are events with the pids; a drain request stops the whole cluster (exit 0)', { skip, timeout: 120_000 }, async () => {
      const mode = modeFile('ok');
      const c = await spawnCluster([CLI, 'cluster', '--workers', '2', '--ready-timeout-ms', '10000', '--database-url', db.url, '--heartbeat-ms', '100', '--label', 'role=web', '--log-level', 'warn', APP, mode.file], 60_000);
      const origin = `http://127.0.0.1:${c.port}`;

      // The primary is the instance; its workers are listed with it.
      const inst = await until('the cluster instance, active, with its primary pid', async () => {
        const i = await instanceOn(db, c.port);
        return i?.status === 'active' && i.pid === c.pid ? i : undefined;
      });
      assert.deepEqual(inst.labels, { role: 'web' });
      await until('both workers ready in ClusterWorker', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
        const ready = ws.filter((w) => w.status === 'ready').map((w) => w.pid).sort();
        return JSON.stringify(ready) === JSON.stringify([...c.workers].sort()) ? ws : undefined;
      });
      assert.equal((await listInstances(db.store)).length, 1, 'one instance row for the whole cluster');

      // In-flight: a slow request shows on its worker's row and in the instance's sum.
      const slow = slowGet(origin, 2_500);
      const busy = await until('one worker with one request in flight', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
        const i = await instanceOn(db, c.port);
        const w = ws.find((x) => x.inflight === 1);
        return w && i?.inflightCount === 1 ? w : undefined;
      });
      assert.ok(c.workers.includes(busy.pid));
      assert.equal(await slow, 200);
      await until('the in-flight count back to 0', async () => ((await instanceOn(db, c.port))?.inflightCount === 0 ? true : undefined));

      // A good reload under load: zero failed requests, the events carry the old and new pids.
      // The CLI shows the cluster's workers: a WORKERS summary in its row, the workers' table with
      // --workers, and the rows in --json.
      const idle = await registryCli(db, ['--host', HOST]);
      assert.match(rowOf(idle, c.port).header, /^ID\s+ADDRESS\s+STATUS\s+PHASE\s+INFLIGHT\s+PERSISTENT\s+PID\s+WORKERS\s+VERSION\s+LABELS\s+HEARTBEAT$/);
      assert.match(rowOf(idle, c.port).row ?? '', new RegExp(`\\s${c.pid}\\s+2 ready\\s`), idle);
      const listed = (JSON.parse(await registryCli(db, ['--json'])) as (Instance & { workers: ClusterWorkerRow[] })[]).find((i) => i.id === inst.id);
      assert.deepEqual(live(listed?.workers ?? []).map((w) => w.pid).sort(), [...c.workers].sort(), JSON.stringify(listed));

      const load = startPacedLoad({ origin, rate: 60, postShare: 0.3, postPath: '/', slowEvery: 5, slowPath: '/work?ms=200', maxRequests: 5_000, maxDurationMs: 60_000 });
      // A request held 7 s by an old worker keeps that worker draining for a while during the
      // reload (the fixture's drain timeout is 10 s: it completes, not forced).
      const held = slowGet(origin, 7_000);
      await until('the held request in flight', async () => ((await instanceOn(db, c.port))?.inflightCount ?? 0) >= 1 ? true : undefined);
      c.child.kill('SIGHUP');
      const draining = await until('an old worker\'s row draining, with its drain phase', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
        return ws.find((w) => w.status === 'draining' && c.workers.includes(w.pid) && w.phase !== null);
      }, 20_000);
      assert.equal(draining.mode, 'drainkit');
      // The same seen through the CLI: the summary counts it, the workers' table gives its phase.
      const seen = await until('registry instances --workers showing a draining worker', async () => {
        const text = await registryCli(db, ['--host', HOST, '--workers']);
        return /\b1 draining\b/.test(rowOf(text, c.port).row ?? '') && /\sdraining\s+drainkit\s+(deregistering|closing|persistent|waiting|forcing|cleanup)\s/.test(text) ? text : undefined;
      }, 20_000);
      assert.match(seen, new RegExp(`workers of instance ${inst.id} \\(.*:${c.port}, primary pid ${c.pid}\\):\\nWORKER\\s+PID\\s+STATUS\\s+MODE\\s+PHASE`), seen);
      const good = await c.waitFor('reload_complete', 0, 60_000);
      assert.equal(await held, 200, 'the held request completed during its worker\'s drain');
      assert.equal(good.ok, true, JSON.stringify(good));
      const replaced = good.replaced as { oldPid: number; newPid: number }[];
      const newPids = replaced.map((r) => r.newPid).sort();

      // An aborted reload: the replacement never listens; the reason is recorded.
      mode.set('hang');
      c.child.kill('SIGHUP');
      const aborted = await c.waitFor('reload_complete', 1, 30_000);
      assert.equal(aborted.ok, false);
      mode.set('ok');
      const stats = await load.stop();
      assert.equal(stats.failed, 0, `failed requests during the reloads: ${JSON.stringify(stats.failures)} ${stats.samples.join(' | ')}`);
      assert.ok(stats.ok > 20, `the load ran (${stats.ok} ok)`);

      const events = await until('reload_start ×2 and reload_complete ×2 events', async () => {
        const ev = await listEvents(db.store, { instanceId: inst.id });
        return eventsOf(ev, 'reload_complete').length === 2 ? ev : undefined;
      });
      assert.equal(eventsOf(events, 'reload_start').length, 2);
      assert.deepEqual(eventsOf(events, 'reload_start')[0]!.workers, c.workers);
      const [okEvent, abortedEvent] = eventsOf(events, 'reload_complete');
      assert.equal(okEvent!.ok, true);
      const recorded = okEvent!.replaced as { oldPid: number; newPid: number; drain: { success: boolean; pid: number } }[];
      assert.deepEqual(recorded.map((r) => [r.oldPid, r.newPid]), replaced.map((r) => [r.oldPid, r.newPid]));
      assert.ok(recorded.every((r) => r.drain.success && r.drain.pid === r.oldPid), JSON.stringify(recorded));
      assert.equal(abortedEvent!.ok, false);
      assert.equal(abortedEvent!.reason, aborted.reason);
      assert.match(String(abortedEvent!.reason), /was not ready within 10000 ms/);
      assert.deepEqual(abortedEvent!.failedPids, aborted.failedPids);

      // The rows: the replacements ready, the old workers and the failed replacement exited.
      await until('the new workers ready, every other worker exited', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
        const ready = live(ws).map((w) => w.pid).sort();
        const exited = ws.filter((w) => w.status === 'exited').map((w) => w.pid).sort();
        const expectedExited = [...c.workers, ...(aborted.failedPids as number[])].sort();
        return JSON.stringify(ready) === JSON.stringify(newPids) && JSON.stringify(exited) === JSON.stringify(expectedExited) ? true : undefined;
      });

      // A drain request for the cluster's host:port stops the whole cluster, as SIGTERM would.
      await requestDrain(db.store, { host: HOST, port: c.port }, { requestedBy: 'test', reason: 'maintenance' });
      const status = await withDeadline(c.closed, 30_000, 'the cluster to stop on the registry\'s drain request');
      assert.deepEqual(status, { code: 0, signal: null }, c.stderr.slice(-20).join('\n'));
      await waitGone(newPids, 10_000);
      const done = await instanceOn(db, c.port);
      assert.equal(done?.status, 'stopped');
      assert.equal(done?.inflightCount, 0);
      const final = await listClusterWorkers(db.store, { instanceId: inst.id });
      assert.deepEqual(live(final), [], `every worker exited: ${JSON.stringify(final)}`);
      const finalEvents = await listEvents(db.store, { instanceId: inst.id });
      assert.equal(eventsOf(finalEvents, 'drain_requested').length, 1);
      const complete = eventsOf(finalEvents, 'drain_complete');
      assert.equal(complete.length, 1);
      assert.equal(complete[0]!.reason, 'remote: maintenance');
      assert.equal(complete[0]!.success, true);
      assert.deepEqual((complete[0]!.workers as { pid: number }[]).map((w) => w.pid).sort(), newPids);
      const types = finalEvents.map((e) => e.eventType);
      assert.ok(types.indexOf('drain_start') < types.indexOf('drain_complete'), types.join(','));

      // Retention: a pruned cluster takes its worker rows with it (in prune's one statement).
      const pruned = await prune(db.store, { olderThanMs: 0 });
      assert.ok(pruned.instances >= 1, JSON.stringify(pruned));
      assert.deepEqual(await listClusterWorkers(db.store, { instanceId: inst.id }), []);
      assert.deepEqual((await db.store.query('SELECT worker_id FROM ClusterWorker WHERE instance_id = $1', [inst.id])), []);
    });

    it('a primary killed outright (SIGKILL) is reaped like any instance; its workers leave on their own and their rows read as not current', { skip, timeout: 60_000 }, async () => {
      const mode = modeFile('ok');
      const c = await spawnCluster([CLI, 'cluster', '--workers', '2', '--database-url', db.url, '--heartbeat-ms', '100', '--liveness-write-ms', '200', '--log-level', 'warn', APP, mode.file], 60_000);
      const inst = await until('the cluster instance with both workers ready', async () => {
        const i = await instanceOn(db, c.port);
        if (i?.status !== 'active' || i.pid !== c.pid) return undefined;
        const ws = await listClusterWorkers(db.store, { instanceId: i.id });
        return ws.filter((w) => w.status === 'ready').length === 2 ? i : undefined;
      });
      c.child.kill('SIGKILL');
      await withDeadline(c.closed, 10_000, 'the primary to die of SIGKILL');
      await waitGone(c.workers, 15_000);
      const lost = await until('the reaper to take the cluster (ttl 1 s)', async () => {
        const taken = await reap(db.store, { ttlMs: 1_000, reapedBy: 'test' });
        return taken.find((l) => l.id === inst.id);
      });
      assert.equal(lost.port, c.port);
      const after = await instanceOn(db, c.port);
      assert.equal(after?.status, 'stopped');
      const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
      assert.equal(ws.length, 2);
      assert.ok(ws.every((w) => w.instanceStatus === 'stopped'), 'each worker row says its instance is stopped');
      assert.equal(eventsOf(await listEvents(db.store, { instanceId: inst.id }), 'lost').length, 1);
    });

    it('example-server --workers 2 --database-url: one instance (the primary), its workers listed, SIGTERM leaves everything stopped', { skip, timeout: 90_000 }, async () => {
      const c = await spawnCluster([CLI, 'example-server', '--workers', '2', '--port', '0', '--database-url', db.url, '--heartbeat-ms', '100', '--log-level', 'warn'], 60_000);
      const inst = await until('the example cluster instance', async () => {
        const i = await instanceOn(db, c.port);
        return i?.status === 'active' && i.pid === c.pid ? i : undefined;
      });
      await until('both example workers ready', async () => {
        const ws = await listClusterWorkers(db.store, { instanceId: inst.id });
        return ws.filter((w) => w.status === 'ready' && w.mode === 'drainkit').length === 2 ? ws : undefined;
      });
      // The workers got no registry flags: no row of their own took the host:port.
      const rows = (await listInstances(db.store)).filter((i) => i.port === c.port);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.pid, c.pid);
      assert.equal(rows[0]!.generation, inst.generation, 'no worker registered over the primary');

      const slow = slowGet(`http://127.0.0.1:${c.port}`, 1_500);
      await until('the request in flight', async () => ((await instanceOn(db, c.port))?.inflightCount === 1 ? true : undefined));
      c.child.kill('SIGTERM');
      assert.equal(await withDeadline(slow, 20_000, 'the in-flight request'), 200, 'the in-flight request completed during the drain');
      assert.deepEqual(await withDeadline(c.closed, 30_000, 'the cluster to exit after SIGTERM'), { code: 0, signal: null }, c.stderr.slice(-20).join('\n'));
      const done = await instanceOn(db, c.port);
      assert.equal(done?.status, 'stopped');
      const workers = await listClusterWorkers(db.store, { instanceId: inst.id });
      assert.equal(workers.length, 2);
      assert.ok(workers.every((w) => w.status === 'exited' && w.exitCode === 0 && w.exitedAt !== null), JSON.stringify(workers));
      const events = await listEvents(db.store, { instanceId: inst.id });
      const start = eventsOf(events, 'drain_start');
      assert.equal(start.length, 1);
      assert.equal(start[0]!.reason, 'SIGTERM');
      assert.equal(start[0]!.inflight, 1);
      const complete = eventsOf(events, 'drain_complete');
      assert.equal(complete.length, 1);
      assert.equal(complete[0]!.success, true);
      assert.equal(complete[0]!.requestsAtStart, 1);
      assert.equal(complete[0]!.requestsCompleted, 1);
    });
  });
}

after(() => rmSync(dir, { recursive: true, force: true }));
