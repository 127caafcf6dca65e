/** Options are validated once, at construction, with errors that name the option and the accepted range. */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer, DrainkitError, DEFAULTS, type DrainerOptions } from '../../src/index.js';

function rejects(options: unknown, code: string, pattern: RegExp): void {
  assert.throws(
    () => createDrainer(http.createServer(), options as DrainerOptions),
    (err: unknown) => {
      assert.ok(err instanceof DrainkitError, 'a DrainkitError');
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('options', () => {
  it('fills every default and freezes the result without touching the caller object', () => {
    const input = { signals: false as const };
    const d = createDrainer(http.createServer(), input);
    assert.deepEqual(input, { signals: false });
    assert.equal(d.options.drainTimeoutMs, 30_000);
    assert.deepEqual(d.options.deregister, DEFAULTS.deregister);
    assert.equal(d.options.exitOnDrain, false, 'no exit when no signal is handled');
    assert.equal(d.options.keepAliveTimeoutMs, 65_000);
    assert.ok(Object.isFrozen(d.options));
    d.detach();
  });

  it('completes a partial adaptive window with the defaults (the README\'s HAProxy snippet)', () => {
    const d = createDrainer(http.createServer(), {
      signals: false,
      deregister: { mode: 'adaptive', maxMs: 5000, quietMs: 500, probeFailureThreshold: 1 },
    });
    assert.deepStrictEqual(d.options.deregister, { mode: 'adaptive', minMs: 0, maxMs: 5000, quietMs: 500, probeFailureThreshold: 1 });
    d.detach();
    const bare = createDrainer(http.createServer(), { signals: false, deregister: { mode: 'adaptive', maxMs: 3000 } });
    assert.deepStrictEqual(bare.options.deregister, { mode: 'adaptive', minMs: 0, maxMs: 3000, quietMs: DEFAULTS.deregister.quietMs });
    bare.detach();
  });

  it('refuses a fixed window without delayMs instead of picking a length', () => {
    rejects(
      { signals: false, deregister: { mode: 'fixed' } },
      'ERR_DRAINKIT_INVALID_OPTION',
      /"deregister\.delayMs" is undefined; accepted: an integer from 0 to 3600000, required with mode "fixed"/,
    );
    rejects({ signals: false, deregister: { mode: 'fixed', delayMs: undefined } }, 'ERR_DRAINKIT_INVALID_OPTION', /deregister\.delayMs.*required/);
    const d = createDrainer(http.createServer(), { signals: false, deregister: { mode: 'fixed', delayMs: 0 } });
    assert.deepStrictEqual(d.options.deregister, { mode: 'fixed', delayMs: 0 });
    d.detach();
  });

  it('takes undefined as the default, and resolves every option to the exported DEFAULTS', () => {
    const d = createDrainer(http.createServer(), {
      drainTimeoutMs: undefined,
      deregister: undefined,
      health: { readinessPath: undefined, livenessPath: undefined },
      signals: undefined,
      interactiveSigintSkipsWindow: undefined,
      exitGraceMs: undefined,
      keepAliveTimeoutMs: undefined,
      lingerMs: undefined,
      persistentShutdown: undefined,
      persistentSpreadMs: undefined,
      hookTimeoutMs: undefined,
      logger: undefined,
      plugins: undefined,
      hints: undefined,
      signalWarnings: undefined,
    });
    try {
      const o = d.options;
      assert.deepStrictEqual(
        {
          drainTimeoutMs: o.drainTimeoutMs,
          deregister: o.deregister,
          readinessPath: o.health && o.health.readinessPath,
          livenessPath: o.health && o.health.livenessPath,
          signals: o.signals,
          interactiveSigintSkipsWindow: o.interactiveSigintSkipsWindow,
          exitGraceMs: o.exitGraceMs,
          keepAliveTimeoutMs: o.keepAliveTimeoutMs,
          lingerMs: o.lingerMs,
          persistentShutdown: o.persistentShutdown,
          persistentSpreadMs: o.persistentSpreadMs,
          hookTimeoutMs: o.hookTimeoutMs,
          hints: o.hints,
          signalWarnings: o.signalWarnings,
        },
        { ...DEFAULTS },
      );
      assert.deepStrictEqual(DEFAULTS.deregister, { mode: 'adaptive', minMs: 0, maxMs: 5000, quietMs: 500 });
      assert.strictEqual(o.exitOnDrain, true, 'signals are handled by default, so the drain exits');
      assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.deregister));
    } finally {
      d.detach();
    }
  });

  it('rejects unknown keys, naming them and the known ones', () => {
    rejects({ drainTimeout: 5 }, 'ERR_DRAINKIT_UNKNOWN_OPTION', /unknown option "drainTimeout".*drainTimeoutMs/);
    rejects({ signals: false, deregister: { mode: 'fixed', delayMs: 1, minMs: 2 } }, 'ERR_DRAINKIT_UNKNOWN_OPTION', /deregister\.minMs/);
  });

  it('rejects out-of-range and mistyped values, quoting the value and the accepted range', () => {
    rejects({ drainTimeoutMs: -1 }, 'ERR_DRAINKIT_INVALID_OPTION', /"drainTimeoutMs" is -1; accepted: an integer from 0 to 3600000/);
    rejects({ drainTimeoutMs: '30s' }, 'ERR_DRAINKIT_INVALID_OPTION', /"drainTimeoutMs" is "30s"/);
    rejects({ lingerMs: 1.5 }, 'ERR_DRAINKIT_INVALID_OPTION', /"lingerMs" is 1\.5/);
    rejects({ deregister: { mode: 'sometimes' } }, 'ERR_DRAINKIT_INVALID_OPTION', /"deregister\.mode".*"fixed" or "adaptive"/);
    rejects({ deregister: { mode: 'adaptive', minMs: 6000, maxMs: 5000 } }, 'ERR_DRAINKIT_INVALID_OPTION', /deregister\.minMs.*at most deregister\.maxMs \(5000\)/);
    rejects({ deregister: { mode: 'adaptive', probeFailureThreshold: 0 } }, 'ERR_DRAINKIT_INVALID_OPTION', /probeFailureThreshold/);
    rejects({ signals: ['SIGKILL'] }, 'ERR_DRAINKIT_INVALID_OPTION', /"signals".*SIGTERM/);
    rejects({ health: { readinessPath: 'readyz' } }, 'ERR_DRAINKIT_INVALID_OPTION', /health\.readinessPath.*starting with "\/"/);
    rejects({ health: { readinessPath: '/h', livenessPath: '/h' } }, 'ERR_DRAINKIT_INVALID_OPTION', /different from health\.readinessPath/);
    rejects({ keepAliveTimeoutMs: 10 }, 'ERR_DRAINKIT_INVALID_OPTION', /keepAliveTimeoutMs.*1000/);
    rejects({ logger: { info: 1 } }, 'ERR_DRAINKIT_INVALID_OPTION', /pino-shaped logger/);
    rejects({ persistentShutdown: 'never' }, 'ERR_DRAINKIT_INVALID_OPTION', /"window-end" or "drain-start"/);
  });

  it('rejects what is not a node server', () => {
    assert.throws(() => createDrainer({} as http.Server), (e: DrainkitError) => e.code === 'ERR_DRAINKIT_INVALID_SERVER' && /node:http/.test(e.message));
  });

  it('attaches plugins with the drainer and server, and detaches them in reverse order', () => {
    const server = http.createServer();
    const calls: string[] = [];
    const d = createDrainer(server, {
      signals: false,
      plugins: [
        (drainer, s) => {
          assert.equal(s, server);
          assert.equal(drainer.state, 'active');
          calls.push('a attached');
          return () => calls.push('a detached');
        },
        () => {
          calls.push('b attached');
          return () => calls.push('b detached');
        },
        () => undefined,
      ],
    });
    d.detach();
    assert.deepEqual(calls, ['a attached', 'b attached', 'b detached', 'a detached']);
    rejects({ plugins: [42] }, 'ERR_DRAINKIT_INVALID_OPTION', /"plugins".*array of functions/);
  });

  it('rejects bad shutdown hooks', () => {
    const d = createDrainer(http.createServer(), { signals: false });
    assert.throws(() => d.onShutdown('', () => undefined), (e: DrainkitError) => e.code === 'ERR_DRAINKIT_INVALID_ARGUMENT');
    assert.throws(() => d.onShutdown('x', 5 as never), (e: DrainkitError) => e.code === 'ERR_DRAINKIT_INVALID_ARGUMENT');
    assert.throws(() => d.onShutdown('x', () => undefined, { timeoutMs: -5 }), /timeoutMs/);
    d.detach();
  });
});
