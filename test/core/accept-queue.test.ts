/**
 * The accept queue, read from the kernel (src/core/accept-queue.ts), and the listener close that
 * relies on it: a connection whose handshake the kernel completed after the event loop's last
 * accept, and before the close, is accepted and answered instead of reset. That is the instant in
 * which nginx, which connects until it is refused, loses a POST (docs/nginx.md).
 *
 * The instant is made deterministic: a probe that wraps the real one lets connections complete
 * their handshake (the event loop held, so nothing accepts them) right before it reads the kernel.
 * The negative control is the same close with a probe that sees nothing, as before drainkit read
 * the queue: those connections are reset.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openAcceptQueueProbe, queuedOnLine, type AcceptQueueProbe } from '../../src/core/accept-queue.js';
import { closeListener } from '../../src/core/server-wiring.js';
import { Tracker } from '../../src/core/tracker.js';
import { withDeadline } from '../helpers/deadline.js';

const LINUX = process.platform === 'linux';
const CLIENT = fileURLToPath(new URL('./fixtures/connect-and-post.mjs', import.meta.url));

/** Holds the event loop (nothing is accepted) until `done()` or `ms`; returns whether it came. */
function holdLoopUntil(done: () => boolean, ms: number): boolean {
  const until = Date.now() + ms;
  while (Date.now() < until) if (done()) return true;
  return false;
}

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

describe('the accept queue read from the kernel', { skip: !LINUX && 'reads /proc/self/net/tcp: Linux only' }, () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`counts the connections waiting to be accepted (${host})`, async () => {
      const server = net.createServer((s) => s.destroy());
      const port = await listen(server, host);
      const probe = openAcceptQueueProbe(server);
      assert.ok(probe, 'a probe on a TCP listener on Linux');
      try {
        assert.equal(probe.length(), 0, 'nothing waits yet');
        const clients = Array.from({ length: 5 }, () => net.connect({ host, port }).on('error', () => undefined));
        // The connects leave on the next tick; the kernel completes the handshakes while the
        // loop is held, so all five wait in the queue.
        await new Promise((r) => process.nextTick(r));
        assert.ok(holdLoopUntil(() => probe.length() === 5, 10_000), `five connections in the queue (read ${probe.length()})`);
        let accepted = 0;
        server.on('connection', () => (accepted += 1));
        await withDeadline(
          new Promise<void>((resolve) => {
            const check = (): void => (accepted === 5 ? resolve() : void setTimeout(check, 5));
            check();
          }),
          10_000,
          'the five to be accepted',
        );
        assert.equal(probe.length(), 0, 'the queue is empty once they are accepted');
        for (const c of clients) c.destroy();
      } finally {
        probe.close();
        assert.equal(probe.length(), undefined, 'a closed probe reads nothing');
        server.close();
      }
    });
  }

  it('has no probe for a server on a Unix socket, or one that is not listening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drainkit-aq-'));
    const server = net.createServer();
    try {
      assert.equal(openAcceptQueueProbe(server), undefined, 'not listening');
      await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
      assert.equal(openAcceptQueueProbe(server), undefined, 'a Unix socket');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads only the line of its own listener', () => {
    const line = (inode: string, state: string, queues: string): string =>
      `   3: 0100007F:9ADD 00000000:0000 ${state} ${queues} 00:00000000 00000000     0        0 ${inode} 1 0000000039e7c250 100 0 0 10 0`;
    assert.equal(queuedOnLine(line('13520', '0A', '00000000:0000000C'), '13520'), 12);
    assert.equal(queuedOnLine(line('13520', '0A', '00000000:0000000C'), '1352'), undefined, 'another inode');
    assert.equal(queuedOnLine(line('13520', '01', '00000000:0000000C'), '13520'), undefined, 'not a listener');
    assert.equal(queuedOnLine('garbage', '13520'), undefined);
  });
});

interface Outcome { readonly kind: 'answered' | 'reset' | 'refused' | 'other'; readonly detail: string }

/** A child process that opens connections to a port and writes a POST on each as soon as it connects. */
class ConnectingClient {
  readonly child: ChildProcess;
  private constructor(child: ChildProcess) {
    this.child = child;
  }
  static async start(): Promise<ConnectingClient> {
    const child = fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await withDeadline(new Promise((resolve) => child.once('message', resolve)), 20_000, 'the client process to start');
    return new ConnectingClient(child);
  }
  /** Asks for `n` connections; the outcomes arrive once every one has ended. */
  connect(port: number, n: number): Promise<Outcome[]> {
    const outcomes = new Promise<Outcome[]>((resolve) => {
      this.child.once('message', (m) => resolve((m as { outcomes: Outcome[] }).outcomes));
    });
    this.child.send({ port, n });
    return outcomes;
  }
}

describe('closing the listener', { skip: !LINUX && 'reads /proc/self/net/tcp: Linux only' }, () => {
  let client: ConnectingClient;
  before(async () => {
    client = await ConnectingClient.start();
  });
  after(() => {
    client.child.kill();
  });

  /**
   * One close in which `n` connections complete their handshake after the last round that
   * accepted nothing: the probe's first read holds the loop until the kernel has them queued,
   * then answers what `sees` says.
   */
  async function closeWithLateHandshakes(n: number, sees: 'the queue' | 'nothing'): Promise<Outcome[]> {
    const tracker = new Tracker({ lingerMs: 2_000, leaveIdleToClient: false, onActivity: () => undefined, onRelease: () => undefined, onNodeAssumptionBroken: () => undefined }, []);
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    server.on('connection', tracker.onConnection);
    server.prependListener('request', tracker.onRequest);
    const port = await listen(server, '127.0.0.1');
    const real = openAcceptQueueProbe(server);
    assert.ok(real);
    let outcomes: Promise<Outcome[]> | undefined;
    let reads = 0;
    const probe: AcceptQueueProbe = {
      length() {
        reads += 1;
        if (outcomes === undefined) {
          outcomes = client.connect(port, n);
          assert.ok(holdLoopUntil(() => (real.length() ?? 0) >= n, 20_000), `the ${n} connections queued before the read`);
        }
        return sees === 'the queue' ? real.length() : 0;
      },
      close: () => real.close(),
    };
    tracker.startDrain();
    await withDeadline(closeListener(server, tracker, probe), 10_000, 'the listener to close');
    assert.ok(reads >= 1, 'the close read the queue');
    assert.equal(server.listening, false);
    const result = await withDeadline(outcomes!, 20_000, 'every connection to end');
    server.closeAllConnections();
    return result;
  }

  it('accepts and answers the connections whose handshake completed just before the close', async () => {
    const outcomes = await closeWithLateHandshakes(8, 'the queue');
    assert.deepEqual(outcomes.filter((o) => o.kind !== 'answered'), [], JSON.stringify(outcomes));
  });

  it('negative control: the same close blind to the queue resets them', async () => {
    const outcomes = await closeWithLateHandshakes(8, 'nothing');
    const reset = outcomes.filter((o) => o.kind === 'reset');
    assert.equal(reset.length, 8, `all eight reset after writing their POST: ${JSON.stringify(outcomes)}`);
  });
});
