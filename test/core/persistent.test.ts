/**
 * The persistent-connection set: counted apart from in-flight requests, told to go away spread
 * over a span (randomness injected), late arrivals told at once, terminated when forced.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { Persistent } from '../../src/core/persistent.js';
import { createDrainer, type PersistentConnection } from '../../src/index.js';
import { listen, until } from '../helpers/servers.js';
import { within } from '../helpers/raw.js';

function conn(log: string[], name: string): PersistentConnection {
  return { kind: 'test', goAway: () => log.push(`goAway ${name}`), terminate: () => log.push(`terminate ${name}`) };
}

describe('persistent connections', () => {
  it('spreads go-away over the span in the order the random draws give', async () => {
    const released: number[] = [];
    let began = 0;
    const set = new Persistent({ adopt: () => 'adopted', onRelease: () => released.push(1), onShutdownBegin: () => (began += 1), draining: true });
    const log: string[] = [];
    const draws = [0.9, 0, 0.5];
    set.add(conn(log, 'a'));
    set.add(conn(log, 'b'));
    const releaseC = set.add(conn(log, 'c'));
    set.beginShutdown(300, () => draws.shift()!);
    assert.deepEqual(log, ['goAway b'], 'a zero draw goes at once, the others later');
    assert.equal(began, 1);
    await until(() => log.length === 3, 10_000, 'all go-aways');
    assert.deepEqual(log, ['goAway b', 'goAway c', 'goAway a']);
    // a connection added after the shutdown began is told as well
    set.add(conn(log, 'late'));
    await until(() => log.includes('goAway late'), 10_000, 'the late go-away');
    releaseC();
    releaseC();
    assert.equal(released.length, 1, 'release is idempotent');
    assert.equal(set.size, 3);
    assert.equal(set.terminateAll(), 3);
    assert.deepEqual(log.filter((l) => l.startsWith('terminate')).sort(), ['terminate a', 'terminate b', 'terminate late']);
    assert.equal(set.size, 0);
    assert.deepEqual(set.tally(), { test: { clean: 1, terminated: 3 } });
  });

  it('caps the spread at half the drain timeout, so a short timeout with the default spread still closes every connection cleanly', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    // Default spread 2500 ms against a 1200 ms drain timeout: uncapped, about half of the go-aways
    // would come after the deadline, and the drain would be forced.
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 1_200 });
    await listen(server);
    const log: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      let release: () => void = () => undefined;
      // Closes as soon as it is told to go away, as a well-behaved client does.
      release = drainer.persistent.add({ kind: 'test', goAway: () => { log.push(`goAway ${i}`); release(); }, terminate: () => log.push(`terminate ${i}`) });
    }
    const result = await within(drainer.drain(), 'the drain');
    assert.equal(result.outcome, 'completed', JSON.stringify(result));
    assert.deepEqual(result.persistentClosed, { test: { clean: 20, terminated: 0 } });
    assert.equal(log.filter((l) => l.startsWith('terminate')).length, 0);
  });

  it('an adopted response leaves the in-flight count for the persistent set and holds the drain until it ends', async () => {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 0 }, persistentSpreadMs: 0 });
    let told = false;
    server.on('request', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      drainer.persistent.adopt(res, {
        kind: 'stream',
        goAway: () => {
          told = true;
          res.end('data: bye\n\n');
        },
        terminate: () => res.destroy(),
      });
    });
    const port = await listen(server);
    const body = new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    await until(() => drainer.persistent.size === 1, 10_000, 'the stream to be adopted');
    assert.equal(drainer.inflight, 0, 'not counted in flight');
    const result = await within(drainer.drain(), 'the drain');
    assert.equal(told, true);
    assert.equal(result.success, true);
    assert.equal(result.requestsAtStart, 0, 'the adopted stream is not a request in flight');
    assert.equal(result.persistentRemaining, 0);
    assert.match(await within(body, 'the stream\'s body'), /data: bye/);
    assert.equal(drainer.persistent.size, 0);
    assert.deepEqual(result.persistentClosed, { stream: { clean: 1, terminated: 0 } });
  });
});
