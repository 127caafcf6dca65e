/**
 * Malformed and hostile input during a drain (issue 12). While a drain is under way (a fixed
 * 1.5 s deregistration window, then the wait) and under a normal bounded load, raw connections
 * send random bytes, truncated request lines, oversized headers, conflicting Content-Length and
 * Transfer-Encoding, duplicate Content-Length, WebSocket upgrades with bad keys and versions, an
 * HTTP/2 preface to an HTTP/1 server and HTTP/1 (and random) bytes to an HTTP/2 server, and
 * request bodies that never end.
 *
 * Asserted: the in-flight and persistent counts and the open connections return to zero; no
 * connection outlives the drain (each is bounded; a hang fails); well-formed requests in flight
 * complete with 200 and the load's requests are answered 200 (or refused once the listener is
 * closed); nothing malformed is upgraded or answered 2xx; and the drain result counts what was
 * forced: the never-ending bodies are exactly `requestsRemaining` and `connectionsForced` at the
 * drain timeout. Each raw connection's close time is recorded: none closes later than the drain's
 * end plus a margin, and most arrived while the listener was open (the refused ones counted).
 *
 * Inputs are drawn from a seeded generator: the seed is printed on failure, and FUZZ_SEED=<seed>
 * replays it.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { createDrainer, type Drainer, type DrainResult } from '../../src/index.js';
import { drainWebSockets } from '../../src/integrations/ws.js';
import { waitFor, withDeadline } from '../helpers/deadline.js';
import { H2_PREFACE, HTTP1_KINDS, fuzzSeed, malformed, seededRandom, sendRaw, type RawOutcome } from './malformed.js';

const WINDOW_MS = 1_500;
const DRAIN_TIMEOUT_MS = 3_000;
/** Hang guard for a whole drain: window + timeout + a generous margin for a shared machine. */
const DRAIN_BOUND_MS = WINDOW_MS + DRAIN_TIMEOUT_MS + 15_000;
const MALFORMED = 150;
const GATED = 8;
const WEBSOCKETS = 4;
/** How long after the drain's end a connection may still close (its destroy's 'close' event): a hang guard. */
const CLOSE_MARGIN_MS = 2_000;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prints the seed when the test fails, so FUZZ_SEED replays it. */
function seeded(t: TestContext): { seed: number; random: () => number; pass: () => void } {
  const seed = fuzzSeed();
  let passed = false;
  t.after(() => {
    if (!passed) t.diagnostic(`fuzz seed ${seed}: replay with FUZZ_SEED=${seed} node scripts/run-tests.mjs test/fuzz/drain-input.test.ts`);
  });
  return { seed, random: seededRandom(seed), pass: () => (passed = true) };
}

/** An HTTP/1 server like an application's: routes, a gate for requests held in flight, a WebSocket echo. */
function http1App() {
  const server = http.createServer();
  // The spread (default 2.5 s) must fit well inside the short drain timeout, or the WebSockets
  // would be forced instead of closed.
  const drainer = createDrainer(server, { signals: false, logger: false, deregister: { mode: 'fixed', delayMs: WINDOW_MS }, drainTimeoutMs: DRAIN_TIMEOUT_MS, persistentSpreadMs: 500 });
  const gate: (() => void)[] = [];
  server.on('request', (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    const ok = (): void => {
      if (!res.headersSent && !res.destroyed) res.end('ok');
    };
    if (url.pathname === '/gate') gate.push(ok);
    else if (url.pathname === '/upload') req.resume().once('end', ok);
    else if (url.pathname === '/work') setTimeout(ok, Number(url.searchParams.get('ms') ?? 0));
    else ok();
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
  });
  const sockets = drainWebSockets(drainer, wss, { closeTimeoutMs: 1_000 });
  return { server, drainer, sockets, release: () => gate.splice(0).forEach((f) => f()), gated: () => gate.length };
}

/** One GET on a fresh connection: its status, or the error code (e.g. ECONNREFUSED once the listener closed). */
function getOnce(port: number, path: string): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.once('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

/**
 * A bounded load while the listener is open: `workers` loops of GET /work?ms=5, each on a fresh
 * connection, until the drain closes the listener, at most `max` requests in all.
 */
async function loadUntilClosing(port: number, drainer: Drainer, workers: number, max: number): Promise<{ status?: number; error?: string }[]> {
  const results: { status?: number; error?: string }[] = [];
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < max && (drainer.phase === undefined || drainer.phase === 'deregistering')) {
      sent += 1;
      results.push(await getOnce(port, '/work?ms=5'));
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/**
 * A request whose body never ends: headers, a few bytes, then one byte every 100 ms until the
 * server closes the connection (or `boundMs`). Resolves with how it ended.
 */
function neverEndingBody(port: number, chunked: boolean, boundMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = 0;
    let trickle: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => finish(true), boundMs);
    let error: string | undefined;
    let connected = false;
    const finish = (hung: boolean): void => {
      clearTimeout(timer);
      clearInterval(trickle);
      socket.destroy();
      resolve({ kind: chunked ? 'never-ending-chunked' : 'never-ending-length', status: undefined, received, refused: !connected && error === 'ECONNREFUSED', hung, error, closedAt: Date.now() });
    };
    socket.on('connect', () => {
      connected = true;
      const framing = chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 1000000';
      socket.write(`POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n${framing}\r\n\r\n${chunked ? '1\r\na\r\n' : 'abc'}`);
      trickle = setInterval(() => {
        if (socket.writable) socket.write(chunked ? '1\r\nb\r\n' : 'b');
      }, 100);
    });
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code));
    socket.on('close', () => finish(false));
  });
}

/**
 * Sends `count` malformed HTTP/1 inputs of seeded kinds, each at a seeded moment within `spanMs`.
 * `selfEnding`: only inputs that end with our FIN (the server closes each of them on its own, so
 * none is left for the drain timeout to force).
 */
function sprayMalformed(port: number, random: () => number, count: number, spanMs: number, boundMs: number, selfEnding = false): Promise<RawOutcome[]> {
  const kinds = selfEnding ? HTTP1_KINDS.filter((k) => k !== 'truncated-request-line-open') : HTTP1_KINDS;
  return Promise.all(
    Array.from({ length: count }, async () => {
      const kind = kinds[Math.floor(random() * kinds.length)]!;
      const drawn = malformed(kind, random);
      const input = selfEnding ? { ...drawn, fin: true } : drawn;
      await sleep(Math.floor(random() * spanMs));
      return sendRaw(port, input, boundMs);
    }),
  );
}

function openWebSocket(port: number): Promise<{ closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.once('open', () => resolve({ closed }));
    ws.once('error', reject);
  });
}

/** Counts of how raw connections ended, by kind: status code, `closed`, `refused` or `hung`. */
function tally(outcomes: readonly RawOutcome[]): Record<string, Record<string, number>> {
  const byKind: Record<string, Record<string, number>> = {};
  for (const o of outcomes) {
    const key = o.hung ? 'hung' : o.refused ? 'refused' : o.status === undefined ? 'closed' : String(o.status);
    const row = (byKind[o.kind] ??= {});
    row[key] = (row[key] ?? 0) + 1;
  }
  return byKind;
}

/**
 * The raw connections arrived while the listener was open (most of them: one drawn for the last
 * moments of the window may be refused), and none closed later than the drain's end plus a
 * margin: nothing hung past the drain timeout.
 */
function assertArrivedAndClosedInTime(outcomes: readonly RawOutcome[], drainEndedAt: number): void {
  const refused = outcomes.filter((o) => o.refused).length;
  assert.ok(refused <= outcomes.length / 10, `${refused} of ${outcomes.length} malformed connections were refused: most must reach the open listener`);
  const late = outcomes.filter((o) => o.closedAt > drainEndedAt + CLOSE_MARGIN_MS).map((o) => `${o.kind} +${o.closedAt - drainEndedAt} ms`);
  assert.deepEqual(late, [], `connections that closed more than ${CLOSE_MARGIN_MS} ms after the drain ended`);
}

/** What every HTTP/1 run asserts once the drain is over. */
async function assertSettled(drainer: Drainer, outcomes: readonly RawOutcome[], drainEndedAt: number): Promise<void> {
  assert.equal(drainer.inflight, 0, 'in-flight count back to zero');
  assert.equal(drainer.persistent.size, 0, 'persistent count back to zero');
  // Sockets destroyed at the drain's end emit 'close' on a later tick.
  await waitFor('every client connection closed', () => drainer.connections === 0, 5_000);
  assert.deepEqual(outcomes.filter((o) => o.hung), [], 'no connection outlived the drain');
  assertArrivedAndClosedInTime(outcomes, drainEndedAt);
  const accepted = outcomes.filter((o) => o.status !== undefined && (o.status === 101 || (o.status >= 200 && o.status < 300)));
  assert.deepEqual(accepted, [], 'nothing malformed was upgraded or answered 2xx');
}

interface Http1Run {
  readonly result: DrainResult;
  /** When the drain's promise settled (`Date.now()`). */
  readonly drainEndedAt: number;
  readonly gatedStatuses: readonly (number | undefined)[];
  readonly load: readonly { status?: number; error?: string }[];
  readonly outcomes: readonly RawOutcome[];
  readonly closeCodes: readonly number[];
  readonly drainer: Drainer;
  readonly wsStats: ReturnType<typeof http1App>['sockets']['stats'];
}

/** Drains an HTTP/1 app under load and malformed input; `neverEnding` never-ending bodies among it. */
async function http1Run(t: TestContext, random: () => number, neverEnding: number): Promise<Http1Run> {
  const app = http1App();
  const port = await listen(app.server);
  t.after(() => app.server.close());
  const gated = Array.from({ length: GATED }, () => getOnce(port, '/gate'));
  const sockets = await Promise.all(Array.from({ length: WEBSOCKETS }, () => openWebSocket(port)));
  await waitFor('the gated requests in flight', () => app.gated() === GATED);

  const drain = app.drainer.drain('fuzz');
  let drainEndedAt = 0;
  void drain.then(() => (drainEndedAt = Date.now()), () => undefined);
  const load = loadUntilClosing(port, app.drainer, 4, 500);
  const endless = Array.from({ length: neverEnding }, (_, i) => neverEndingBody(port, i % 2 === 1, DRAIN_BOUND_MS));
  // With never-ending bodies, only inputs the server closes on its own: the timeout then forces
  // exactly the never-ending ones.
  const spray = sprayMalformed(port, random, MALFORMED, WINDOW_MS, DRAIN_BOUND_MS, neverEnding > 0);
  // The held requests complete in the middle of the window, as a slow endpoint's would.
  await sleep(WINDOW_MS / 2);
  app.release();

  const result = await withDeadline(drain, DRAIN_BOUND_MS, 'the drain to end');
  const outcomes = [...(await spray), ...(await Promise.all(endless))];
  const closeCodes = await withDeadline(Promise.all(sockets.map((s) => s.closed)), 5_000, 'the WebSockets to close');
  const gatedStatuses = (await Promise.all(gated)).map((g) => g.status);
  t.diagnostic(`outcomes ${JSON.stringify(tally(outcomes))}`);
  return { result, drainEndedAt, gatedStatuses, load: await load, outcomes, closeCodes, drainer: app.drainer, wsStats: app.sockets.stats };
}

function assertWellFormedServed(run: Http1Run): void {
  assert.deepEqual(run.gatedStatuses, Array(GATED).fill(200), 'requests in flight at drain start completed with 200');
  const answered = run.load.filter((r) => r.status !== undefined);
  assert.ok(answered.length > 0, 'the load ran during the window');
  assert.deepEqual(answered.filter((r) => r.status !== 200), [], 'the load was answered 200');
  // A worker that connects just as the listener closes is refused: the balancer's job, not a failure of the drain.
  assert.deepEqual(run.load.filter((r) => r.error !== undefined && r.error !== 'ECONNREFUSED'), [], 'no load request failed mid-way');
  assert.deepEqual(run.closeCodes, Array(WEBSOCKETS).fill(1001), 'WebSockets went away with 1001');
  assert.deepEqual(run.result.persistentClosed.websocket, { clean: WEBSOCKETS, terminated: 0 });
}

describe('malformed input during a drain', { timeout: 120_000 }, () => {
  it('HTTP/1: everything malformed is refused or closed, the load is served, the drain completes', async (t) => {
    const { random, pass } = seeded(t);
    const run = await http1Run(t, random, 0);
    await assertSettled(run.drainer, run.outcomes, run.drainEndedAt);
    assertWellFormedServed(run);
    assert.equal(run.result.outcome, 'completed', `nothing had to be forced: ${JSON.stringify(run.result)}`);
    assert.equal(run.result.requestsRemaining, 0);
    pass();
  });

  it('HTTP/1: request bodies that never end are forced at the drain timeout and counted', async (t) => {
    const { random, pass } = seeded(t);
    const neverEnding = 4;
    const run = await http1Run(t, random, neverEnding);
    await assertSettled(run.drainer, run.outcomes, run.drainEndedAt);
    assertWellFormedServed(run);
    const r = run.result;
    assert.equal(r.outcome, 'forced');
    assert.equal(r.forcedBy, 'timeout');
    assert.equal(r.success, false);
    assert.equal(r.requestsRemaining, neverEnding, 'exactly the never-ending bodies were in flight at the timeout');
    assert.equal(r.persistentRemaining, 0);
    // Every other connection (the load's, the WebSockets, the self-ending malformed ones) was
    // closed before the timeout: the never-ending ones are exactly what was destroyed.
    assert.equal(r.connectionsForced, neverEnding, 'exactly the never-ending bodies\' connections were destroyed and counted');
    const endless = run.outcomes.filter((o) => o.kind.startsWith('never-ending'));
    assert.equal(endless.length, neverEnding);
    assert.deepEqual(endless.filter((o) => o.refused), [], 'the never-ending bodies reached the server');
    assert.deepEqual(endless.filter((o) => o.received > 0), [], 'a never-ending body is never answered, only cut');
    pass();
  });

  it('HTTP/2: HTTP/1 bytes, random bytes and broken frames are closed; streams in flight complete', async (t) => {
    const { random, pass } = seeded(t);
    const server = http2.createServer();
    const drainer = createDrainer(server, { signals: false, logger: false, deregister: { mode: 'fixed', delayMs: WINDOW_MS }, drainTimeoutMs: DRAIN_TIMEOUT_MS });
    const gate: (() => void)[] = [];
    server.on('stream', (stream, headers) => {
      const answer = (): void => {
        if (stream.closed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      };
      if (headers[':path'] === '/gate') gate.push(answer);
      else answer();
    });
    const port = await listen(server);
    t.after(() => server.close());
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const gatedStatus = Array.from({ length: GATED }, () => h2Get(session, '/gate'));
    await waitFor('the gated streams in flight', () => gate.length === GATED);

    const drain = drainer.drain('fuzz');
    let drainEndedAt = 0;
    void drain.then(() => (drainEndedAt = Date.now()), () => undefined);
    const inputs = Array.from({ length: MALFORMED }, () => h2Malformed(random));
    const spray = Promise.all(inputs.map(async (input) => {
      await sleep(Math.floor(random() * WINDOW_MS));
      return sendRaw(port, input, DRAIN_BOUND_MS);
    }));
    // Well-formed sessions opened during the window are served too (until the listener closes).
    const during = await Promise.all(Array.from({ length: 5 }, async () => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => undefined);
      try {
        return await h2Get(s, '/');
      } finally {
        s.close();
      }
    }));
    await sleep(WINDOW_MS / 2);
    gate.splice(0).forEach((f) => f());

    const result = await withDeadline(drain, DRAIN_BOUND_MS, 'the drain to end');
    const outcomes = await spray;
    t.diagnostic(`outcomes ${JSON.stringify(tally(outcomes))}`);
    assert.deepEqual(await Promise.all(gatedStatus), Array(GATED).fill(200), 'streams in flight at drain start completed with 200');
    assert.deepEqual(during, Array(5).fill(200), 'sessions opened during the window were served');
    assert.equal(drainer.inflight, 0);
    await waitFor('every client connection closed', () => drainer.connections === 0, 5_000);
    assert.deepEqual(outcomes.filter((o) => o.hung), [], 'no connection outlived the drain');
    assertArrivedAndClosedInTime(outcomes, drainEndedAt);
    assert.deepEqual(outcomes.filter((o) => o.status !== undefined && o.status < 400), [], 'no HTTP/1 success from an HTTP/2 server');
    assert.equal(result.outcome, 'completed', `nothing had to be forced: ${JSON.stringify(result)}`);
    pass();
  });
});

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<number | string> {
  return withDeadline(new Promise((resolve) => {
    const req = session.request({ ':path': path });
    let status: number | undefined;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.resume();
    req.on('end', () => resolve(status ?? 'no status'));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  }), 15_000, `h2 GET ${path}`);
}

/** Malformed input for an HTTP/2 server: HTTP/1 requests, random bytes, a truncated preface, the preface then garbage frames. */
function h2Malformed(random: () => number): { kind: string; payload: Buffer; fin: boolean } {
  const pick = Math.floor(random() * 4);
  const garbage = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  switch (pick) {
    case 0:
      return { kind: 'http1-request', payload: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1'), fin: random() < 0.5 };
    case 1:
      return { kind: 'random-bytes', payload: garbage(1 + Math.floor(random() * 2048)), fin: random() < 0.5 };
    case 2:
      return { kind: 'truncated-preface', payload: H2_PREFACE.subarray(0, 1 + Math.floor(random() * 20)), fin: random() < 0.5 };
    default:
      return { kind: 'preface-then-garbage', payload: Buffer.concat([H2_PREFACE, garbage(9 + Math.floor(random() * 200))]), fin: random() < 0.5 };
  }
}
