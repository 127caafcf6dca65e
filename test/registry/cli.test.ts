/**
 * `drainkit registry …` as an operator runs it: the built CLI as a child process against real
 * Postgres and a PGlite served over pglite-socket, with a real example server reporting to it.
 * Needs `npm run build`.
 *
 * The CLI runs through an asynchronous spawn: the PGlite of the `pglite` suite lives in this
 * process, and a synchronous spawn would block the very event loop that has to answer the CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { listEvents, listInstances, type DrainEventRow, type Instance } from '../../src/registry/index.js';
import { killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { ADMIN_URL, DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

const MAIN = 'dist/cli/main.js';

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with its own environment (no DATABASE_URL unless given); 60 s hang guard. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function parsed<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const noPostgres = await postgresSkip();

describe('drainkit registry: usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['no database', ['registry', 'summary'], /--database-url .*DATABASE_URL/],
    ['a URL that is not postgres://', ['registry', 'summary', '--database-url', 'mysql://db/x'], /--database-url got "mysql:\/\/db\/x" \(a mysql:\/\/ URL\); accepted: a postgres:\/\/ or postgresql:\/\//],
    ['a bad drain target', ['registry', 'drain', 'web-1', '--reason', 'x', '--database-url', 'postgres://h/db'], /instance id .* or host:port/],
    ['a port out of range', ['registry', 'drain', '10.0.0.1:70000', '--reason', 'x', '--database-url', 'postgres://h/db'], /port 1 to 65535/],
    ['no reason', ['registry', 'drain', '3', '--database-url', 'postgres://h/db'], /--reason/],
    ['an empty reason', ['registry', 'drain', '3', '--reason', ' ', '--database-url', 'postgres://h/db'], /--reason must not be empty/],
    ['a bad duration', ['registry', 'reap', '--ttl', 'soon', '--database-url', 'postgres://h/db'], /duration .* 30s/],
    ['a TTL below a second', ['registry', 'reap', '--ttl', '500ms', '--database-url', 'postgres://h/db'], /--ttl <duration>' argument '500ms' is invalid\. expected a duration from 1s to 1d/],
    ['a TTL below twice the default liveness write interval', ['registry', 'reap', '--ttl', '1s', '--database-url', 'postgres://h/db'], /--ttl 1s is below the minimum 20s: twice the instances' liveness write interval \(10s, the reporters' default; if they write more often, say so with --liveness-write\)/],
    ['a TTL below twice the given liveness write interval', ['registry', 'reap', '--ttl', '5s', '--liveness-write', '3s', '--database-url', 'postgres://h/db'], /--ttl 5s is below the minimum 6s: .*\(3s, from --liveness-write\)/],
    ['an unknown event type', ['registry', 'events', '--type', 'drain_start,drain_done', '--database-url', 'postgres://h/db'], /unknown event type "drain_done"; expected one or more of registered, drain_requested, drain_start, .*drain_complete, lost/],
    ['an unknown option next to a missing required one', ['registry', 'prune', '--older', '7d', '--database-url', 'postgres://h/db'], /unknown option '--older'/],
    ['a bad time', ['registry', 'events', '--since', 'yesterday', '--database-url', 'postgres://h/db'], /ISO 8601/],
    ['an unknown status', ['registry', 'instances', '--status', 'running', '--database-url', 'postgres://h/db'], /unknown status "running"; expected one or more of active, draining, stopped/],
    ['an unknown command', ['registry', 'list'], /unknown command/],
    ['--workers with --watch', ['registry', 'instances', '--workers', '--watch', '--database-url', 'postgres://h/db'], /--workers cannot be combined with --watch/],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 2 and says what is accepted: ${what}`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }

  it('exits 3 and names the registry, without its password, when the database cannot be reached', async () => {
    const r = await cli(['registry', 'summary', '--database-url', 'postgres://postgres:hunter2@127.0.0.1:1/none']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /registry at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none: .*ECONNREFUSED/);
    assert.doesNotMatch(r.stderr, /hunter2/);
  });

  it('exits 3 when the server answers but the database does not exist', { skip: noPostgres }, async () => {
    const url = new URL(ADMIN_URL);
    url.pathname = '/drainkit_no_such_database';
    const r = await cli(['registry', 'summary', '--database-url', url.href]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /drainkit_no_such_database/);
  });
});

for (const kind of DATABASE_KINDS) {
  describe(`drainkit registry on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 180_000 }, () => {
    let db: TestDatabase;
    const children: ServerProcess[] = [];

    before(async () => {
      assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
      db = await createDatabase(kind);
    });
    after(async () => {
      await killAll(children);
      await db?.close();
    });

    async function server(labels: string[]): Promise<ServerProcess> {
      const s = await spawnServer({
        // The identity rule's override: the drain below names the server as 127.0.0.1:<port>.
        env: { ...process.env, DRAINKIT_INSTANCE_HOST: '127.0.0.1' },
        args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--deregister-mode', 'fixed', '--deregister-delay-ms', '200',
          '--database-url', db.url, '--heartbeat-ms', '100', '--liveness-write-ms', '200', ...labels.flatMap((l) => ['--label', l])],
      });
      children.push(s);
      await eventually('the server to register', async () => (await listInstances(db.store)).find((i) => i.port === s.port && i.status === 'active'));
      return s;
    }

    it('says how to set up a database that holds no registry, then migrates it', async () => {
      // The embedded host migrates as it opens; only a fresh Postgres database is empty.
      if (kind === 'postgres') {
        const empty = await cli(['registry', 'instances', '--database-url', db.url]);
        assert.equal(empty.code, 1);
        assert.match(empty.stderr, /holds no drainkit registry yet: run `drainkit registry migrate`/);
      }
      const m = await cli(['registry', 'migrate'], { DATABASE_URL: db.url });
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, /registry schema at version \d+/);
      // Twice is harmless.
      assert.equal((await cli(['registry', 'migrate', '--database-url', db.url])).code, 0);
      assert.deepEqual(parsed<unknown[]>(await cli(['registry', 'instances', '--json', '--database-url', db.url])), []);
      // Empty, not filtered out: said so, with or without filters.
      for (const args of [['registry', 'instances'], ['registry', 'instances', '--status', 'stopped']]) {
        const empty = await cli([...args, '--database-url', db.url]);
        assert.equal(empty.code, 0, empty.stderr);
        assert.match(empty.stdout, /^the registry has no instances yet: /);
      }
      for (const args of [['registry', 'events'], ['registry', 'events', '--type', 'lost']]) {
        const empty = await cli([...args, '--database-url', db.url]);
        assert.equal(empty.code, 0, empty.stderr);
        assert.match(empty.stdout, /^the registry has no events yet: /);
        assert.equal(empty.stderr, '');
      }
    });

    it('lists instances with filters, and sums up the fleet', async () => {
      const a = await server(['zone=a', 'app=web']);
      const b = await server(['zone=b', 'app=web']);
      const all = parsed<Instance[]>(await cli(['registry', 'instances', '--json', '--label', 'app=web', '--database-url', db.url]));
      assert.deepEqual(all.map((i) => i.port).sort(), [a.port, b.port].sort());
      const zoneB = parsed<Instance[]>(await cli(['registry', 'instances', '--json', '--label', 'zone=b', '--status', 'active,draining'], { DATABASE_URL: db.url }));
      assert.deepEqual(zoneB.map((i) => [i.port, i.status, i.pid]), [[b.port, 'active', b.pid]]);
      assert.deepEqual(parsed<Instance[]>(await cli(['registry', 'instances', '--json', '--status', 'stopped', '--database-url', db.url])), []);

      const table = await cli(['registry', 'instances', '--label', 'zone=a', '--database-url', db.url]);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trim().split('\n');
      assert.match(lines[0]!, /^ID\s+ADDRESS\s+STATUS\s+PHASE\s+INFLIGHT\s+PERSISTENT\s+PID\s+VERSION\s+LABELS\s+HEARTBEAT$/);
      assert.equal(lines.length, 2);
      assert.match(lines[1]!, new RegExp(`127\\.0\\.0\\.1:${a.port}\\s+active\\s+-\\s+0\\s+0\\s+${a.pid}\\s+.*zone=a`));

      // Filtered out, not empty: the count says there is something to see.
      const none = await cli(['registry', 'instances', '--label', 'zone=nowhere', '--database-url', db.url]);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout, 'no instances match these filters (the registry has 2)\n');

      const summary = parsed<Record<string, number>>(await cli(['registry', 'summary', '--json', '--database-url', db.url]));
      assert.equal(summary.active, 2);
      assert.equal(summary.draining, 0);
      assert.equal(summary.pendingDrainRequests, 0);
      const text = await cli(['registry', 'summary', '--database-url', db.url]);
      assert.equal(text.code, 0, text.stderr);
      const rows = text.stdout.trimEnd().split('\n');
      assert.match(rows[0]!, /^Fleet registry at postgres(ql)?:\/\//);
      assert.deepEqual(rows.slice(1).map((r) => r.replace(/\s{2,}(\d+)$/, ' = $1').trimEnd()), [
        'Instances = 2',
        '  active = 2',
        '  draining = 0',
        '  stopped = 0',
        'In-flight requests (live instances) = 0',
        'Persistent connections (live instances) = 0',
        'Drain requests not yet acknowledged = 0',
      ]);
    });

    it('instances that are no cluster: no WORKERS column, "workers": [] in --json, and --workers says there are none', async () => {
      const s = await server(['zone=w']);
      const one = parsed<(Instance & { workers: unknown[] })[]>(await cli(['registry', 'instances', '--json', '--label', 'zone=w', '--database-url', db.url]));
      assert.deepEqual(one.map((i) => [i.port, i.workers]), [[s.port, []]]);
      const table = await cli(['registry', 'instances', '--label', 'zone=w', '--workers', '--database-url', db.url]);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^ID\s+ADDRESS\s+STATUS\s+PHASE\s+INFLIGHT\s+PERSISTENT\s+PID\s+VERSION\s+LABELS\s+HEARTBEAT$/);
      assert.deepEqual(lines.slice(2), ['', 'no instance listed is a cluster (drainkit cluster --database-url): no workers to show']);
    });

    it('drains an instance by host:port, waits until it stopped, and the events tell the story', async () => {
      const s = await server(['zone=c']);
      const r = await cli(['registry', 'drain', `127.0.0.1:${s.port}`, '--reason', 'kernel upgrade', '--by', 'ops@example', '--wait', '--wait-timeout', '60s', '--json', '--database-url', db.url]);
      const out = parsed<{ requestId: number; instanceId: number; final: Instance & { outcome: DrainEventRow } }>(r);
      assert.equal(out.final.status, 'stopped');
      assert.equal(out.final.outcome.eventType, 'drain_complete');
      assert.equal(out.final.outcome.details?.success, true);
      // "stopped" is written after the shutdown hooks: the final report carries their outcome.
      assert.deepEqual((out.final.outcome.details?.hooks as { name: string; outcome: string }[]).map((h) => [h.name, h.outcome]).filter(([n]) => n === 'drainkit-registry'), [['drainkit-registry', 'ok']]);
      // Progress went to stderr, ending with the stop.
      assert.match(r.stderr.trim().split('\n').at(-1)!, new RegExp(`instance ${out.instanceId} stopped`));
      // The process itself drained as on SIGTERM and exited 0.
      assert.deepEqual(await s.closed, { code: 0, signal: null });

      // Newest first, every one shown: nothing said on stderr.
      const all = await cli(['registry', 'events', '--instance', String(out.instanceId), '--json', '--database-url', db.url]);
      const events = parsed<DrainEventRow[]>(all);
      assert.equal(all.stderr, '');
      const types = events.map((e) => e.eventType);
      assert.equal(types[0], 'drain_complete');
      assert.deepEqual(types.slice(-3), ['drain_start', 'drain_requested', 'registered']);
      assert.equal(events.at(-2)?.details?.requestedBy, 'ops@example');
      const filtered = parsed<DrainEventRow[]>(await cli(['registry', 'events', '--instance', String(out.instanceId), '--type', 'drain_start,drain_complete', '--since', '10m', '--json', '--database-url', db.url]));
      assert.deepEqual(filtered.map((e) => e.eventType), ['drain_complete', 'drain_start']);
      const oldest = parsed<DrainEventRow[]>(await cli(['registry', 'events', '--instance', String(out.instanceId), '--type', 'drain_start,drain_complete', '--oldest-first', '--json', '--database-url', db.url]));
      assert.deepEqual(oldest.map((e) => e.eventType), ['drain_start', 'drain_complete']);

      // Cut by --limit: the newest ones, and stderr says how many of how many and how to see more.
      const cut = await cli(['registry', 'events', '--instance', String(out.instanceId), '--limit', '2', '--database-url', db.url]);
      assert.equal(cut.code, 0, cut.stderr);
      const lines = cut.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^TIME\s+INSTANCE\s+EVENT\s+DETAILS$/);
      assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[2]), types.slice(0, 2));
      assert.equal(cut.stderr, `showing the newest 2 of ${types.length} matching events; see more with --limit <n> (up to 100000), or narrow with --since, --until, --instance or --type\n`);
      const cutOldest = await cli(['registry', 'events', '--instance', String(out.instanceId), '--limit', '1', '--oldest-first', '--json', '--database-url', db.url]);
      assert.deepEqual(parsed<DrainEventRow[]>(cutOldest).map((e) => e.eventType), ['registered']);
      assert.match(cutOldest.stderr, new RegExp(`^showing the oldest 1 of ${types.length} matching events`));
      // Filtered out, not empty.
      const none = await cli(['registry', 'events', '--instance', String(out.instanceId), '--type', 'lost', '--database-url', db.url]);
      assert.match(none.stdout, /^no events match these filters \(the registry has \d+\)\n$/);

      // A stopped instance takes no more requests: exit 1 with the registry's reason.
      const again = await cli(['registry', 'drain', String(out.instanceId), '--reason', 'again', '--database-url', db.url]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`instance ${out.instanceId} \\(127\\.0\\.0\\.1:${s.port}\\) is already stopped; only an active instance takes a drain request, so none was recorded`));
      const pending = parsed<Record<string, number>>(await cli(['registry', 'summary', '--json', '--database-url', db.url]));
      assert.equal(pending.pendingDrainRequests, 0, 'the refused request is not counted as pending');
    });

    it('a plain reap (30 s TTL) keeps a live instance that writes its liveness every 60 s, and takes it once silent past 2 × 60 s', async () => {
      const s = await spawnServer({
        env: { ...process.env, DRAINKIT_INSTANCE_HOST: '127.0.0.1' },
        args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--database-url', db.url, '--heartbeat-ms', '100', '--liveness-write-ms', '60000', '--label', 'zone=slow'],
      });
      children.push(s);
      const id = (await eventually('the server to register', async () => (await listInstances(db.store, { labels: { zone: 'slow' } })).find((i) => i.status === 'active'))).id;
      // 45 s since its last write, as an idle instance writing every 60 s would be.
      await db.store.query("UPDATE ServerInstance SET last_heartbeat_at = now() - interval '45 seconds' WHERE id = $1::int", [id]);
      const kept = await cli(['registry', 'reap', '--json', '--database-url', db.url]);
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal(parsed<{ id: number }[]>(kept).some((l) => l.id === id), false, 'a live instance is not lost');
      assert.equal((await listInstances(db.store, { labels: { zone: 'slow' } }))[0]?.status, 'active');
      assert.deepEqual((await listEvents(db.store, { instanceId: id })).map((e) => e.eventType), ['registered'], 'no false lost event');
      assert.deepEqual(await signalAndWait(s, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
      await db.store.query("UPDATE ServerInstance SET last_heartbeat_at = now() - interval '125 seconds' WHERE id = $1::int", [id]);
      const taken = await cli(['registry', 'reap', '--json', '--database-url', db.url]);
      assert.equal(taken.code, 0, taken.stderr);
      // The reap that takes it is this one or a live reporter's: the servers of the earlier tests
      // reap too (every TTL / 3), by the same rule, and one of them may get there first.
      const takenHere = parsed<{ id: number }[]>(taken).filter((l) => l.id === id).length;
      const events = (await listEvents(db.store, { instanceId: id })).map((e) => e.eventType);
      assert.deepEqual(events, ['registered', 'lost'], `taken once (by this reap: ${takenHere})`);
      assert.equal((await listInstances(db.store, { labels: { zone: 'slow' } }))[0]?.status, 'stopped');
      assert.equal((await listEvents(db.store, { instanceId: id })).at(-1)?.details?.livenessWriteMs, 60_000);
    });

    it('reaps an instance killed by SIGKILL, then prunes it', async () => {
      const s = await server(['zone=d']);
      const id = (await listInstances(db.store, { labels: { zone: 'd' } }))[0]!.id;
      assert.deepEqual(await signalAndWait(s, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
      // A request the killed process never read: the reaper answers it, prune counts it.
      const orphan = await db.store.query<{ id: number }>("INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1, 'test', 'too late') RETURNING id", [id]);
      // The live servers refresh their heartbeat every 200 ms (said with --liveness-write): a 1 s
      // TTL takes only the killed one.
      const lost = await eventually('the reaper to take it', async () => {
        const r = parsed<{ id: number; previousStatus: string }[]>(await cli(['registry', 'reap', '--ttl', '1s', '--liveness-write', '200ms', '--json', '--database-url', db.url]));
        return r.some((l) => l.id === id) ? r : undefined;
      });
      assert.equal(lost.find((l) => l.id === id)?.previousStatus, 'active');
      assert.equal((await listEvents(db.store, { instanceId: id })).at(-1)?.eventType, 'lost');
      const answered = await db.store.query<{ outcome: string | null }>('SELECT outcome FROM DrainRequest WHERE id = $1', [orphan[0]!.id]);
      assert.equal(answered[0]?.outcome, 'lost');
      const none = await cli(['registry', 'reap', '--ttl', '1s', '--liveness-write', '200ms', '--database-url', db.url]);
      assert.equal(none.code, 0);
      assert.equal(none.stdout.trim(), 'no lost instances');

      const kept = await cli(['registry', 'prune', '--older-than', '1d', '--json', '--database-url', db.url]);
      assert.equal(parsed<{ instances: number }>(kept).instances, 0);
      const pruned = parsed<{ instances: number; events: number; requests: number }>(await cli(['registry', 'prune', '--older-than', '0s', '--json', '--database-url', db.url]));
      assert.ok(pruned.instances >= 1);
      assert.ok(pruned.requests >= 1, 'the requests that went with the pruned instances are counted');
      assert.equal((await listInstances(db.store)).some((i) => i.id === id), false);
      // Live instances stay whatever their age.
      assert.ok((await listInstances(db.store, { status: 'active' })).length >= 2);
    });
  });
}
