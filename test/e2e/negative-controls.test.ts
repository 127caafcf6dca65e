/**
 * Negative controls for the subtle failures drainkit prevents, each a server that differs from
 * drainkit by ONE mechanism (test/fixtures/control-server.mjs: drainkit plus one sabotage), each
 * run through the same harness as drainkit itself (the same fixture, no sabotage): drainkit must
 * show zero failures, every control must show failures.
 *
 * - an idle keep-alive connection closed at the start of the window (the close race);
 * - a response tail eaten by an RST (the socket destroyed instead of half-closed after the last
 *   response, with the client's next request on the wire);
 * - no `Connection: close` during the window (keep-alive kept while the listener closes).
 *
 * The harness is a direct socket client, not HAProxy. Through HAProxy each of these failures is
 * probable, not certain: HAProxy watches its idle server connections and drops one the moment
 * the server's FIN arrives, so a reuse only fails inside the microseconds between that FIN and
 * HAProxy's next request on it, and it reads responses as fast as they come, so an RST rarely
 * finds a tail still queued. Here the client's next request is placed exactly where each
 * mechanism bites (after the server acted, observed through its own events, before the client
 * could have noticed), so each control fails every time, on any machine, however loaded.
 * The HAProxy rolling test keeps the control that only a balancer can show (mass refusals).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor, withDeadline } from '../helpers/deadline.js';
import { KeepAliveConnection, type Outcome } from '../helpers/keep-alive-client.js';
import { killTracked, spawnServer, type ServerProcess } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/control-server.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

type Sabotage = 'none' | 'close-idle-at-start' | 'destroy-after-response' | 'keep-alive-in-window';

/** What a scenario saw: every request it made on a connection it had reason to reuse, and the failures among them. */
interface Seen {
  readonly requests: number;
  readonly failures: readonly string[];
}

const CONNECTIONS = 4;

async function start(sabotage: Sabotage, windowMs: number): Promise<ServerProcess> {
  assert.ok(existsSync(BUILT), `${BUILT} is missing: run "npm run build" first (npm test does)`);
  return spawnServer({ args: [FIXTURE, '--sabotage', sabotage, '--window-ms', String(windowMs)] });
}

/** One GET on a fresh connection; undefined when the connection is refused. */
async function freshGet(port: number, path: string): Promise<Outcome | undefined> {
  let conn: KeepAliveConnection;
  try {
    conn = await KeepAliveConnection.open(port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return undefined;
    throw err;
  }
  try {
    return await conn.request(path);
  } finally {
    conn.close();
  }
}

/** SIGTERM, then the first readiness probe answered 503: the drain has begun. */
async function startDrain(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  const deadline = Date.now() + 10_000;
  let last: Outcome | undefined;
  for (;;) {
    last = await freshGet(server.port, '/readyz');
    if (last?.ok && last.status === 503) return;
    if (Date.now() > deadline) throw new Error(`readiness did not answer 503 within 10 s of SIGTERM (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Until a fresh connection is refused: the listener is closed (and idle sockets with it). */
async function listenerClosed(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`the listener on port ${port} was still accepting 20 s after the drain began`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function keptAlive(port: number): Promise<KeepAliveConnection[]> {
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => KeepAliveConnection.open(port)));
  for (const c of conns) {
    const first = await c.request('/');
    assert.ok(first.ok && first.status === 200 && !first.connectionClose, `a keep-alive response before the drain: ${JSON.stringify(first)}`);
  }
  return conns;
}

async function exited(server: ServerProcess): Promise<void> {
  const status = await withDeadline(server.closed, 30_000, `the server (pid ${server.pid}) to exit after its drain`);
  assert.equal(status.code, 0, `the server exited ${JSON.stringify(status)}`);
}

/**
 * (a) The balancer still sends on its pooled connections during the window (it has not seen
 * the 503 yet): the next request goes out on each idle connection right after the drain began.
 */
async function idleConnectionsInWindow(sabotage: Sabotage): Promise<Seen> {
  // A window far longer than the harness needs to send its requests, even on a loaded machine.
  const server = await start(sabotage, 4_000);
  const conns = await keptAlive(server.port);
  await startDrain(server);
  const outcomes = await Promise.all(conns.map((c) => c.request('/')));
  for (const c of conns) c.close();
  await exited(server);
  return { requests: outcomes.length, failures: outcomes.flatMap((o) => (o.ok && o.status === 200 ? [] : [o.ok ? `HTTP ${o.status}` : o.failure])) };
}

/**
 * (b) A large response during the drain, read by a client that is slow to read, with its next
 * request written once the server has handed the whole response to the kernel (the server's
 * `finished` event) and before the client read it: the response must still arrive whole.
 */
async function nextRequestBehindResponse(sabotage: Sabotage): Promise<Seen> {
  const server = await start(sabotage, 4_000);
  const conns = await keptAlive(server.port);
  await startDrain(server);
  const BYTES = 1024 * 1024;
  const failures: string[] = [];
  for (const c of conns) {
    const finishedBefore = server.events.filter((e) => e.event === 'finished').length;
    c.pause();
    c.send(`/bytes?n=${BYTES}`);
    await waitFor(
      'the server to finish writing /bytes (a response larger than the socket buffers would never finish: the client reads nothing yet)',
      () => server.events.filter((e) => e.event === 'finished').length > finishedBefore,
      10_000,
    );
    c.send('/');
    c.resume();
    const outcome = await c.response(`GET /bytes?n=${BYTES}`);
    if (!outcome.ok || outcome.status !== 200 || outcome.bodyBytes !== BYTES) failures.push(outcome.ok ? `HTTP ${outcome.status}` : outcome.failure);
    c.close();
  }
  await exited(server);
  return { requests: conns.length, failures };
}

/**
 * (c) Connections answered during the window are reused by the client only if the server kept
 * them alive (no `Connection: close`), as HTTP allows, for its next request once the listener
 * has closed: the moment idle connections are closed under it.
 */
async function reuseAfterWindow(sabotage: Sabotage): Promise<Seen & { readonly closedInWindow: number }> {
  const server = await start(sabotage, 3_000);
  const conns = await keptAlive(server.port);
  await startDrain(server);
  const inWindow = await Promise.all(conns.map((c) => c.request('/')));
  const failures = inWindow.flatMap((o) => (o.ok && o.status === 200 ? [] : [o.ok ? `HTTP ${o.status}` : o.failure]));
  const reusable = conns.filter((_, i) => {
    const o = inWindow[i]!;
    return o.ok && !o.connectionClose;
  });
  await listenerClosed(server.port);
  const after = await Promise.all(reusable.map((c) => c.request('/')));
  for (const o of after) if (!o.ok || o.status !== 200) failures.push(o.ok ? `HTTP ${o.status}` : o.failure);
  for (const c of conns) c.close();
  await exited(server);
  return { requests: inWindow.length + after.length, failures, closedInWindow: inWindow.filter((o) => o.ok && o.connectionClose).length };
}

describe('negative controls: one mechanism each, through the same harness as drainkit', { timeout: 180_000 }, () => {
  after(() => killTracked());

  it('(a) idle keep-alive connections: drainkit serves them through the window; closing them at its start fails requests', async (t) => {
    const drainkit = await idleConnectionsInWindow('none');
    assert.deepEqual(drainkit, { requests: CONNECTIONS, failures: [] }, 'drainkit fails no request');
    const control = await idleConnectionsInWindow('close-idle-at-start');
    t.diagnostic(`control ${JSON.stringify(control)}`);
    assert.equal(control.failures.length, CONNECTIONS, `every request on a connection closed at the window's start fails: ${JSON.stringify(control)}`);
  });

  it('(b) the response tail: drainkit half-closes after the last response; destroying the socket lets an RST eat it', async (t) => {
    const drainkit = await nextRequestBehindResponse('none');
    assert.deepEqual(drainkit, { requests: CONNECTIONS, failures: [] }, 'drainkit delivers every response whole');
    const control = await nextRequestBehindResponse('destroy-after-response');
    t.diagnostic(`control ${JSON.stringify(control)}`);
    assert.equal(control.failures.length, CONNECTIONS, `every response loses its tail to the RST: ${JSON.stringify(control)}`);
  });

  it('(c) Connection: close in the window: drainkit retires every connection before the listener closes; keeping them alive fails their reuse', async (t) => {
    const drainkit = await reuseAfterWindow('none');
    assert.deepEqual(drainkit, { requests: CONNECTIONS, failures: [], closedInWindow: CONNECTIONS }, 'drainkit closes every connection it answers in the window');
    const control = await reuseAfterWindow('keep-alive-in-window');
    t.diagnostic(`control ${JSON.stringify(control)}`);
    assert.equal(control.closedInWindow, 0, 'the control answers the window keep-alive');
    assert.equal(control.failures.length, CONNECTIONS, `every reuse after the listener closed fails: ${JSON.stringify(control)}`);
  });
});
