/**
 * The embedded registry as operators run it: `drainkit registry-host` keeps the registry in
 * PGlite under a data directory and serves it over the Postgres protocol; an example server
 * reports to it with `--database-url`; the data survives a restart of the host.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listEvents, listInstances, openStore, type Store } from '../../src/registry/index.js';
import { killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { eventually } from './databases.js';

const MAIN = 'dist/cli/main.js';

describe('drainkit registry-host', { timeout: 180_000 }, () => {
  const procs: ServerProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'drainkit-registry-host-'));
  let store: Store | undefined;
  after(async () => {
    await store?.close().catch(() => undefined);
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
  });

  async function host(): Promise<ServerProcess & { url: string }> {
    const p = await spawnServer({ args: [MAIN, 'registry-host', '--data-dir', join(dir, 'db'), '--port', '0'], readyTimeoutMs: 90_000 });
    procs.push(p);
    const url = p.events[0]?.url;
    assert.equal(typeof url, 'string');
    return Object.assign(p, { url: url as string });
  }

  it('serves the registry to an example server, and keeps it across a restart', async () => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
    const h = await host();
    const server = await spawnServer({
      args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0', '--database-url', h.url, '--heartbeat-ms', '100', '--label', 'role=demo'],
    });
    procs.push(server);
    store = await openStore({ databaseUrl: h.url });
    const row = await eventually('the example server to register', async () =>
      (await listInstances(store!, { labels: { role: 'demo' } })).find((i) => i.port === server.port), 60_000);
    assert.equal(row.status, 'active');
    assert.deepEqual(await signalAndWait(server, 'SIGTERM'), { code: 0, signal: null });
    await eventually('status stopped', async () => ((await listInstances(store!, { labels: { role: 'demo' } }))[0]?.status === 'stopped' ? true : undefined), 30_000);
    await store.close();
    store = undefined;

    assert.deepEqual(await signalAndWait(h, 'SIGTERM', 60_000), { code: 0, signal: null });
    assert.ok(h.events.some((e) => e.event === 'stopped'));

    // The same data directory, served again: the instance and its events are still there.
    const again = await host();
    store = await openStore({ databaseUrl: again.url });
    const kept = await listInstances(store, { labels: { role: 'demo' } });
    assert.equal(kept.length, 1);
    assert.equal(kept[0]?.status, 'stopped');
    const types = (await listEvents(store, { instanceId: kept[0].id })).map((e) => e.eventType);
    assert.equal(types[0], 'registered');
    assert.equal(types.at(-1), 'drain_complete');
    await store.close();
    store = undefined;
    assert.deepEqual(await signalAndWait(again, 'SIGTERM', 60_000), { code: 0, signal: null });
  });

  it('rejects a missing --data-dir with a usage error', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [MAIN, 'registry-host'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--data-dir/);
  });
});
