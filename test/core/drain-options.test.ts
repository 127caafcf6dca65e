/**
 * The options added for the drain's voice: `logger: false`, `hints`, `signalWarnings`, validated
 * like every other option, with their defaults visible in `drainer.options`.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';

describe('logger, hints and signalWarnings options', () => {
  it('defaults: hints and signal warnings on; without a terminal, no default logger', () => {
    const drainer = createDrainer(http.createServer(), { signals: false });
    assert.strictEqual(drainer.options.hints, true);
    assert.strictEqual(drainer.options.signalWarnings, true);
    // The test runner pipes stderr: not a terminal, so the default stays silent.
    assert.strictEqual(process.stderr.isTTY === true, false);
    assert.strictEqual(drainer.options.logger, undefined);
    drainer.detach();
  });

  it('logger: false, hints: false and signalWarnings: false are accepted and kept', () => {
    const drainer = createDrainer(http.createServer(), { signals: false, logger: false, hints: false, signalWarnings: false });
    assert.strictEqual(drainer.options.logger, undefined);
    assert.strictEqual(drainer.options.hints, false);
    assert.strictEqual(drainer.options.signalWarnings, false);
    drainer.detach();
  });

  it('rejects bad values naming the option and what it accepts', () => {
    assert.throws(() => createDrainer(http.createServer(), { hints: 'no' as never }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: 'drainkit: option "hints" is "no"; accepted: true or false' });
    assert.throws(() => createDrainer(http.createServer(), { signalWarnings: 0 as never }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: 'drainkit: option "signalWarnings" is 0; accepted: true or false' });
    assert.throws(() => createDrainer(http.createServer(), { logger: true as never }), { code: 'ERR_DRAINKIT_INVALID_OPTION', message: /option "logger" is true; accepted: false, or a pino-shaped logger/ });
  });
});
