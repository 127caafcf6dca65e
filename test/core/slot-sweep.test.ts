/**
 * Before the drain a closed response stays in its connection's slot until the next request on
 * it; the slot sweep (Tracker SLOT_SWEEP_MS) drops it, so an idle keep-alive connection does not
 * keep its last request and response alive for as long as it stays open. Checked with a weak
 * reference and forced collections (the bound is a hang guard, not a timing assertion).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get } from '../helpers/raw.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function lastResponseCollected(withDrainkit: boolean): Promise<boolean> {
  let ref: WeakRef<http.ServerResponse> | undefined;
  const server = http.createServer((_req, res) => {
    ref = new WeakRef(res);
    res.end('ok');
  });
  const drainer = withDrainkit ? createDrainer(server, { signals: false }) : undefined;
  const port = await listen(server);
  const c = await RawClient.connect(port);
  try {
    c.write(get('/'));
    await c.waitFor((x) => x.responses() === 1, 'the response');
    await until(() => ref !== undefined && drainer?.inflight !== 1, 10_000, 'the response to close');
    // The connection stays open and idle.
    await until(
      () => {
        gc();
        return ref!.deref() === undefined;
      },
      10_000,
      'the last response of an idle connection to be collected',
    );
    assert.equal(c.closed, false, 'while its connection is still open');
    return true;
  } finally {
    c.socket.destroy();
    drainer?.detach();
    server.closeAllConnections();
    server.close();
  }
}

describe('closed responses do not outlive their requests on idle connections', { timeout: 60_000 }, () => {
  it('without drainkit, Node keeps no reference to the last response of an idle connection (the baseline)', async () => {
    assert.equal(await lastResponseCollected(false), true);
  });

  it('with drainkit attached, the slot sweep drops it too', async () => {
    assert.equal(await lastResponseCollected(true), true);
  });
});
