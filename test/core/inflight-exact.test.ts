/**
 * The in-flight count is exact whenever it is read, before the drain (counted lazily from the
 * sockets' slots) and after its start (counted event by event), and across the switch. The test
 * keeps its own truth, from Node's events alone: a response is in flight from its 'request'
 * until its 'close', or until its connection's 'close' for a pipelined response queued behind
 * another (Node emits no 'close' for those). Randomized load (keep-alive, pipelining, client
 * resets, responses held and answered out of order, handlers that destroy the response, uploads
 * cut short), sampled from timers; a drain starts mid-load. The seed is printed so a failure can
 * be replayed with DRAINKIT_SEED.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';
import { seededRandom } from '../helpers/random.js';

function harness(rand: () => number) {
  /** The truth: responses in flight by Node's events, by connection. */
  const open = new Map<Socket, Set<http.ServerResponse>>();
  let truth = 0;
  const drop = (socket: Socket, res: http.ServerResponse): void => {
    if (open.get(socket)?.delete(res)) truth -= 1;
  };
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    // A request read after our half-close is never answered and not counted (see onRequest).
    if (!socket.writableEnded) {
      let set = open.get(socket);
      if (set === undefined) {
        set = new Set();
        open.set(socket, set);
        socket.once('close', () => {
          truth -= set!.size;
          set!.clear();
        });
      }
      set.add(res);
      truth += 1;
      res.once('close', () => drop(socket, res));
    }
    const path = req.url ?? '/';
    if (path.startsWith('/hold')) {
      const t = setTimeout(() => res.end('held'), Math.floor(rand() * 40));
      res.once('close', () => clearTimeout(t));
    } else if (path.startsWith('/destroy')) {
      setTimeout(() => res.destroy(), Math.floor(rand() * 20));
    } else if (path.startsWith('/upload')) {
      req.resume();
      req.on('end', () => res.end('up'));
    } else if (path.startsWith('/early')) {
      // Answered before the body is read: the body's bytes arrive after the response closed.
      res.end('early');
    } else res.end('ok');
  });
  const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 300 }, drainTimeoutMs: 20_000 });
  return { server, drainer, truth: () => truth };
}

const PATHS = ['/', '/hold', '/hold', '/destroy', '/early'];

async function client(port: number, rand: () => number, until: () => boolean): Promise<void> {
  while (!until()) {
    let c: RawClient;
    try {
      c = await RawClient.connect(port);
    } catch {
      return; // the listener is closed
    }
    const requests = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < requests && !c.closed; i++) {
      const pipelined = 1 + (rand() < 0.3 ? Math.floor(rand() * 4) : 0);
      let text = '';
      for (let j = 0; j < pipelined; j++) {
        const path = PATHS[Math.floor(rand() * PATHS.length)]!;
        if (path === '/early' || rand() < 0.1) {
          const size = 1 + Math.floor(rand() * 50_000);
          text += `POST ${path === '/early' ? '/early' : '/upload'} HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${'x'.repeat(size)}`;
        } else text += get(`${path}?i=${i}`);
      }
      const before = c.responses();
      c.write(text);
      if (rand() < 0.1) {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 20)));
        c.socket.resetAndDestroy();
        break;
      }
      // A response destroyed by the handler never comes: like a real client, give up after a
      // while and close the connection (which releases whatever is still open on it).
      const answered = await c.waitFor((x) => x.responses() >= before + pipelined || x.closed || x.ended, 'responses', 2_000).then(
        () => true,
        () => false,
      );
      if (!answered || c.ended) break;
      if (rand() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rand() * 10)));
    }
    if (rand() < 0.5) c.socket.end();
    else c.socket.destroy();
  }
}

describe('in-flight count is exact whenever read', { timeout: 120_000 }, () => {
  const seed = Number(process.env.DRAINKIT_SEED ?? Date.now() % 1_000_000);

  it(`matches the count from Node's events before, across and after the drain's start (seed ${seed})`, async () => {
    const rand = seededRandom(seed);
    const h = harness(rand);
    const port = await listen(h.server);
    const mismatches: string[] = [];
    let samples = 0;
    let nonzero = 0;
    const sampler = setInterval(() => {
      samples += 1;
      const truth = h.truth();
      if (truth > 0) nonzero += 1;
      if (h.drainer.inflight !== truth) mismatches.push(`${h.drainer.phase ?? h.drainer.state}: drainkit ${h.drainer.inflight}, Node ${truth}`);
    }, 2);
    let stop = false;
    try {
      const clients = Array.from({ length: 8 }, () => client(port, rand, () => stop));
      await new Promise((r) => setTimeout(r, 1_500));
      const drained = h.drainer.drain('test');
      await new Promise((r) => setTimeout(r, 1_000));
      stop = true;
      await within(Promise.all(clients), 'the clients to stop', 30_000);
      const result = await within(drained, 'the drain to end', 30_000);
      assert.deepEqual(mismatches.slice(0, 10), [], `${mismatches.length} of ${samples} samples differ`);
      await until(() => h.truth() === 0, 10_000, 'every response closed');
      assert.equal(h.drainer.inflight, 0);
      assert.equal(result.outcome, 'completed', JSON.stringify({ ...result, phases: undefined }));
      assert.ok(samples > 30 && nonzero > 10, `sampled while requests were in flight (${samples} samples, ${nonzero} with some in flight)`);
    } finally {
      stop = true;
      clearInterval(sampler);
      h.server.closeAllConnections();
      h.server.close();
    }
  });
});
