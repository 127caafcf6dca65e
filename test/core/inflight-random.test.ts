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

async function randomLoad(port: number, rand: () => number, count: number, concurrency: number, tally: Tally): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 6, pipelining: 3 });
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
    while (issued < count) {
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

  it(`drains mid-load and completes (seed ${seed + 1})`, async () => {
    for (let round = 0; round < 3; round++) {
      const server = http.createServer(handler);
      const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 100 }, drainTimeoutMs: 20_000 });
      const port = await listen(server);
      const tally: Tally = { ok: 0, refused: 0, aborted: 0, other: 0 };
      const rand = prng(seed + 1 + round);
      const load = randomLoad(port, rand, 1_500, 24, tally);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(rand() * 200)));
      const result = await drainer.drain(`round ${round}`);
      await load;
      assert.equal(result.success, true, `round ${round}: ${JSON.stringify(result)}`);
      assert.equal(drainer.inflight, 0);
      assert.equal(drainer.persistent.size, 0);
      assert.ok(result.requestsCompleted > 0);
    }
  });
});
