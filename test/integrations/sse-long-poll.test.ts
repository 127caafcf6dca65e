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
import { fetchText, listen, rawExchange, within } from './clients.js';

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
    const res = await within(fetch(`http://127.0.0.1:${port}/`), 10_000, 'the stream response');
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
    const res = await within(fetch(`http://127.0.0.1:${port}/`), 10_000, 'the stream response');
    assert.equal(res.status, 200);
    const all = await readUntil(res, () => false);
    assert.match(all.text, /^id: 1\ndata: hello\n\nretry: 1000\nid: 1\nevent: drainkit-reconnect\n/);
    const forced = await within(drainer.force(), 10_000, 'the forced drain');
    assert.equal(await within(drained, 10_000, 'the drain promise'), forced);
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
    const res = await within(fetch(`http://127.0.0.1:${port}/`, { headers: { 'last-event-id': '99' } }), 10_000, 'the stream response');
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
    await fetchText(`http://127.0.0.1:${port}/`);
    assert.deepEqual(errors.map((e) => (e as { code: string }).code), ['ERR_DRAINKIT_INVALID_OPTION', 'ERR_DRAINKIT_INVALID_OPTION', 'ERR_DRAINKIT_UNKNOWN_OPTION']);
  });

  it('rejects bad autoIds, goAwayEvent and headers with a DrainkitError naming the option, before answering', async () => {
    const errors: unknown[] = [];
    const bads: [EventStreamOptions, RegExp][] = [
      [{ autoIds: 'no' as never }, /option "autoIds" is "no"; accepted: true or false/],
      [{ goAwayEvent: '' }, /option "goAwayEvent" is ""; accepted: a non-empty string/],
      [{ headers: { 'bad header': 'x' } }, /option "headers" .*header names that are HTTP tokens; "bad header" is not/],
      [{ headers: { 'x-a': 'a\r\nb' } }, /option "headers.x-a" .*accepted: a header value without control characters/],
      [{ headers: { 'x-n': 5 as never } }, /option "headers.x-n" is 5; accepted: a string/],
      [{ headers: { 'Content-Type': 'text/html' } }, /option "headers.Content-Type" .*no .*"content-type".* header \(drainkit sets it\)/],
      [{ headers: 'x-a: b' as never }, /option "headers" is "x-a: b"; accepted: an object of header names/],
    ];
    const { port } = await serve((d) => (req, res) => {
      for (const [bad] of bads) {
        try {
          openEventStream(d, req, res, bad);
        } catch (err) {
          errors.push(err);
        }
      }
      // Every refusal came before the stream answered: the response is still unstarted.
      res.end(res.headersSent ? 'started' : 'unstarted');
    });
    assert.equal((await fetchText(`http://127.0.0.1:${port}/`)).body, 'unstarted');
    assert.equal(errors.length, bads.length, `every bad option refused: ${errors.map(String).join('; ')}`);
    errors.forEach((err, i) => {
      assert.equal((err as { name?: string }).name, 'DrainkitError', String(err));
      assert.equal((err as { code?: string }).code, 'ERR_DRAINKIT_INVALID_OPTION', String(err));
      assert.match((err as Error).message, bads[i]![1]);
    });
  });

  it('rejects a non-string event or comment and what is not a drainer, request or response', async () => {
    const errors: unknown[] = [];
    const { port, drainer } = await serve((d) => (req, res) => {
      for (const attempt of [() => openEventStream({} as never, req, res), () => openEventStream(d, undefined as never, res), () => openEventStream(d, req, {} as never)]) {
        try {
          attempt();
        } catch (err) {
          errors.push(err);
        }
      }
      const s = openEventStream(d, req, res);
      for (const attempt of [() => s.send({ n: 1 } as never), () => s.comment(7 as never), () => s.send('x', { evnt: 'a' } as never)]) {
        try {
          attempt();
        } catch (err) {
          errors.push(err);
        }
      }
      s.send('still open');
      s.close();
    });
    const res = await within(fetch(`http://127.0.0.1:${port}/`), 10_000, 'the stream response');
    assert.equal((await readUntil(res, () => false)).text, 'id: 1\ndata: still open\n\n');
    assert.deepEqual(
      errors.map((e) => [(e as { name?: string }).name, (e as { code?: string }).code]),
      [
        ['DrainkitError', 'ERR_DRAINKIT_INVALID_ARGUMENT'],
        ['DrainkitError', 'ERR_DRAINKIT_INVALID_ARGUMENT'],
        ['DrainkitError', 'ERR_DRAINKIT_INVALID_ARGUMENT'],
        ['DrainkitError', 'ERR_DRAINKIT_INVALID_ARGUMENT'],
        ['DrainkitError', 'ERR_DRAINKIT_INVALID_ARGUMENT'],
        ['DrainkitError', 'ERR_DRAINKIT_UNKNOWN_OPTION'],
      ],
      errors.map(String).join('\n'),
    );
    assert.match((errors[0] as Error).message, /as drainer; accepted: the drainer returned by createDrainer/);
    assert.match((errors[1] as Error).message, /as req; accepted: a request/);
    assert.match((errors[2] as Error).message, /as res; accepted: a response/);
    assert.match((errors[3] as Error).message, /stream\.send\(data\) got an object as data; accepted: a string/);
    assert.equal(drainer.persistent.size, 0);
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
    assert.equal(await within(first.text(), 10_000, 'the drain answer body'), '{"events":[]}');
    // Parked while the drain is under way: answered as it parks.
    const late = rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
    const head = await within(late.head, 5_000, 'late poll answered');
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\nconnection: close\r\n/i);
    assert.match(head, /\r\ncontent-type: application\/json\r\n/i);
    late.socket.destroy();
    const forced = await within(drainer.force(), 10_000, 'the forced drain');
    assert.equal(await within(drained, 10_000, 'the drain promise'), forced);
  });

  it('lets the application answer first, and never writes twice', async () => {
    const { port, drainer, polls, waitParked } = await pollServer();
    const req = fetch(`http://127.0.0.1:${port}/`);
    await waitParked(1);
    assert.equal(polls[0]!.respond(200, 'message'), true);
    assert.equal(polls[0]!.respond(200, 'again'), false);
    const res = await within(req, 10_000, 'the answered poll');
    assert.equal(await within(res.text(), 10_000, 'its body'), 'message');
    const result = await within(drainer.drain(), 10_000, 'the drain');
    assert.equal(result.success, true);
    assert.equal(polls[0]!.answeredByDrain, false);
  });

  it('refuses drain answers that would fail inside the drain: a body that is not bytes, headers Node rejects, headers drainkit sets', async () => {
    // Each of these used to be accepted here and to throw only when the drain answered the poll,
    // where the error was lost and the poll held the drain until it was forced.
    const bads: [LongPollOptions, RegExp][] = [
      [{ drainStatus: 200, drainBody: 42 as never }, /option "drainBody" is 42; accepted: a string or a Uint8Array/],
      [{ drainHeaders: { 'x-a': 'a\nb' } }, /option "drainHeaders.x-a" .*accepted: a header value without control characters/],
      [{ drainHeaders: { 'x y': 'b' } }, /option "drainHeaders" .*"x y" is not/],
      [{ drainHeaders: { Connection: 'keep-alive' } }, /option "drainHeaders.Connection" is "keep-alive"; accepted: no .*"connection"/],
      [{ drainHeaders: { 'content-length': '3' } }, /option "drainHeaders.content-length"/],
    ];
    const errors: unknown[] = [];
    const { port } = await serve((d) => (_req, res) => {
      for (const [bad] of bads) {
        try {
          parkLongPoll(d, res, bad);
        } catch (err) {
          errors.push(err);
        }
      }
      try {
        parkLongPoll({} as never, res);
      } catch (err) {
        errors.push(err);
      }
      try {
        parkLongPoll(d, { headersSent: false } as never);
      } catch (err) {
        errors.push(err);
      }
      res.end();
    });
    await fetchText(`http://127.0.0.1:${port}/`);
    assert.equal(errors.length, bads.length + 2, errors.map(String).join('\n'));
    bads.forEach(([, message], i) => {
      assert.equal((errors[i] as { code?: string }).code, 'ERR_DRAINKIT_INVALID_OPTION', String(errors[i]));
      assert.match((errors[i] as Error).message, message);
    });
    assert.equal((errors[bads.length] as { code?: string }).code, 'ERR_DRAINKIT_INVALID_ARGUMENT');
    assert.match((errors[bads.length] as Error).message, /parkLongPoll\(drainer, res\) got an object as drainer/);
    assert.equal((errors[bads.length + 1] as { code?: string }).code, 'ERR_DRAINKIT_INVALID_ARGUMENT');
    assert.match((errors[bads.length + 1] as Error).message, /as res; accepted: a response/);
  });

  it('respond refuses a bad status, body or header with a DrainkitError and leaves the poll parked', async () => {
    const { port, drainer, polls, waitParked } = await pollServer();
    const req = fetch(`http://127.0.0.1:${port}/`);
    await waitParked(1);
    const poll = polls[0]!;
    assert.throws(() => poll.respond(99), { name: 'DrainkitError', code: 'ERR_DRAINKIT_INVALID_ARGUMENT', message: /poll\.respond\(status\) got 99 as status; accepted: an integer from 200 to 599/ });
    assert.throws(() => poll.respond(700), { code: 'ERR_DRAINKIT_INVALID_ARGUMENT' });
    assert.throws(() => poll.respond(200, 5 as never), { code: 'ERR_DRAINKIT_INVALID_ARGUMENT', message: /got 5 as body/ });
    assert.throws(() => poll.respond(204, 'x'), { code: 'ERR_DRAINKIT_INVALID_ARGUMENT', message: /an empty body with status 204/ });
    assert.throws(() => poll.respond(200, 'x', { 'x-a': 'a\r\nb' }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /x-a/ });
    assert.equal(poll.settled, false, 'a refused answer leaves the poll parked');
    assert.equal(drainer.persistent.size, 1);
    assert.equal(poll.respond(200, 'message'), true);
    const res = await within(req, 10_000, 'the poll answered');
    assert.equal(await within(res.text(), 10_000, 'its body'), 'message');
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
    await fetchText(`http://127.0.0.1:${port}/`);
    assert.equal((thrown as { code?: string }).code, 'ERR_DRAINKIT_INVALID_OPTION');
    assert.match((thrown as Error).message, /drainStatus 204/);
  });
});
