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
import { within } from '../integrations/clients.js';
import { RawClient, get } from '../helpers/raw.js';

/** mulberry32: a tiny seeded PRNG so every run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/**
 * The client side as a balancer sees it: while `routing` is on, requests are sent; once it is
 * off, none is (the balancer stopped routing here). Pooled requests carry `rid=<n>`: `pending`
 * holds those sent and neither seen by the server nor settled; `rawOpen` counts raw clients
 * between connecting and giving up.
 */
interface Routing {
  on: boolean;
  nextId: number;
  readonly pending: Set<string>;
  rawOpen: number;
  /** Failures kept for the assertion message (code and message, by path). */
  readonly failures: string[];
}

async function randomLoad(port: number, rand: () => number, count: number, concurrency: number, tally: Tally, routing?: Routing): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 6, pipelining: 3 });
  let issued = 0;
  const one = async (): Promise<void> => {
    const r = rand();
    const ms = Math.floor(rand() * 30);
    let settle = (): void => undefined;
    const path = r < 0.1 ? '(raw)' : r < 0.4 ? '/' : r < 0.6 ? `/delay?ms=${ms}` : r < 0.75 ? `/stream?ms=${Math.ceil(ms / 5)}` : r < 0.85 ? '/throw' : '/upload';
    try {
      if (r < 0.1) {
        // a raw client that gives up mid-request (marked raw=1: not counted as a pooled arrival)
        if (routing) routing.rawOpen++;
        try {
          const c = await RawClient.connect(port);
          c.write(get(rand() < 0.5 ? '/hang?raw=1' : `/delay?ms=${ms + 50}&raw=1`));
          await new Promise((res) => setTimeout(res, Math.floor(rand() * 20)));
          c.socket.destroy();
          tally.aborted++;
        } finally {
          if (routing) routing.rawOpen--;
        }
        return;
      }
      const body = path === '/upload' ? 'x'.repeat(Math.floor(rand() * 200_000)) : undefined;
      let sent = path;
      if (routing) {
        const rid = String(routing.nextId++);
        routing.pending.add(rid);
        sent = `${path}${path.includes('?') ? '&' : '?'}rid=${rid}`;
        settle = () => routing.pending.delete(rid);
      }
      const res = await pool.request({ path: sent, method: body ? 'POST' : 'GET', ...(body !== undefined && { body }) });
      await res.body.text();
      if (res.statusCode === 200 || res.statusCode === 500) tally.ok++;
      else {
        tally.other++;
        routing?.failures.push(`${path}: HTTP ${res.statusCode}`);
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'ECONNREFUSED') tally.refused++;
      else if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') tally.other++;
      else throw err;
      routing?.failures.push(`${path}: ${code} ${(err as Error).message}`);
    } finally {
      settle();
    }
  };
  const worker = async (): Promise<void> => {
    while (issued < count && (routing?.on ?? true)) {
      issued++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
}

describe('in-flight count under randomized interleavings', { timeout: 180_000 }, () => {
  const seed = Number(process.env.DRAINKIT_SEED ?? Date.now() % 1_000_000);

  it(`returns to zero after thousands of mixed requests (seed ${seed})`, async () => {
    const server = http.createServer(handler);
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
    const port = await listen(server);
    const tally: Tally = { ok: 0, refused: 0, aborted: 0, other: 0 };
    await randomLoad(port, prng(seed), 3_000, 24, tally);
    await until(() => drainer.inflight === 0, 20_000, `in-flight to return to zero (now ${drainer.inflight})`);
    assert.equal(tally.other, 0, `unexpected failures: ${JSON.stringify(tally)}`);
    assert.ok(tally.ok > 2_000, JSON.stringify(tally));
    const result = await drainer.drain();
    assert.equal(result.success, true);
    assert.equal(drainer.inflight, 0);
  });

  it(`drains mid-load and completes with zero failed requests of any kind (seed ${seed + 1})`, async () => {
    for (let round = 0; round < 3; round++) {
      const server = http.createServer();
      // Adaptive window ended by the simulated balancer: one 503 probe confirms, then 100 ms
      // without a new request. The load runs through the drain start and the window (where every
      // response carries Connection: close) and stops only when the balancer stops routing, so
      // every request sent reached a listening server: none may fail, whatever its kind.
      const drainer = createDrainer(server, {
        signals: false,
        drainTimeoutMs: 20_000,
        deregister: { mode: 'adaptive', minMs: 0, maxMs: 60_000, quietMs: 100, probeFailureThreshold: 1 },
      });
      const routing: Routing = { on: true, nextId: 0, pending: new Set(), rawOpen: 0, failures: [] };
      server.on(
        'request',
        drainer.withHealth((req, res) => {
          const rid = new URL(req.url ?? '/', 'http://x').searchParams.get('rid');
          if (rid !== null) routing.pending.delete(rid);
          handler(req, res);
        }),
      );
      const port = await listen(server);
      const tally: Tally = { ok: 0, refused: 0, aborted: 0, other: 0 };
      const rand = prng(seed + 1 + round);
      let loadDone = false;
      const load = randomLoad(port, rand, 1_500, 24, tally, routing).finally(() => (loadDone = true));
      const where = (): string => `round ${round}: ${JSON.stringify(tally)}, in flight ${drainer.inflight}, phase ${drainer.phase}`;

      await until(() => (tally.ok >= 50 && drainer.inflight > 0) || loadDone, 30_000, `requests in flight before the drain (${where()})`);
      assert.equal(loadDone, false, `the load ended before the drain began (${where()})`);
      const drained = drainer.drain(`round ${round}`);
      const okAtDrain = tally.ok;
      await until(() => tally.ok >= okAtDrain + 50 || loadDone, 30_000, `requests answered during the window (${where()})`);
      assert.equal(drainer.phase, 'deregistering', `the window is still open while the load runs (${where()})`);

      // Requests still running while the listener closes: they must complete too.
      const slowPool = new Pool(`http://127.0.0.1:${port}`, { connections: 3 });
      const slow = Array.from({ length: 3 }, async (_, i) => {
        routing.pending.add(`slow${i}`);
        const res = await slowPool.request({ path: `/delay?ms=800&rid=slow${i}`, method: 'GET' });
        await res.body.text();
        return { status: res.statusCode, connection: res.headers.connection, answeredIn: drainer.phase };
      });
      // The balancer stops routing, waits for what it sent to arrive, then confirms (a 503 probe).
      routing.on = false;
      await until(() => routing.pending.size === 0 && routing.rawOpen === 0, 30_000, `every request sent to arrive (${routing.pending.size} pending, raw open ${routing.rawOpen})`);
      const probe = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(probe.status, 503);
      await probe.text();

      const result = await within(drained, 30_000, `the drain to end (${where()})`);
      await within(load, 30_000, `the load to finish (${where()})`);
      const slowAnswers = await within(Promise.all(slow), 30_000, 'the slow requests to be answered');
      await slowPool.close();

      assert.deepEqual(
        { refused: tally.refused, other: tally.other },
        { refused: 0, other: 0 },
        `round ${round}: requests failed: ${JSON.stringify(tally)}\n${routing.failures.slice(0, 20).join('\n')}`,
      );
      for (const a of slowAnswers) {
        assert.equal(a.status, 200);
        assert.equal(a.connection, 'close');
        assert.notEqual(a.answeredIn, 'deregistering', 'the slow requests were still in flight when the listener closed');
      }
      assert.equal(result.success, true, `round ${round}: ${JSON.stringify(result)}`);
      assert.equal(result.window.endedBy, 'probe-threshold');
      assert.ok(result.requestsAtStart > 0, 'requests were in flight when the drain began');
      assert.equal(result.requestsRemaining, 0);
      assert.equal(drainer.inflight, 0);
      assert.equal(drainer.persistent.size, 0);
    }
  });
});
