/**
 * The one rule for "in CI" (test/helpers/ci.ts), which decides whether a missing HAProxy or
 * Postgres skips or fails: CI providers' values count, explicit opt-outs do not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inCI, skipUnlessAvailable } from './ci.js';

describe('inCI', () => {
  it('is on for the values CI providers set', () => {
    for (const CI of ['true', 'TRUE', '1', 'yes', 'woodpecker']) assert.equal(inCI({ CI }), true, `CI=${CI}`);
  });

  it('is off when CI is unset, empty, "false" or "0"', () => {
    assert.equal(inCI({}), false, 'unset');
    for (const CI of ['', ' ', 'false', 'False', '0']) assert.equal(inCI({ CI }), false, `CI=${JSON.stringify(CI)}`);
  });
});

describe('skipUnlessAvailable', () => {
  it('never skips an available service', () => {
    assert.equal(skipUnlessAvailable(true, 'haproxy', 'install it'), false);
  });

  it('skips a missing service outside CI with a reason naming it, and runs (to fail) in CI', (t) => {
    const saved = process.env.CI;
    t.after(() => {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    });
    delete process.env.CI;
    const reason = skipUnlessAvailable(false, 'haproxy', 'Debian package "haproxy"');
    assert.equal(typeof reason, 'string');
    assert.match(String(reason), /haproxy.*Debian package "haproxy"/);
    process.env.CI = '1';
    assert.equal(skipUnlessAvailable(false, 'haproxy', 'Debian package "haproxy"'), false);
  });
});
