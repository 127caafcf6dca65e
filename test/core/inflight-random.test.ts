/**
 * Thousands of randomized interleavings of request shapes (fast, delayed, streamed, uploads,
 * caught throws, client aborts, pipelining), with and without a drain starting mid-load. The
 * in-flight count must come back to exactly zero and the drain must complete. The seed is
 * printed so a failure can be replayed with DRAINKIT_SEED.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { Pool } from 'undici';
import { createDrainer } from '../../src/index.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';
import { seededRandom } from '../helpers/random.js';

const handler: http.RequestListener = (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const ms = Number(url.searchParams.get('ms') ?? 0);
  switch (url.pathname) {
    case '/delay': {
      const t = setTimeout(() => res.end('d'), ms);
      res.once('close', () => clearTimeout(t));
      return;
    }
    case '/stream': {
      let n = 0;
      const t = setInterval(() => {
        if (++n > 3) {
          clearInterval(t);
          res.end('end');
        } else res.write(`chunk${n}\n`);
      }, Math.max(1, ms));
      res.once('close', () => clearInterval(t));
      return;
    }
    case '/upload':
      req.resume();
      req.on('end', () => res.end('up'));
      return;
    case '/throw':
      try {
        throw new Error('bug');
      } catch {
        res.statusCode = 500;
        res.end();
      }
      return;
    case '/hang':
      return; // only a client abort ends it
    default:
      res.end('ok');
  }
};

interface Tally {
  ok: number;
  refused: number;
  aborted: number;
  other: number;
}

/** Load is bounded in count and in time: issuing stops at `count` requests or after `maxMs`. */
const LOAD_MAX_MS = 90_000;

/**
 * Issues `count` requests (unless `LOAD_MAX_MS` runs out first, or `issuing()` turns false: the
 * balancer stopped routing here); resolves, once every request it issued has ended, with how
 * many it issued.
 */
async function randomLoad(port: number, rand: () => number, count: number, concurrency: number, tally: Tally, issuing: () => boolean = () => true): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 6, pipelining: 3 });
  const deadline = Date.now() + LOAD_MAX_MS;
  let issued = 0;
  const one = async (): Promise<void> => {
    const r = rand();
    const ms = Math.floor(rand() * 30);
    try {
      if (r < 0.1) {
        // a raw client that gives up mid-request
        const c = await RawClient.connect(port);
        c.write(get(rand() < 0.5 ? '/hang' : `/delay?ms=${ms + 50}`));
        await new Promise((res) => setTimeout(res, Math.floor(rand() * 20)));
        c.socket.destroy();
        tally.aborted++;
        return;
      }
      const path = r < 0.4 ? '/' : r < 0.6 ? `/delay?ms=${ms}` : r < 0.75 ? `/stream?ms=${Math.ceil(ms / 5)}` : r < 0.85 ? '/throw' : '/upload';
      const body = path === '/upload' ? 'x'.repeat(Math.floor(rand() * 200_000)) : undefined;
      const res = await pool.request({ path, method: body ? 'POST' : 'GET', ...(body !== undefined && { body }) });
      await res.body.text();
      if (res.statusCode === 200 || res.statusCode === 500) tally.ok++;
      else tally.other++;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'ECONNREFUSED') tally.refused++;
      else if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') tally.other++;
      else throw err;
    }
  };
  const worker = async (): Promise<void> => {
    while (issued < count && Date.now() < deadline && issuing()) {
      issued++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return issued;
}

function tallied(t: Tally): number {
  return t.ok + t.refused + t.aborted + t.other;
}

describe('in-flight count under randomized interleavings', { timeout: 180_000 }, () => {
  const seed = Number(process.env.DRAINKIT_SEED ?? Date.now() % 1_000_000);

  it(`returns to zero after thousands of mixed requests (seed ${seed})`, async () => {
    const server = http.createServer(handler);
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
    const port = await listen(server);
    const tally: Tally = { ok: 0, refused: 0, aborted: 0, other: 0 };
    const issued = await randomLoad(port, seededRandom(seed), 3_000, 24, tally);
    assert.equal(issued, 3_000, `the load issued every request within ${LOAD_MAX_MS} ms`);
    await until(() => drainer.inflight === 0, 20_000, `in-flight to return to zero (now ${drainer.inflight})`);
    assert.equal(tally.other, 0, `unexpected failures: ${JSON.stringify(tally)}`);
    assert.equal(tally.refused, 0, `nothing is refused before a drain: ${JSON.stringify(tally)}`);
    assert.equal(tallied(tally), 3_000, `every request answered or aborted by its client: ${JSON.stringify(tally)}`);
    const result = await within(drainer.drain(), 'the drain');
    assert.equal(result.success, true);
    assert.equal(drainer.inflight, 0);
  });

  // The load plays a client behind a balancer: it keeps sending, on its pooled connections and
  // new ones, through a random part of the deregistration window, then stops (the balancer saw
  // the 503) and the window ends on a probe. Requests still running then cross the listener
  // close. Not one request may fail: no reset, no closed socket, no refusal.
  it(`drains mid-load with zero failed requests (seed ${seed + 1})`, async () => {
    for (let round = 0; round < 3; round++) {
      const server = http.createServer();
      const drainer = createDrainer(server, {
        signals: false,
        deregister: { mode: 'adaptive', minMs: 0, maxMs: 60_000, quietMs: 0, probeFailureThreshold: 1 },
        drainTimeoutMs: 20_000,
      });
      server.on('request', (req, res) => {
        if (!drainer.handleHealth(req, res)) handler(req, res);
      });
      const port = await listen(server);
      const tally: Tally = { ok: 0, refused: 0, aborted: 0, other: 0 };
      const rand = seededRandom(seed + 1 + round);
      let routing = true;
      const load = randomLoad(port, rand, 1_500, 24, tally, () => routing);
      // The drain starts at a random point of the load, and the load goes on for a random
      // number of requests inside the window.
      const startAfter = 50 + Math.floor(rand() * 200);
      const inWindow = 50 + Math.floor(rand() * 200);
      await until(() => tallied(tally) >= startAfter, 60_000, `${startAfter} requests to end before the drain`);
      const done = drainer.drain(`round ${round}`);
      const atDrain = tallied(tally);
      await until(() => tallied(tally) >= atDrain + inWindow, 60_000, `${inWindow} requests to end inside the window`);
      assert.equal(drainer.phase, 'deregistering', 'the load ran inside the window');
      routing = false;
      const issued = await within(load, `the load of round ${round}`, LOAD_MAX_MS + 10_000);
      // Requests that cross the listener close: running when the window ends.
      const tails = new Pool(`http://127.0.0.1:${port}`, { connections: 3 });
      const crossing = Array.from({ length: 3 }, () =>
        tails.request({ path: '/delay?ms=200', method: 'GET' }).then(async (r) => ({ status: r.statusCode, connection: r.headers.connection, body: await r.body.text() })),
      );
      await until(() => drainer.inflight === 3, 10_000, 'the three crossing requests to be in flight');
      const probe = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(probe.status, 503);
      await probe.text();
      const result = await within(done, `the drain of round ${round}`);
      const replies = await within(Promise.all(crossing), 'the crossing requests');
      await tails.close();
      assert.deepEqual(replies, Array(3).fill({ status: 200, connection: 'close', body: 'd' }));
      assert.equal(result.success, true, `round ${round}: ${JSON.stringify(result)}`);
      assert.equal(result.window.endedBy, 'probe-threshold');
      assert.equal(result.connectionsForced, 0);
      assert.equal(drainer.inflight, 0);
      assert.equal(drainer.persistent.size, 0);
      assert.ok(result.requestsCompleted >= inWindow + 3, `${result.requestsCompleted} completed during the drain`);
      // What drainkit exists to prevent: not one request failed by a reset, a closed socket or
      // a refusal. The only requests that did not get an answer are the ones the test's own
      // clients gave up on.
      assert.equal(tally.other, 0, `round ${round}: connection failures during the drain: ${JSON.stringify(tally)}`);
      assert.equal(tally.refused, 0, `round ${round}: refused during the drain: ${JSON.stringify(tally)}`);
      assert.equal(tallied(tally), issued, `round ${round}: every request accounted for: ${JSON.stringify(tally)}`);
    }
  });
});
