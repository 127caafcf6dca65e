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
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

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

describe('drainkit registry: usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['no database', ['registry', 'summary'], /--database-url .*DATABASE_URL/],
    ['a URL that is not postgres://', ['registry', 'summary', '--database-url', 'mysql://db/x'], /--database-url got "mysql:\/\/db\/x" \(a mysql:\/\/ URL\); accepted: a postgres:\/\/ or postgresql:\/\//],
    ['a bad drain target', ['registry', 'drain', 'web-1', '--reason', 'x', '--database-url', 'postgres://h/db'], /instance id .* or host:port/],
    ['a port out of range', ['registry', 'drain', '10.0.0.1:70000', '--reason', 'x', '--database-url', 'postgres://h/db'], /port 1 to 65535/],
    ['no reason', ['registry', 'drain', '3', '--database-url', 'postgres://h/db'], /--reason/],
    ['an empty reason', ['registry', 'drain', '3', '--reason', ' ', '--database-url', 'postgres://h/db'], /--reason must not be empty/],
    ['a bad duration', ['registry', 'reap', '--ttl', 'soon', '--database-url', 'postgres://h/db'], /duration .* 30s/],
    ['a TTL below a second', ['registry', 'reap', '--ttl', '500ms', '--database-url', 'postgres://h/db'], /duration from 1\.0s/],
    ['a bad time', ['registry', 'events', '--since', 'yesterday', '--database-url', 'postgres://h/db'], /ISO 8601/],
    ['an unknown status', ['registry', 'instances', '--status', 'running', '--database-url', 'postgres://h/db'], /accepted: active, draining, stopped/],
    ['an unknown command', ['registry', 'list'], /unknown command/],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 2 and says what is accepted: ${what}`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }

  it('exits 1 and names the registry, without its password, when the database cannot be reached', async () => {
    const r = await cli(['registry', 'summary', '--database-url', 'postgres://postgres:hunter2@127.0.0.1:1/none']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /registry at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none: .*ECONNREFUSED/);
    assert.doesNotMatch(r.stderr, /hunter2/);
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

      const summary = parsed<Record<string, number>>(await cli(['registry', 'summary', '--json', '--database-url', db.url]));
      assert.equal(summary.active, 2);
      assert.equal(summary.draining, 0);
      assert.equal(summary.pendingDrainRequests, 0);
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

      const events = parsed<DrainEventRow[]>(await cli(['registry', 'events', '--instance', String(out.instanceId), '--json', '--database-url', db.url]));
      const types = events.map((e) => e.eventType);
      assert.deepEqual(types.slice(0, 3), ['registered', 'drain_requested', 'drain_start']);
      assert.equal(types.at(-1), 'drain_complete');
      assert.equal(events[1]?.details?.requestedBy, 'ops@example');
      const filtered = parsed<DrainEventRow[]>(await cli(['registry', 'events', '--instance', String(out.instanceId), '--type', 'drain_start,drain_complete', '--since', '10m', '--json', '--database-url', db.url]));
      assert.deepEqual(filtered.map((e) => e.eventType), ['drain_start', 'drain_complete']);

      // A stopped instance takes no more requests: exit 1 with the registry's reason.
      const again = await cli(['registry', 'drain', String(out.instanceId), '--reason', 'again', '--database-url', db.url]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`instance ${out.instanceId} \\(127\\.0\\.0\\.1:${s.port}\\) is already stopped; only an active instance takes a drain request, so none was recorded`));
      const pending = parsed<Record<string, number>>(await cli(['registry', 'summary', '--json', '--database-url', db.url]));
      assert.equal(pending.pendingDrainRequests, 0, 'the refused request is not counted as pending');
    });

    it('reaps an instance killed by SIGKILL, then prunes it', async () => {
      const s = await server(['zone=d']);
      const id = (await listInstances(db.store, { labels: { zone: 'd' } }))[0]!.id;
      assert.deepEqual(await signalAndWait(s, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
      // A request the killed process never read: the reaper answers it, prune counts it.
      const orphan = await db.store.query<{ id: number }>("INSERT INTO DrainRequest (instance_id, requested_by, reason) VALUES ($1, 'test', 'too late') RETURNING id", [id]);
      // The live servers refresh their heartbeat every 200 ms: a 1 s TTL takes only the killed one.
      const lost = await eventually('the reaper to take it', async () => {
        const r = parsed<{ id: number; previousStatus: string }[]>(await cli(['registry', 'reap', '--ttl', '1s', '--json', '--database-url', db.url]));
        return r.some((l) => l.id === id) ? r : undefined;
      });
      assert.equal(lost.find((l) => l.id === id)?.previousStatus, 'active');
      assert.equal((await listEvents(db.store, { instanceId: id })).at(-1)?.eventType, 'lost');
      const answered = await db.store.query<{ outcome: string | null }>('SELECT outcome FROM DrainRequest WHERE id = $1', [orphan[0]!.id]);
      assert.equal(answered[0]?.outcome, 'lost');
      const none = await cli(['registry', 'reap', '--ttl', '1s', '--database-url', db.url]);
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
