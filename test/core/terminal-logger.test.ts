/**
 * The default terminal logger, fed by a real drainer: one plain line per phase and outcome,
 * warnings and hints marked, never JSON. (That it is the default on a terminal, and silent
 * otherwise, is shown in drain-process.test.ts under a pseudo-terminal.)
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { terminalLogger } from '../../src/core/terminal-logger.js';
import { get, listen, until } from '../helpers/servers.js';

describe('terminal logger', { timeout: 30_000 }, () => {
  it('a forced drain: the phases, the force, a failed hook, the outcome and the hint, one line each', async () => {
    const lines: string[] = [];
    const server = http.createServer(() => undefined); // never answers
    const drainer = createDrainer(server, {
      signals: false,
      deregister: { mode: 'fixed', delayMs: 20 },
      drainTimeoutMs: 100,
      logger: terminalLogger((line) => lines.push(line)),
    });
    drainer.onShutdown('db', () => {
      throw new Error('pool already closed');
    });
    const port = await listen(server);
    const hung = get('http', port, '/').catch(() => 'failed');
    await until(() => drainer.inflight === 1, 10_000, 'the hung request to be in flight');
    await drainer.drain('deploy');
    assert.strictEqual(await hung, 'failed');
    assert.ok(lines.every((l) => l.startsWith('drainkit: ') && l.endsWith('\n') && l.indexOf('\n') === l.length - 1), JSON.stringify(lines));
    assert.ok(lines.every((l) => !l.includes('{')), 'no JSON');
    const text = lines.map((l) => l.slice('drainkit: '.length, -1));
    assert.strictEqual(text.length, 8, JSON.stringify(text));
    assert.strictEqual(text[0], 'draining (deploy): readiness answers 503; 1 request in flight, 0 persistent connections');
    assert.match(text[1]!, /^closing the listener after a \d+ ms deregistration window \(fixed\): 1 request in flight$/);
    // No persistent connections: no line telling none of them to go away, none waited for.
    assert.deepEqual(text.slice(2, 5), [
      'waiting for 1 request',
      'warning: forced by the drain timeout: 1 request and 0 persistent connections cut, 1 connection destroyed',
      'running 1 shutdown hook',
    ]);
    assert.strictEqual(text[5], 'warning: shutdown hook "db" error: pool already closed');
    assert.match(text[6]!, /^warning: drain forced in \d+ ms: 0 requests completed, 1 forced$/);
    // The hint follows the outcome (it is logged after drain_complete).
    assert.match(text[7]!, /^warning: hint: 1 request and 0 persistent connections were still open when the 100 ms drain timeout expired/);
  });

  it('an idle server: no lines about zero connections, zero requests or shutdown hooks it does not have', async () => {
    const lines: string[] = [];
    const server = http.createServer((_req, res) => void res.end('ok'));
    const drainer = createDrainer(server, { signals: false, deregister: { mode: 'fixed', delayMs: 20 }, logger: terminalLogger((line) => lines.push(line)) });
    await listen(server);
    await drainer.drain('deploy');
    const text = lines.map((l) => l.slice('drainkit: '.length, -1));
    assert.equal(text.length, 3, JSON.stringify(text));
    assert.equal(text[0], 'draining (deploy): readiness answers 503; 0 requests in flight, 0 persistent connections');
    assert.match(text[1]!, /^closing the listener after a \d+ ms deregistration window \(fixed\): 0 requests in flight$/);
    assert.match(text[2]!, /^drain completed in \d+ ms: 0 requests completed$/);
    assert.ok(text.every((l) => !/telling 0|waiting for 0|shutdown hook/.test(l)), JSON.stringify(text));
  });

  it('persistent connections and hooks, when there are some, are said with their numbers', () => {
    const lines: string[] = [];
    const log = terminalLogger((line) => lines.push(line));
    log.info({ event: 'drain_phase', phase: 'persistent', inflight: 0, persistent: 2 }, 'phase persistent');
    log.info({ event: 'drain_phase', phase: 'waiting', inflight: 0, persistent: 2 }, 'phase waiting');
    log.info({ event: 'drain_phase', phase: 'cleanup', inflight: 0, persistent: 0, hooks: 3 }, 'phase cleanup');
    assert.deepEqual(lines, [
      'drainkit: telling 2 persistent connections to go away\n',
      'drainkit: waiting for 2 persistent connections\n',
      'drainkit: running 3 shutdown hooks\n',
    ]);
  });
});
