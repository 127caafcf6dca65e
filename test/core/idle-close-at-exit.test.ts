/**
 * Idle keep-alive connections left for the process's exit (Tracker#closeIdle with
 * TrackerHost.idleCloseAtExit): when the drain that closes the listener has nothing left to wait
 * for and the process ends with it, the idle connections are paused, not destroyed, and the
 * exit's close of every descriptor ends them. Paused means read no more: a request that arrives
 * on one is never handed to the application (it could not be answered before the exit). When
 * the exit does not come at once, closeDeferred destroys them after all. Each case has its
 * control: the same close without the exit destroys them at once.
 *
 * test/core/exit-early.test.ts shows the whole path in a child process: every client gets a
 * clean FIN from the exit, and no socket's close callback ran before it.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { closeListener } from '../../src/core/server-wiring.js';
import { Tracker } from '../../src/core/tracker.js';
import { withDeadline } from '../helpers/deadline.js';

interface Client {
  readonly socket: net.Socket;
  /** How the server ended the connection: 'end' (a FIN), or the error's code. */
  readonly ended: Promise<string>;
  /** Bytes received after the first response. */
  later(): string;
}

/** A keep-alive connection that sent one GET, read its answer, and idles. */
function idleClient(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let seen = '';
    let answered = false;
    let later = '';
    const ended = new Promise<string>((settle) => {
      socket.on('end', () => settle('end'));
      socket.on('error', (e: NodeJS.ErrnoException) => settle(e.code ?? 'error'));
      socket.on('close', () => settle('closed'));
    });
    socket.once('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => {
      if (answered) {
        later += chunk.toString('latin1');
        return;
      }
      seen += chunk.toString('latin1');
      if (/\r\n\r\nok/.test(seen)) {
        answered = true;
        resolve({ socket, ended, later: () => later });
      }
    });
    socket.once('error', reject);
  });
}

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
});

async function setup(idleCloseAtExit: boolean, slow = false): Promise<{ server: http.Server; tracker: Tracker; port: number; served: string[]; finishSlow: () => void }> {
  const tracker = new Tracker(
    { lingerMs: 2_000, leaveIdleToClient: false, idleCloseAtExit: () => idleCloseAtExit, onActivity: () => undefined, onRelease: () => undefined, onNodeAssumptionBroken: () => undefined },
    [],
  );
  const served: string[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    served.push(req.url ?? '');
    if (req.url === '/slow') held.push(res);
    else res.end('ok');
  });
  servers.push(server);
  server.on('connection', tracker.onConnection);
  server.prependListener('request', tracker.onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  if (slow) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!served.includes('/slow')) await new Promise((r) => setTimeout(r, 5));
  }
  return { server, tracker, port, served, finishSlow: () => held.forEach((r) => r.end('ok')) };
}

describe('idle connections left for the exit', () => {
  it('are paused at the listener close: none is closed, and a request sent on one is never read', async () => {
    const { server, tracker, port, served } = await setup(true);
    const clients = await Promise.all([1, 2, 3].map(() => idleClient(port)));
    tracker.startDrain();
    await withDeadline(closeListener(server, tracker), 10_000, 'the listener to close');
    assert.equal(tracker.closingAtExit.size, 3, 'all three left for the exit');
    const early = await Promise.race([Promise.any(clients.map((c) => c.ended)), new Promise((r) => setTimeout(() => r('still open'), 200))]);
    assert.equal(early, 'still open', 'no connection ended before the exit');
    clients[0]!.socket.write('POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(served, ['/', '/', '/'], 'the late request was not handed to the application');
    assert.equal(clients[0]!.later(), '', 'nor answered');
    // What the exit does in the kernel, closeDeferred does when the exit does not come at once.
    tracker.closeDeferred();
    const ends = await withDeadline(Promise.all(clients.map((c) => c.ended)), 10_000, 'every connection to end');
    assert.equal(tracker.closingAtExit.size, 0);
    assert.deepEqual(ends.slice(1), ['end', 'end'], 'the idle ones end with a FIN');
    assert.equal(served.includes('/late'), false);
  });

  it('control: without an exit to follow, the same close destroys them at once', async () => {
    const { server, tracker, port } = await setup(false);
    const clients = await Promise.all([1, 2, 3].map(() => idleClient(port)));
    tracker.startDrain();
    await withDeadline(closeListener(server, tracker), 10_000, 'the listener to close');
    assert.equal(tracker.closingAtExit.size, 0);
    assert.deepEqual(await withDeadline(Promise.all(clients.map((c) => c.ended)), 10_000, 'every connection to end'), ['end', 'end', 'end']);
  });

  it('are destroyed at once when a request is still in flight: the drain goes on, and they must not stay open meanwhile', async () => {
    const { server, tracker, port, finishSlow } = await setup(true, true);
    const clients = await Promise.all([1, 2].map(() => idleClient(port)));
    tracker.startDrain();
    await withDeadline(closeListener(server, tracker), 10_000, 'the listener to close');
    assert.equal(tracker.closingAtExit.size, 0, 'nothing left for the exit');
    assert.deepEqual(await withDeadline(Promise.all(clients.map((c) => c.ended)), 10_000, 'the idle connections to end'), ['end', 'end']);
    finishSlow();
  });
});
