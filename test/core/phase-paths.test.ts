/**
 * What a waiting drain waits for, by path: the `waiting` phase (and its log line) lists the
 * paths of the requests in flight, most requests first, without their query strings, for
 * HTTP/1 and HTTP/2 alike. The registry records them and the dashboard's sentence names them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { createDrainer, type PhaseInfo } from '../../src/index.js';
import { withDeadline, waitFor } from '../helpers/deadline.js';
import { connectH2, get, listen, makeServer, type Flavour } from '../helpers/servers.js';

const BOUND_MS = 20_000;

describe('the waiting phase names the paths in flight', { timeout: 60_000 }, () => {
  for (const flavour of ['http', 'h2c'] as const satisfies readonly Flavour[]) {
    it(`${flavour}: two requests to /export (one with a query string) and one to /report`, async () => {
      const server = makeServer(flavour);
      const held: (() => void)[] = [];
      server.on('request', (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
        held.push(() => res.end('done'));
      });
      const logged: Record<string, unknown>[] = [];
      const record = (obj: object): void => void logged.push(obj as Record<string, unknown>);
      const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, logger: { debug: record, info: record, warn: record, error: record } });
      const phases: [string, PhaseInfo][] = [];
      drainer.on('phase', (phase, info) => void phases.push([phase, info]));
      const port = await listen(server);
      const session = flavour === 'h2c' ? connectH2(flavour, port) : undefined;
      const replies = ['/export?token=secret', '/report', '/export'].map((p) => get(flavour, port, p, session));
      await waitFor('three requests in flight', () => drainer.inflight === 3, BOUND_MS);
      const drained = drainer.drain('test');
      await waitFor('the waiting phase', () => phases.some(([p]) => p === 'waiting'), BOUND_MS);
      const waiting = phases.find(([p]) => p === 'waiting')![1];
      assert.deepEqual(waiting.paths, [{ path: '/export', count: 2 }, { path: '/report', count: 1 }]);
      const line = logged.find((l) => l.event === 'drain_phase' && l.phase === 'waiting');
      assert.deepEqual(line?.paths, waiting.paths, 'the log line carries them too');
      assert.doesNotMatch(JSON.stringify(logged), /secret/, 'no query string is kept');
      // Phases other than waiting and forcing carry none.
      assert.deepEqual(phases.filter(([, i]) => i.paths !== undefined).map(([p]) => p), ['waiting']);
      for (const release of held) release();
      for (const reply of await withDeadline(Promise.all(replies), BOUND_MS, 'the held requests to be answered')) assert.equal(reply.status, 200);
      const result = await withDeadline(drained, BOUND_MS, 'the drain to end');
      assert.equal(result.outcome, 'completed');
      session?.close();
      drainer.detach();
    });
  }

  it('a drain with nothing in flight lists no paths', async () => {
    const server = makeServer('http');
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => void res.end());
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, logger: false });
    const phases: [string, PhaseInfo][] = [];
    drainer.on('phase', (phase, info) => void phases.push([phase, info]));
    await listen(server);
    await withDeadline(drainer.drain('test'), BOUND_MS, 'the drain to end');
    assert.ok(phases.some(([p]) => p === 'waiting'));
    assert.ok(phases.every(([, i]) => i.paths === undefined));
    drainer.detach();
  });
});
