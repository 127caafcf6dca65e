/**
 * SSE end to end: an EventSource client (the `eventsource` package) connected through a real
 * HAProxy to two example servers. The server holding the stream is sent SIGTERM; the client
 * must get the reconnect hint, reconnect through HAProxy to the survivor, resume after its
 * Last-Event-ID and keep receiving events, without ever being failed for good (CLOSED).
 * Needs `npm run build` and HAProxy (/usr/sbin/haproxy or $HAPROXY_BIN).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { haproxySkip, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { freePort, killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { within } from './clients.js';

const MAIN = 'dist/cli/main.js';

interface Received {
  readonly pid: number;
  readonly n: number;
  readonly id: number;
}

// Skipped locally without HAProxy; in CI a missing HAProxy fails this test, never skips it.
describe('SSE through HAProxy', { timeout: 120_000, skip: haproxySkip() }, () => {
  const servers: ServerProcess[] = [];
  let haproxy: Haproxy | undefined;
  let es: EventSource | undefined;
  after(async () => {
    es?.close();
    await haproxy?.stop();
    await killAll(servers);
  });

  it('an EventSource reconnects to the survivor when its server drains, and keeps receiving events', async () => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      servers.push(
        await spawnServer({
          args: [
            MAIN, 'example-server', '--port', String(port), '--log-level', 'warn',
            '--deregister-mode', 'adaptive', '--deregister-delay-ms', '8000', '--quiet-ms', '200',
            '--sse-interval-ms', '100', '--sse-reconnect-ms', '200', '--drain-timeout-ms', '10000',
          ],
        }),
      );
    }
    haproxy = await startHaproxy({ servers: ports.map((port, i) => ({ name: `s${i}`, port })), checkIntervalMs: 200, fall: 1, rise: 1 });
    await haproxy.waitUntil('s0', 'UP');
    await haproxy.waitUntil('s1', 'UP');

    const received: Received[] = [];
    let goAways = 0;
    let everClosed = false;
    const waiters = new Set<() => void>();
    const until = (what: string, predicate: () => boolean, ms = 20_000): Promise<void> =>
      within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (!predicate()) return;
            waiters.delete(check);
            resolve();
          };
          waiters.add(check);
          check();
        }),
        ms,
        what,
      );
    const source = new EventSource(`http://127.0.0.1:${haproxy.port}/sse`);
    es = source;
    source.addEventListener('message', (event) => {
      const data = JSON.parse(String(event.data)) as { pid: number; n: number };
      received.push({ pid: data.pid, n: data.n, id: Number(event.lastEventId) });
      for (const w of [...waiters]) w();
    });
    source.addEventListener('drainkit-reconnect', () => {
      goAways += 1;
    });
    source.addEventListener('error', () => {
      // An error event is also how a reconnect is announced; only CLOSED means "given up".
      if (source.readyState === EventSource.CLOSED) everClosed = true;
    });

    await until('three events from the first server', () => received.length >= 3);
    const first = received[0]!.pid;
    const victim = servers.find((s) => s.pid === first);
    assert.ok(victim, `the stream came from one of the two servers (pid ${first})`);
    const survivor = servers.find((s) => s !== victim)!;

    const exit = signalAndWait(victim, 'SIGTERM', 30_000);
    await until('three events from the survivor', () => received.filter((r) => r.pid === survivor.pid).length >= 3, 30_000);
    assert.deepEqual(await within(exit, 30_000, 'the drained server to exit'), { code: 0, signal: null });
    const line = victim.events.find((e) => e.event === 'drain_complete');
    assert.equal(line?.success, true);

    assert.equal(goAways, 1, 'one reconnect hint, from the drained server');
    assert.equal(everClosed, false, 'the EventSource never gave up');
    assert.notEqual(source.readyState, EventSource.CLOSED);
    // Before the switch every event came from the victim, after it from the survivor.
    const switchAt = received.findIndex((r) => r.pid === survivor.pid);
    assert.ok(received.slice(0, switchAt).every((r) => r.pid === victim.pid));
    assert.ok(received.slice(switchAt).every((r) => r.pid === survivor.pid));
    // The survivor resumed after the client's Last-Event-ID: ids never go back or repeat.
    for (let i = 1; i < received.length; i++) assert.equal(received[i]!.id, received[i - 1]!.id + 1, `ids consecutive at ${i}`);
  });
});
