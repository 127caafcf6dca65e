/**
 * drainkit/sse and drainkit/long-poll in process, with real HTTP clients on 127.0.0.1: the bytes
 * of the stream, its drain ending, a stream opened while draining, long-polls answered in the
 * tick of the persistent phase.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { createDrainer } from '../../src/core/drainer.js';
import type { Drainer, DrainerOptions } from '../../src/core/types.js';
import { parkLongPoll, type LongPoll, type LongPollOptions } from '../../src/integrations/long-poll.js';
import { openEventStream, type EventStream, type EventStreamOptions } from '../../src/integrations/sse.js';
import { listen, rawExchange, within } from './clients.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function serve(handler: (drainer: Drainer) => http.RequestListener, options: DrainerOptions = {}): Promise<{ port: number; drainer: Drainer }> {
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0, ...options });
  server.on('request', handler(drainer));
  const port = await listen(server);
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port, drainer };
}

/** Reads a response body as text until `predicate` holds or the stream ends. */
async function readUntil(res: Response, predicate: (text: string) => boolean): Promise<{ text: string; done: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const chunk = await within(reader.read(), 10_000, 'stream read');
    if (chunk.done) return { text, done: true };
    text += decoder.decode(chunk.value, { stream: true });
    if (predicate(text)) {
      reader.releaseLock();
      return { text, done: false };
    }
  }
}

describe('drainkit/sse', () => {
  it('streams events with ids and keep-alive comments, then ends with retry and the final event on drain', async () => {
    let stream: EventStream | undefined;
    const { port, drainer } = await serve((d) => (req, res) => {
      stream = openEventStream(d, req, res, { keepAliveMs: 30, reconnectMs: 1234 });
      stream.send('one');
      stream.send('two\nlines', { event: 'multi' });
      stream.send('three', { id: 'custom-7' });
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
    const head = await readUntil(res, (t) => t.includes(':\n\n'));
    assert.ok(head.text.startsWith('id: 1\ndata: one\n\nevent: multi\nid: 2\ndata: two\ndata: lines\n\nid: custom-7\ndata: three\n\n'), head.text);
    assert.equal(drainer.persistent.size, 1);
    assert.equal(drainer.inflight, 0, 'the stream left the in-flight count');

    const result = await within(drainer.drain(), 10_000, 'drain');
    const rest = await readUntil(res, () => false);
    assert.equal(rest.done, true);
    assert.ok(rest.text.endsWith('retry: 1234\nid: custom-7\nevent: drainkit-reconnect\ndata: {"reason":"draining","reconnectMs":1234}\n\n'), rest.text);
    assert.equal(stream?.goneAway, true);
    assert.equal(result.success, true);
  });

  it('serves a stream opened while draining with 200, then ends it the same way (never 503 or 204)', async () => {
    const { port, drainer } = await serve(
      (d) => (req, res) => {
        const s = openEventStream(d, req, res);
        s.send('hello');
      },
      { persistentShutdown: 'drain-start', deregister: { mode: 'fixed', delayMs: 60_000 } },
    );
    const drained = drainer.drain();
    assert.equal(drainer.persistent.shuttingDown, true);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    const all = await readUntil(res, () => false);
    assert.match(all.text, /^id: 1\ndata: hello\n\nretry: 1000\nid: 1\nevent: drainkit-reconnect\n/);
    await drainer.force();
    await drained;
  });

  it('continues numeric ids after Last-Event-ID and rejects a line break in an event name', async () => {
    let thrown: unknown;
    const { port, drainer } = await serve((d) => (req, res) => {
      const s = openEventStream(d, req, res);
      s.send('x');
      try {
        s.send('y', { event: 'a\nb' });
      } catch (err) {
        thrown = err;
      }
      s.close();
    });
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'last-event-id': '99' } });
    const all = await readUntil(res, () => false);
    assert.equal(all.text, 'id: 100\ndata: x\n\n');
    assert.equal((thrown as { code?: string } | undefined)?.code, 'ERR_DRAINKIT_INVALID_OPTION');
    assert.equal(drainer.persistent.size, 0);
  });

  it('rejects unknown and out-of-range options', async () => {
    const errors: unknown[] = [];
    const { port } = await serve((d) => (req, res) => {
      for (const bad of [{ keepAliveMs: -1 }, { reconnectMs: 1.5 }, { retry: 5 }] as EventStreamOptions[]) {
        try {
          openEventStream(d, req, res, bad);
        } catch (err) {
          errors.push(err);
        }
      }
      res.end();
    });
    await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.deepEqual(errors.map((e) => (e as { code: string }).code), ['ERR_DRAINKIT_INVALID_OPTION', 'ERR_DRAINKIT_INVALID_OPTION', 'ERR_DRAINKIT_UNKNOWN_OPTION']);
  });
});

describe('drainkit/long-poll', () => {
  async function pollServer(options?: LongPollOptions, drainerOptions?: DrainerOptions) {
    const polls: LongPoll[] = [];
    const parked: (() => void)[] = [];
    const s = await serve((d) => (_req, res) => {
      polls.push(parkLongPoll(d, res, options));
      for (const p of parked.splice(0)) p();
    }, drainerOptions);
    const waitParked = (n: number): Promise<void> =>
      within(
        new Promise<void>((resolve) => {
          const check = (): void => (polls.length >= n ? resolve() : void parked.push(check));
          check();
        }),
        10_000,
        `${n} polls parked`,
      );
    return { ...s, polls, waitParked };
  }

  it('answers every pending poll in the tick the persistent phase begins, not over the spread', async () => {
    // A 60 s spread: were long-polls spread like WebSockets, they would not all be answered within the bound below.
    const { port, drainer, polls, waitParked } = await pollServer(undefined, { persistentSpreadMs: 60_000 });
    const requests = Array.from({ length: 5 }, () => fetch(`http://127.0.0.1:${port}/`));
    await waitParked(5);
    assert.equal(drainer.persistent.size, 5);
    assert.equal(drainer.inflight, 0);
    let persistentAt = 0;
    drainer.on('phase', (phase) => {
      if (phase === 'persistent') persistentAt = performance.now();
    });
    const drained = drainer.drain();
    const answers = await within(Promise.all(requests), 5_000, 'all polls answered');
    const answeredAt = performance.now();
    for (const res of answers) {
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('connection'), 'close');
      assert.equal(res.headers.get('content-length'), null);
    }
    assert.ok(persistentAt > 0 && answeredAt - persistentAt < 2_000, 'answered right after the persistent phase began');
    assert.ok(polls.every((p) => p.answeredByDrain && p.settled));
    const result = await within(drained, 10_000, 'drain');
    assert.equal(result.success, true);
  });

  it('answers with the status, body and headers the application chose, and at once when parked after the shutdown began', async () => {
    const { port, drainer, waitParked } = await pollServer(
      { drainStatus: 200, drainBody: '{"events":[]}', drainHeaders: { 'content-type': 'application/json' } },
      { persistentShutdown: 'drain-start', deregister: { mode: 'fixed', delayMs: 60_000 } },
    );
    const before = fetch(`http://127.0.0.1:${port}/`);
    await waitParked(1);
    const drained = drainer.drain();
    const first = await within(before, 5_000, 'parked poll answered');
    assert.equal(first.status, 200);
    assert.equal(await first.text(), '{"events":[]}');
    // Parked while the drain is under way: answered as it parks.
    const late = rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
    const head = await within(late.head, 5_000, 'late poll answered');
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\nconnection: close\r\n/i);
    assert.match(head, /\r\ncontent-type: application\/json\r\n/i);
    late.socket.destroy();
    await drainer.force();
    await drained;
  });

  it('lets the application answer first, and never writes twice', async () => {
    const { port, drainer, polls, waitParked } = await pollServer();
    const req = fetch(`http://127.0.0.1:${port}/`);
    await waitParked(1);
    assert.equal(polls[0]!.respond(200, 'message'), true);
    assert.equal(polls[0]!.respond(200, 'again'), false);
    const res = await req;
    assert.equal(await res.text(), 'message');
    const result = await drainer.drain();
    assert.equal(result.success, true);
    assert.equal(polls[0]!.answeredByDrain, false);
  });

  it('rejects a body with 204', async () => {
    let thrown: unknown;
    const { port } = await serve((d) => (_req, res) => {
      try {
        parkLongPoll(d, res, { drainBody: 'x' });
      } catch (err) {
        thrown = err;
      }
      res.end();
    });
    await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.equal((thrown as { code?: string }).code, 'ERR_DRAINKIT_INVALID_OPTION');
    assert.match((thrown as Error).message, /drainStatus 204/);
  });
});
