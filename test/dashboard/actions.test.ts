/**
 * The drain action over HTTP (as a script does it, with the Bearer token and JSON) against a
 * real instance on the embedded registry: a reason is required, a stale page's generation is
 * refused, the last active instance of a label group is refused unless forced, and asking twice
 * is answered as done without a second request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { killTracked, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { createDatabase, postgresSkip, type TestDatabase } from '../registry/databases.js';
import { MAIN, NOT_BUILT, request, spawnDashboard, type DashboardProcess } from './harness.js';

interface Row { id: number; port: number; status: string; generation: number }

describe('dashboard drain action', { skip: NOT_BUILT, timeout: 180_000 }, () => {
  let d: DashboardProcess;
  let server: ServerProcess;

  before(async () => {
    d = await spawnDashboard(['--data-dir', 'memory://']);
    server = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--database-url', d.registryUrl!, '--heartbeat-ms', '200', '--label', 'app=solo',
      '--deregister-mode', 'fixed', '--deregister-delay-ms', '500', '--linger-ms', '0', '--log-level', 'warn'], readyTimeoutMs: 60_000 });
  });
  after(async () => {
    if (d !== undefined) await signalAndWait(d);
    await killTracked();
  });

  const post = (body: Record<string, unknown>) => request(d.origin, '/actions/drain', {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => ({ status: r.status, json: JSON.parse(r.body) as Record<string, unknown> }));

  async function instance(): Promise<Row> {
    for (let i = 0; i < 100; i++) {
      const r = await request(d.origin, '/api/fleet', { headers: { Authorization: `Bearer ${d.token}` } });
      const row = (JSON.parse(r.body) as { instances: Row[] }).instances.find((x) => x.port === server.port);
      if (row !== undefined) return row;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the instance on port ${server.port} did not appear in /api/fleet within 100 reads`);
  }

  it('requires a reason, refuses a stale generation and the last of its group, then drains once when forced', async () => {
    const row = await instance();
    const noReason = await post({ instance: row.id, reason: '   ' });
    assert.equal(noReason.status, 400);
    assert.match(String(noReason.json.error), /reason is required/);

    const stale = await post({ instance: row.id, generation: row.generation + 1, reason: 'from an old page' });
    assert.equal(stale.status, 409);
    assert.match(String(stale.json.error), /restarted since this page was drawn/);

    const last = await post({ instance: row.id, reason: 'maintenance' });
    assert.equal(last.status, 409);
    assert.match(String(last.json.error), /no available instance in app=solo/);

    const forced = await post({ instance: row.id, generation: row.generation, reason: 'maintenance', force: true, by: 'ops-bot' });
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    assert.equal(forced.json.requested, true);

    const again = await post({ instance: row.id, reason: 'maintenance', force: true });
    assert.equal(again.status, 200);
    assert.equal(again.json.requested, false, 'the second ask is answered as done, not a second request');

    assert.equal((await server.closed).code, 0, 'the instance drained and exited');
    const audit = await request(d.origin, `/audit?instance=${row.id}&type=request`, { headers: { Authorization: `Bearer ${d.token}` } });
    assert.equal((audit.body.match(/<tr data-kind="request"/g) ?? []).length, 1, 'one request recorded');
    assert.match(audit.body, /by ops-bot via drainkit dashboard from 127\.0\.0\.1: maintenance \(draining at /);

    // The audit view: floats rounded, a cut list says so and links to the older page, an
    // unknown type is refused naming the accepted ones.
    const all = await request(d.origin, `/audit?instance=${row.id}`, { headers: { Authorization: `Bearer ${d.token}` } });
    assert.match(all.body, /data-kind="drain_complete"/);
    assert.doesNotMatch(all.body, /\d\.\d{4,}/, 'no float printed with all its digits');
    assert.match(all.body, /<select name="type"[^>]*>.*<option value="drain_start">/s);
    const cut = await request(d.origin, `/audit?instance=${row.id}&limit=2`, { headers: { Authorization: `Bearer ${d.token}` } });
    assert.equal((cut.body.match(/<tr data-kind=/g) ?? []).length <= 2 + 1, true, 'at most the newest two of each source, cut at the same time');
    assert.match(cut.body, /id="audit-more">Showing the newest \d+ .*<a href="\/audit\?instance=\d+&amp;limit=2&amp;until=[^"]+">Older<\/a>/);
    const typo = await request(d.origin, '/audit?type=drain_strat', { headers: { Authorization: `Bearer ${d.token}` } });
    assert.equal(typo.status, 400);
    assert.match(typo.body, /type got &quot;drain_strat&quot;; accepted: request, .*drain_start/);
  });

  it('answers a missing instance with 404 and a bad id with 400', async () => {
    assert.equal((await post({ instance: 999_999, reason: 'x' })).status, 404);
    assert.equal((await post({ instance: 'abc', reason: 'x' })).status, 400);
  });
});

/** Two instances of one label group behind a dashboard, on the registry at `registryUrl`. */
async function pairOf(d: DashboardProcess, registryUrl: string, heartbeatMs: number): Promise<{ servers: ServerProcess[]; rows: Row[] }> {
  const servers: ServerProcess[] = [];
  for (let i = 0; i < 2; i++) {
    servers.push(await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--database-url', registryUrl, '--heartbeat-ms', String(heartbeatMs), '--label', 'app=pair',
      '--deregister-mode', 'fixed', '--deregister-delay-ms', '1000', '--linger-ms', '0', '--log-level', 'warn'], readyTimeoutMs: 60_000 }));
  }
  for (let i = 0; i < 200; i++) {
    const r = await request(d.origin, '/api/fleet', { headers: { Authorization: `Bearer ${d.token}` } });
    const all = (JSON.parse(r.body) as { instances: Row[] }).instances;
    const rows = servers.map((s) => all.find((x) => x.port === s.port && x.status === 'active'));
    if (rows.every((x) => x !== undefined)) return { servers, rows: rows };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the two instances did not both show active in /api/fleet within 200 reads');
}

function postDrain(d: DashboardProcess, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  return request(d.origin, '/actions/drain', {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => ({ status: r.status, json: JSON.parse(r.body) as Record<string, unknown> }));
}

describe('dashboard drain action: a pending request makes an instance unavailable to its group', { skip: NOT_BUILT, timeout: 180_000 }, () => {
  after(() => killTracked());

  it('refuses the second of two drains one after the other for a group of two, unless forced', async () => {
    const d = await spawnDashboard(['--data-dir', 'memory://']);
    try {
      // A slow heartbeat: on the embedded registry an instance reads its request on its next
      // heartbeat, so the first instance is still "active" with a request pending when the
      // second drain is asked. That pending request is what the guard must count.
      const { servers, rows } = await pairOf(d, d.registryUrl!, 5_000);
      const [a, b] = rows as [Row, Row];
      const first = await postDrain(d, { instance: a.id, reason: 'one at a time' });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.equal(first.json.requested, true);
      const second = await postDrain(d, { instance: b.id, reason: 'one at a time' });
      assert.equal(second.status, 409, `the group's other instance is about to drain: ${JSON.stringify(second.json)}`);
      assert.match(String(second.json.error), /no available instance in app=pair/);
      const forced = await postDrain(d, { instance: b.id, reason: 'both, on purpose', force: true });
      assert.equal(forced.status, 200, JSON.stringify(forced.json));
      assert.equal(forced.json.requested, true);
      for (const s of servers) assert.equal((await s.closed).code, 0, 'each instance drained and exited');
    } finally {
      await signalAndWait(d);
    }
  });
});

describe('dashboard drain action: concurrent drains of a group on Postgres', { skip: NOT_BUILT || (await postgresSkip()), timeout: 180_000 }, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createDatabase('postgres');
  });
  after(async () => {
    await killTracked();
    if (db !== undefined) await db.close();
  });

  it('lets exactly one of two simultaneous drains of a group of two through', async () => {
    const d = await spawnDashboard(['--database-url', db.url]);
    try {
      const { servers, rows } = await pairOf(d, db.url, 200);
      const [a, b] = rows as [Row, Row];
      const answers = await Promise.all([postDrain(d, { instance: a.id, reason: 'race' }), postDrain(d, { instance: b.id, reason: 'race' })]);
      const statuses = answers.map((x) => x.status).sort();
      assert.deepEqual(statuses, [200, 409], JSON.stringify(answers));
      const granted = answers.find((x) => x.status === 200);
      assert.equal(granted?.json.requested, true);
      const pending = await db.store.query<{ n: number }>('SELECT count(*)::int AS n FROM DrainRequest');
      assert.equal(pending[0]?.n, 1, 'one request recorded');
      const drained = servers.find((s) => s.port === rows.find((r) => r.id === granted?.json.instanceId)?.port);
      assert.equal((await drained!.closed).code, 0, 'the granted instance drained and exited');
    } finally {
      await signalAndWait(d);
    }
  });
});
