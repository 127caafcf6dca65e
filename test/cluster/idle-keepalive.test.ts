/**
 * Inside `drainkit cluster`, a worker never closes an idle keep-alive connection under its
 * client: an HTTP/1.1 server cannot tell a client that an idle connection is going away, and a
 * FIN sent at the end of the wind-down may cross a request the client is writing on it (the
 * reload test saw one `other side closed` in 3,575 requests under CPU load). The connection is
 * left for the client: its next request is answered with `Connection: close`, and the worker
 * announces a keep-alive timeout short enough for clients to retire idle connections themselves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killTracked } from '../helpers/processes.js';
import { RawClient, get } from '../helpers/raw.js';
import { spawnCluster } from './harness.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'drainkit-cluster-idle-'));

describe('drainkit cluster: idle keep-alive connections across a reload', { timeout: 60_000 }, () => {
  after(async () => {
    await killTracked();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an idle keep-alive connection outlives its worker\'s wind-down and listener close; its next request is answered with Connection: close by the old worker', async () => {
    const mode = path.join(dir, 'mode');
    writeFileSync(mode, 'ok');
    const c = await spawnCluster([CLI, 'cluster', '--workers', '1', '--log-level', 'info', APP, mode, 'log']);
    const [oldPid] = c.workers;
    const raw = await RawClient.connect(c.port);
    raw.write(get('/'));
    await raw.waitFor((x) => x.responses() === 1, 'the first keep-alive response');
    assert.match(raw.data, /keep-alive: timeout=5\r\n/i, 'the worker announces the cluster\'s keep-alive timeout');
    assert.match(raw.data, new RegExp(`x-pid: ${oldPid}\\r\\n`, 'i'));

    c.child.kill('SIGHUP');
    // The old worker's drain is past its listener close (and the idle close that used to come
    // with it) once it logs the `waiting` phase.
    await c.waitForStderr(new RegExp(`^(?=.*"pid":${oldPid}[,}])(?=.*"event":"drain_phase")(?=.*"phase":"waiting")`), 30_000);
    assert.equal(raw.ended || raw.closed, false, `the worker closed the idle connection under its client (ended=${raw.ended}, closed=${raw.closed})`);

    raw.data = '';
    raw.write(get('/'));
    await raw.waitFor((x) => x.responses() === 1 || x.ended || x.closed, 'an answer on the idle connection');
    assert.match(raw.data, /^HTTP\/1\.1 200 /, `the request on the kept connection was answered: ${JSON.stringify(raw.data)} (error ${raw.error?.code ?? 'none'})`);
    assert.match(raw.data, /connection: close\r\n/i, 'the answer retires the connection');
    assert.match(raw.data, new RegExp(`x-pid: ${oldPid}\\r\\n`, 'i'), 'by the old worker');
    await raw.waitFor((x) => x.ended, 'the old worker\'s FIN after its Connection: close response');
    raw.socket.end();

    const reload = await c.waitFor('reload_complete', 0, 30_000);
    assert.equal(reload.ok, true, JSON.stringify(reload));
    const replaced = reload.replaced as { oldPid: number; drain: { success: boolean } }[];
    assert.deepEqual(replaced.map((r) => [r.oldPid, r.drain.success]), [[oldPid, true]], 'the old worker drained completely');
    c.child.kill('SIGTERM');
    assert.deepEqual(await c.closed, { code: 0, signal: null });
  });
});
