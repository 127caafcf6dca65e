/**
 * The exit after a drain (src/core/exit.ts): when nothing but what the drain closed holds the
 * event loop, the process ends at once, before Node runs the close callbacks of the sockets it
 * destroyed; anything else the application left on the loop keeps the natural exit, and the
 * work it does still runs. The child (fixtures/exit-child.mjs) counts its sockets' 'close'
 * events up to its own 'exit' event: fewer than it had connections means the close callbacks
 * were skipped, all of them means the exit was natural. Both outcomes are asserted, so the
 * harness is shown to tell them apart.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { withDeadline } from '../helpers/deadline.js';
import { killAll, spawnServer, type ServerProcess } from '../helpers/processes.js';

const CONNECTIONS = 200;
const started: ServerProcess[] = [];
after(() => killAll(started));

/** A keep-alive connection that sent one request, read its answer, and idles. */
interface IdleClient {
  /** Resolves with how the server ended the connection: 'end' (a FIN), or the error's code. */
  readonly ended: Promise<string>;
}

/** GET `path` on a keep-alive connection, read the answer, and stay idle. */
function idleClient(port: number, path = '/'): Promise<IdleClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const ended = new Promise<string>((settle) => {
      socket.on('end', () => settle('end'));
      socket.on('error', (e: NodeJS.ErrnoException) => settle(e.code ?? 'error'));
      socket.on('close', () => settle('closed without a FIN'));
    });
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      // Headers and the first byte of the body: answered (resolving twice is a no-op).
      if (/\r\n\r\n./s.test(seen)) resolve({ ended });
    });
    socket.once('error', reject);
  });
}

interface Run {
  readonly exit: { code: number | null; closesSeen: number; sigterm: number };
  readonly late: boolean;
  readonly ends: string[];
  readonly warnings: string[];
}

async function drainWith(config: { after: string; health?: boolean }): Promise<Run> {
  const p = await spawnServer({ args: ['test/core/fixtures/exit-child.mjs', JSON.stringify(config)] });
  started.push(p);
  const clients: IdleClient[] = [];
  for (let i = 0; i < CONNECTIONS; i += 1) clients.push(await idleClient(p.port));
  const healthPort = p.events[0]?.healthPort;
  if (typeof healthPort === 'number') clients.push(await idleClient(healthPort, '/readyz'));
  p.child.kill('SIGTERM');
  const status = await withDeadline(p.closed, 20_000, 'the child to exit after SIGTERM');
  const ends = await withDeadline(Promise.all(clients.map((c) => c.ended)), 10_000, 'every client connection to end');
  const exitLine = p.events.find((e) => e.event === 'exit');
  assert.ok(exitLine, `an exit line (stderr: ${p.stderr.map((l) => l.text).join('\n')})`);
  assert.equal(status.code, exitLine.code);
  return {
    exit: { code: status.code, closesSeen: Number(exitLine.closesSeen), sigterm: Number(exitLine.sigterm) },
    late: p.events.some((e) => e.event === 'late'),
    ends,
    warnings: p.events.filter((e) => e.event === 'log').map((e) => JSON.stringify(e.fields)),
  };
}

describe('the exit after a drain', () => {
  it('ends the process at once when only the sockets it closed are left: the exit closes the idle ones, every client with a clean FIN', async () => {
    const run = await drainWith({ after: 'nothing' });
    assert.equal(run.exit.code, 0);
    // The idle connections were left for the exit (Tracker#closeIdle): Node closed none of them.
    assert.equal(run.exit.closesSeen, 0, `the exit came after ${run.exit.closesSeen} of ${CONNECTIONS} close callbacks: Node closed them first`);
    assert.deepEqual(new Set(run.ends), new Set(['end']), 'every connection ended with a FIN, none reset');
    assert.deepEqual(run.warnings, []);
    // Removing them is for a process that lives on (DrainHandles#livingOn); this one did not.
    assert.equal(run.exit.sigterm, 1, 'the signal handler was left for the exit');
  });

  it('ends on the server\'s close after the last response, before that connection\'s own close callback', async () => {
    const p = await spawnServer({ args: ['test/core/fixtures/exit-child.mjs', '{}'] });
    started.push(p);
    const socket = net.connect(p.port, '127.0.0.1');
    let seen = '';
    const answered = new Promise<string>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        // The whole body read: our FIN, as a client does after `Connection: close`.
        if (seen.endsWith('slow')) {
          socket.end();
          resolve(seen);
        }
      });
      socket.once('error', reject);
    });
    await new Promise<void>((resolve) => socket.once('connect', () => socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n', () => resolve())));
    await new Promise((r) => setTimeout(r, 100));
    p.child.kill('SIGTERM');
    const response = await withDeadline(answered, 10_000, 'the in-flight response');
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /\r\nconnection: close\r\n/i);
    const status = await withDeadline(p.closed, 20_000, 'the child to exit after the last response');
    const exitLine = p.events.find((e) => e.event === 'exit');
    assert.ok(exitLine, `an exit line (stderr: ${p.stderr.map((l) => l.text).join('\n')})`);
    assert.equal(status.code, 0);
    // Its descriptor was closed when our FIN came; the server's 'close' followed at once, and
    // the socket's own 'close' only in a later loop phase, which the exit did not wait for.
    assert.equal(exitLine.closesSeen, 0, 'the exit waited for the connection\'s close callback');
  });

  it('counts the health server\'s connections among what the drain closed', async () => {
    const run = await drainWith({ after: 'nothing', health: true });
    assert.equal(run.exit.code, 0);
    assert.ok(run.exit.closesSeen < CONNECTIONS, `the exit came after ${run.exit.closesSeen} of ${CONNECTIONS} close callbacks`);
    assert.deepEqual(new Set(run.ends), new Set(['end']));
  });

  it('lets work that runs on microtasks alone finish first (it needs no natural exit)', async () => {
    const run = await drainWith({ after: 'promises' });
    assert.equal(run.exit.code, 0);
    assert.ok(run.late, 'the promise chain a drained listener started finished before the exit');
  });

  for (const [after, what] of [
    ['timer', 'a timer'],
    ['file', 'a file write'],
    ['beforeExit', "a 'beforeExit' listener"],
  ] as const) {
    it(`keeps the natural exit while ${what} the application started holds the event loop, and runs it`, async () => {
      const run = await drainWith({ after });
      assert.equal(run.exit.code, 0);
      assert.ok(run.late, `${what} ran before the exit`);
      assert.equal(run.exit.closesSeen, CONNECTIONS, 'a natural exit: every close callback ran first');
      assert.deepEqual(new Set(run.ends), new Set(['end']));
      assert.equal(run.exit.sigterm, 0, 'the signal handler was removed while the process lived on');
    });
  }

  it('with a server of the application still listening: waits exitGraceMs, says what held the loop, exits with the drain\'s code', async () => {
    const run = await drainWith({ after: 'server' });
    assert.equal(run.exit.code, 0);
    assert.equal(run.exit.closesSeen, CONNECTIONS, 'the close callbacks ran while the exit waited');
    const forced = run.warnings.find((w) => w.includes('exit_forced'));
    assert.ok(forced, `an exit_forced warning: ${run.warnings.join('\n')}`);
    assert.match(forced, /TCPServerWrap/, 'it names the listening server that held the loop');
    // The process lived on for exitGraceMs: a signal in that time is the process's again.
    assert.equal(run.exit.sigterm, 0, 'the signal handler was removed while the exit waited');
  });
});
