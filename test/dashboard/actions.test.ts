/**
 * The drain action over HTTP (as a script does it, with the Bearer token and JSON) against a
 * real instance on the embedded registry: a reason is required, a stale page's generation is
 * refused, the last active instance of a label group is refused unless forced, and asking twice
 * is answered as done without a second request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { killTracked, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { MAIN, NOT_BUILT, request, spawnDashboard, type DashboardProcess } from './harness.js';

interface Row { id: number; port: number; status: string; generation: number }

describe('dashboard drain action', { skip: NOT_BUILT, timeout: 180_000 }, () => {
  let d: DashboardProcess;
  let server: ServerProcess;

  before(async () => {
    d = await spawnDashboard(['--data-dir', 'memory://']);
    server = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--database-url', d.registryUrl!, '--heartbeat-ms', '200', '--label', 'app=solo',
      '--deregister-mode', 'fixed', '--deregister-delay-ms', '500', '--linger-ms', '0', '--log-level', 'warn'] });
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
    assert.match(String(last.json.error), /no active instance in app=solo/);

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
  });

  it('answers a missing instance with 404 and a bad id with 400', async () => {
    assert.equal((await post({ instance: 999_999, reason: 'x' })).status, 404);
    assert.equal((await post({ instance: 'abc', reason: 'x' })).status, 400);
  });
});
