/**
 * What must not break a drain or leak a drainer, in process: listeners and loggers that throw,
 * a creation that fails half-way, a request handler attached twice, and what forced a drain.
 * Real servers on 127.0.0.1 port 0, real requests.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { createDrainer, DrainkitError, type DrainerEvents, type DrainerPlugin, type Logger } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { freePort } from '../helpers/processes.js';
import { expectRefused, get, listen, until } from '../helpers/servers.js';

/** Hang guard for a drain (never a timing assertion): a drain that hangs fails saying so. */
const BOUND_MS = 20_000;

const FAST = { signals: false, deregister: { mode: 'fixed', delayMs: 0 } } as const;

interface Line {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

function recordingLogger(): Logger & { readonly lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string): void => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Listener counts of everything drainkit may touch, to compare before and after. */
function footprint(server: net.Server): Record<string, number> {
  const events = ['request', 'connection', 'upgrade', 'connect', 'checkContinue', 'checkExpectation', 'newListener', 'removeListener', 'listening', 'close'];
  return {
    ...Object.fromEntries(events.map((e) => [e, server.listenerCount(e)])),
    SIGTERM: process.listenerCount('SIGTERM'),
    SIGINT: process.listenerCount('SIGINT'),
    keepAliveTimeout: (server as http.Server).keepAliveTimeout,
    headersTimeout: (server as http.Server).headersTimeout,
  };
}

describe('a throwing listener or logger never breaks the drain', { timeout: 60_000 }, () => {
  /**
   * How often each event fires in a drain that completes: 'state' for draining and stopped,
   * 'phase' for deregistering, closing, persistent, waiting and cleanup (no forcing), the
   * others once. Each emit is one call of the later listener and one error line.
   */
  const emits: Readonly<Record<Exclude<keyof DrainerEvents, 'error'>, number>> = {
    state: 2,
    phase: 5,
    windowEnd: 1,
    persistentShutdown: 1,
    settled: 1,
    drained: 1,
  };
  for (const [event, times] of Object.entries(emits) as [keyof typeof emits, number][]) {
    it(`a throwing '${event}' listener: the drain completes, hooks run, the listener's error is logged`, async () => {
      const server = http.createServer((_req, res) => res.end('ok'));
      const logger = recordingLogger();
      const drainer = createDrainer(server, { ...FAST, logger });
      let hookRan = 0;
      drainer.onShutdown('db', () => {
        hookRan += 1;
      });
      let laterListenerCalls = 0;
      drainer.on(event, () => {
        throw new Error(`${event} broke`);
      });
      // A listener after the throwing one still runs.
      drainer.on(event, () => {
        laterListenerCalls += 1;
      });
      const port = await listen(server);
      const result = await withDeadline(drainer.drain('test'), BOUND_MS, `the drain with a throwing '${event}' listener to end`);
      assert.strictEqual(result.outcome, 'completed');
      assert.strictEqual(drainer.state, 'stopped');
      assert.strictEqual(hookRan, 1);
      assert.strictEqual(laterListenerCalls, times, `the later '${event}' listener ran once per '${event}' event`);
      assert.strictEqual(server.listening, false);
      assert.strictEqual(await expectRefused(port), 'ECONNREFUSED');
      const errors = logger.lines.filter((l) => l.level === 'error');
      // One error line per throw, and nothing else at error level.
      assert.strictEqual(errors.length, times, errors.map((l) => l.msg).join('\n'));
      for (const line of errors) {
        assert.strictEqual(line.obj.listenerOf, event);
        assert.match(String(line.msg), new RegExp(`a '${event}' listener threw \\(Error: ${event} broke\\)`));
      }
    });
  }

  it('an async listener that rejects is reported like one that throws (never an unhandled rejection)', async () => {
    const server = http.createServer();
    const logger = recordingLogger();
    const drainer = createDrainer(server, { ...FAST, logger });
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the async listener is the point of the test
    drainer.on('drained', async () => {
      await Promise.resolve();
      throw new Error('async broke');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await listen(server);
      assert.strictEqual((await withDeadline(drainer.drain(), BOUND_MS, "the drain with a rejecting 'drained' listener to end")).outcome, 'completed');
      await until(() => logger.lines.some((l) => l.level === 'error'), 5_000, 'the rejection to be logged');
      const error = logger.lines.find((l) => l.level === 'error')!;
      assert.strictEqual(error.obj.listenerOf, 'drained');
      assert.match(String(error.msg), /a 'drained' listener threw \(Error: async broke\)/);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a logger that throws on every call: the drain completes and the failure is a process warning, once', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    const broken: Logger = {
      info: () => {
        throw new Error('disk full');
      },
      warn: () => {
        throw new Error('disk full');
      },
      error: () => {
        throw new Error('disk full');
      },
    };
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if (/drainkit/.test(w.message)) warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const drainer = createDrainer(server, { ...FAST, logger: broken });
      drainer.on('phase', () => {
        throw new Error('phase broke');
      });
      await listen(server);
      const result = await withDeadline(drainer.drain(), BOUND_MS, 'the drain with a logger that throws to end');
      assert.strictEqual(result.outcome, 'completed');
      assert.strictEqual(drainer.state, 'stopped');
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      const loggerWarnings = warnings.filter((w) => /the logger threw \(Error: disk full\)/.test(w.message));
      assert.strictEqual(loggerWarnings.length, 1, warnings.map((w) => w.message).join('\n'));
      // With the logger broken, the listener errors still reach stderr as warnings.
      assert.strictEqual(warnings.filter((w) => /a 'phase' listener threw/.test(w.message)).length, 5);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a creation that fails half-way leaves the server as it was', { timeout: 60_000 }, () => {
  it('a throwing plugin: listeners, signal handlers, timeouts, the health server and earlier plugins are all undone', async () => {
    const server = http.createServer((_req, res) => res.end('app'));
    const before = footprint(server);
    const healthPort = await freePort();
    const detached: string[] = [];
    const first: DrainerPlugin = () => () => detached.push('first');
    const second: DrainerPlugin = () => () => detached.push('second');
    const broken: DrainerPlugin = () => {
      throw new Error('plugin exploded');
    };
    assert.throws(
      () => createDrainer(server, { signals: ['SIGTERM', 'SIGINT'], health: { port: healthPort, host: '127.0.0.1' }, plugins: [first, second, broken] }),
      /plugin exploded/,
    );
    assert.deepEqual(footprint(server), before);
    assert.deepEqual(detached, ['second', 'first'], 'the plugins that had run were detached, last first');
    // The health server's port is free again.
    const probe = net.createServer();
    probe.listen(healthPort, '127.0.0.1');
    await once(probe, 'listening');
    await new Promise<void>((r) => probe.close(() => r()));

    // A second drainer on the same server works, and it is the only one counting.
    const drainer = createDrainer(server, FAST);
    const port = await listen(server);
    assert.strictEqual((await withDeadline(get('http', port, '/'), BOUND_MS, "the second drainer's server to answer")).body, 'app');
    const result = await withDeadline(drainer.drain(), BOUND_MS, 'the drain of the second drainer on the same server to end');
    assert.strictEqual(result.outcome, 'completed');
    assert.strictEqual(result.requestsAtStart, 0);
  });

  it('a request handler attached twice at creation is refused and undone the same way', () => {
    const server = http.createServer();
    const other = http.createServer();
    const app = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('app');
    const elsewhere = createDrainer(other, FAST);
    const wrapped = elsewhere.withHealth(app);
    elsewhere.detach();
    server.on('request', app);
    server.on('request', wrapped);
    const before = footprint(server);
    assert.throws(() => createDrainer(server, { signals: ['SIGTERM'] }), { code: 'ERR_DRAINKIT_HANDLER_TWICE' });
    assert.deepEqual(footprint(server), before);
  });
});

describe('a request handler attached twice is refused when it is attached', { timeout: 60_000 }, () => {
  it("Express app.listen() then server.on('request', drainer.withHealth(app)): refused with the line to use instead", async () => {
    const app = express();
    let calls = 0;
    app.get('/', (_req, res) => {
      calls += 1;
      res.send('express');
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const drainer = createDrainer(server, FAST);
    assert.throws(
      () => server.on('request', drainer.withHealth(app)),
      (err: unknown) => {
        assert.ok(err instanceof DrainkitError);
        assert.strictEqual(err.code, 'ERR_DRAINKIT_HANDLER_TWICE');
        assert.match(err.message, /app\.all\(healthPaths\(drainer\), healthRoutes\(drainer\)\)/);
        assert.match(err.message, /if \(drainer\.handleHealth\(req, res\)\) return;/);
        return true;
      },
    );
    // Nothing was added: the app still answers once per request, without a crash.
    const port = (server.address() as net.AddressInfo).port;
    assert.strictEqual((await withDeadline(get('http', port, '/'), BOUND_MS, 'the Express app to answer')).body, 'express');
    assert.strictEqual(calls, 1);
    await withDeadline(drainer.drain(), BOUND_MS, 'the drain of the Express server to end');
  });

  it('http.createServer(app), in either order, and the bare handler added after the wrapper', async () => {
    const app = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('plain');
    const withApp = http.createServer(app);
    const d1 = createDrainer(withApp, FAST);
    assert.throws(() => withApp.on('request', d1.withHealth(app)), { code: 'ERR_DRAINKIT_HANDLER_TWICE' });
    assert.strictEqual(withApp.listenerCount('request'), 2, "the app and drainkit's own counter");

    const bare = http.createServer();
    const d2 = createDrainer(bare, FAST);
    bare.on('request', d2.withHealth(app));
    assert.throws(() => bare.on('request', app), { code: 'ERR_DRAINKIT_HANDLER_TWICE' });
    assert.throws(() => bare.prependListener('request', app), { code: 'ERR_DRAINKIT_HANDLER_TWICE' });
    // The right way round works and answers both the health paths and the app.
    const port = await listen(bare);
    assert.strictEqual((await get('http', port, '/readyz')).status, 200);
    assert.strictEqual((await get('http', port, '/')).body, 'plain');
    // Any other request listener beside the wrapper is refused as well: drainkit cannot tell one
    // that only watches from one that answers (test/core/handler-guard.test.ts has the cases).
    assert.throws(() => bare.on('request', () => undefined), { code: 'ERR_DRAINKIT_HANDLER_TWICE' });
    d1.detach();
    d2.detach();
    bare.close();
  });
});

describe('what forced a drain is kept apart from the reason given', { timeout: 60_000 }, () => {
  it("force('timeout') is a force call, not the drain timeout", async () => {
    const server = http.createServer(() => undefined); // never answers
    const drainer = createDrainer(server, { ...FAST, deregister: { mode: 'fixed', delayMs: 30_000 } });
    const port = await listen(server);
    const hung = get('http', port, '/').catch(() => 'failed');
    await until(() => drainer.inflight === 1, 10_000, 'the hung request to be in flight');
    void drainer.drain();
    const result = await withDeadline(drainer.force('timeout'), BOUND_MS, "force('timeout') to end the drain");
    assert.strictEqual(result.forcedBy, 'force');
    assert.strictEqual(result.forceReason, 'timeout');
    assert.strictEqual(result.requestsRemaining, 1);
    assert.strictEqual(await withDeadline(hung, BOUND_MS, 'the hung request to fail once force() destroyed it'), 'failed');
  });

  it('the drain timeout is forcedBy "timeout", without a forceReason', async () => {
    const server = http.createServer(() => undefined);
    const drainer = createDrainer(server, { ...FAST, drainTimeoutMs: 200 });
    const port = await listen(server);
    const hung = get('http', port, '/').catch(() => 'failed');
    await until(() => drainer.inflight === 1, 10_000, 'the hung request to be in flight');
    const result = await withDeadline(drainer.drain(), BOUND_MS, 'the drain to be forced at its 200 ms timeout');
    assert.strictEqual(result.forcedBy, 'timeout');
    assert.strictEqual(result.forceReason, undefined);
    assert.strictEqual(await withDeadline(hung, BOUND_MS, 'the hung request to fail once the timeout forced it'), 'failed');
  });

  it('force() during cleanup aborts the running hook and skips the rest', async () => {
    const server = http.createServer();
    const drainer = createDrainer(server, FAST);
    let started!: () => void;
    const hookStarted = new Promise<void>((r) => (started = r));
    let abortReason: unknown;
    drainer.onShutdown('never-reached', () => undefined);
    drainer.onShutdown('slow', (signal) => {
      started();
      return new Promise<void>((r) => signal.addEventListener('abort', () => {
        abortReason = signal.reason;
        r();
      }));
    }, { timeoutMs: 60_000 });
    await listen(server);
    const done = drainer.drain();
    await withDeadline(hookStarted, BOUND_MS, "the 'slow' hook to start");
    void drainer.force('enough');
    const result = await withDeadline(done, BOUND_MS, 'the drain to end once force() aborted the running hook');
    assert.deepEqual(result.hooks.map((h) => [h.name, h.outcome]), [['slow', 'aborted'], ['never-reached', 'skipped']]);
    assert.match(String((abortReason as Error).message), /shutdown cut short \(enough\)/);
  });

  it('drain(reason, request) rejects a malformed request with a clear error', () => {
    const drainer = createDrainer(http.createServer(), FAST);
    assert.throws(() => drainer.drain('x', { exit: 'yes' as never }), { code: 'ERR_DRAINKIT_INVALID_ARGUMENT', message: /exit "yes"; accepted: \{ exit\?: true \| false \| 'as-signal' \}/ });
    assert.throws(() => drainer.drain('x', 5 as never), { code: 'ERR_DRAINKIT_INVALID_ARGUMENT' });
    assert.strictEqual(drainer.state, 'active');
    drainer.detach();
  });
});

describe('after the drain', { timeout: 60_000 }, () => {
  it('force() once stopped returns the same result and logs nothing about cutting hooks', async () => {
    const server = http.createServer();
    const logger = recordingLogger();
    const drainer = createDrainer(server, { ...FAST, logger });
    drainer.onShutdown('db', () => undefined);
    await listen(server);
    const result = await withDeadline(drainer.drain(), BOUND_MS, 'the drain to end');
    const linesBefore = logger.lines.length;
    assert.strictEqual(await withDeadline(drainer.force('late'), BOUND_MS, 'force() after the drain to return its result'), result);
    assert.deepEqual(result.hooks.map((h) => h.outcome), ['ok']);
    assert.deepEqual(logger.lines.slice(linesBefore), []);
  });
});
