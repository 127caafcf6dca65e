/**
 * A registry without a database says so naming the function the user called (registry() or
 * startReporter()) and every way to give one. No database is needed: the check comes first.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { registry, startReporter } from '../../src/registry/index.js';

describe('a registry given no database', () => {
  let saved: string | undefined;
  before(() => {
    saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
  });
  after(() => {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  });

  it('registry({}) names registry() and databaseUrl, store and DATABASE_URL, not startReporter', () => {
    assert.throws(() => registry({}), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DRAINKIT_REGISTRY_NO_DATABASE');
      assert.match(err.message, /^drainkit registry: registry\(\) was given no database and DATABASE_URL is not set; accepted: databaseUrl \(a postgres:\/\/ or postgresql:\/\/ URL, .*\), store \(a Store from openStore\(\)\), or DATABASE_URL in the environment$/);
      assert.doesNotMatch(err.message, /startReporter/);
      return true;
    });
  });

  it('an empty DATABASE_URL is said to be empty', () => {
    process.env.DATABASE_URL = '';
    try {
      assert.throws(() => registry({}), /registry\(\) was given no database and DATABASE_URL is empty/);
    } finally {
      delete process.env.DATABASE_URL;
    }
  });

  it('startReporter names startReporter()', () => {
    const drainer = createDrainer(http.createServer(), { signals: false });
    try {
      assert.throws(() => startReporter(drainer, { port: 1 }), /drainkit registry: startReporter\(\) was given no database/);
    } finally {
      drainer.detach();
    }
  });
});
