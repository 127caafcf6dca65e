/**
 * The operator-facing text of the CLI: argument parsers (integers, key=value, durations, times,
 * targets) and output (ages, tables).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, integer, keyValue, oneOrMoreOf, parseDuration, parseSince, parseTarget } from '../../src/cli/args.js';
import { formatAge, formatTable } from '../../src/cli/format.js';

describe('cli text helpers', () => {
  it('takes integers as digits only, within range, and key=value pairs', () => {
    assert.equal(integer(0, 65_535)('8080'), 8080);
    for (const bad of ['-1', '1e3', '8.5', '', '65536', ' 80']) assert.throws(() => integer(0, 65_535)(bad), /expected an integer from 0 to 65535/, bad);
    assert.deepEqual(keyValue('zone=eu-1', keyValue('app=web')), { app: 'web', zone: 'eu-1' });
    assert.deepEqual(keyValue('expr=a=b'), { expr: 'a=b' });
    for (const bad of ['zone', '=eu']) assert.throws(() => keyValue(bad), /expected key=value/, bad);
  });

  it('parses durations with units, and bare milliseconds', () => {
    assert.equal(parseDuration('250ms', 0, 1e9), 250);
    assert.equal(parseDuration('30s', 0, 1e9), 30_000);
    assert.equal(parseDuration('1.5m', 0, 1e9), 90_000);
    assert.equal(parseDuration('2h', 0, 1e9), 7_200_000);
    assert.equal(parseDuration('7d', 0, 1e9), 604_800_000);
    assert.equal(parseDuration('1200', 0, 1e9), 1_200);
    for (const bad of ['', 'soon', '-5s', '5 weeks', '1e3', '5S', ' 5s', '5s ']) {
      assert.throws(() => parseDuration(bad, 0, 1e9), /^InvalidArgumentError: expected a duration from 0ms to .*, such as 500ms, 30s, 15m, 2h or 7d \(a bare number is milliseconds\)\.$/, bad);
    }
    // Bounds in messages are written as an operator would type them.
    assert.throws(() => parseDuration('500ms', 1_000, 60_000), /from 1s to 1m,/);
    assert.throws(() => parseDuration('2d', 1_000, 86_400_000 + 1), /from 1s to 86400001ms,/);
  });

  it('parses a time as ISO 8601 or as a duration ago', () => {
    const now = new Date('2026-11-24T20:00:00Z');
    assert.equal(parseSince('2026-11-24T18:00:00Z', now).toISOString(), '2026-11-24T18:00:00.000Z');
    assert.equal(parseSince('15m', now).toISOString(), '2026-11-24T19:45:00.000Z');
    for (const bad of ['yesterday', '2026-13-45', '15', ' 15m']) assert.throws(() => parseSince(bad, now), /expected an ISO 8601 time .* or a duration ago with its unit/, bad);
  });

  it('writes bounds in the largest exact unit', () => {
    assert.deepEqual([0, 50, 1_000, 1_500, 20_000, 600_000, 3_600_000, 86_400_000, 90_000].map(formatDuration), ['0ms', '50ms', '1s', '1500ms', '20s', '10m', '1h', '1d', '90s']);
  });

  it('takes a comma-separated list of known names, and names the unknown ones with what is accepted', () => {
    const states = oneOrMoreOf(['active', 'draining', 'stopped'] as const, 'status');
    assert.deepEqual(states('active,draining,active'), ['active', 'draining']);
    assert.throws(() => states('active,running,up'), /^InvalidArgumentError: unknown status "running", "up"; expected one or more of active, draining, stopped, comma-separated\.$/);
    assert.throws(() => states(''), /unknown status ""/);
  });

  it('formats ages to the unit that matters', () => {
    assert.deepEqual([850, 1_250, 42_000, 245_000, 10_920_000, 187_200_000, -5].map(formatAge), ['850ms', '1.3s', '42s', '4m 05s', '3h 02m', '2d 04h', '0ms']);
  });

  it('takes an instance as an id or host:port, IPv6 in brackets', () => {
    assert.deepEqual(parseTarget('42'), { instanceId: 42 });
    assert.deepEqual(parseTarget('10.0.0.5:8080'), { host: '10.0.0.5', port: 8080 });
    assert.deepEqual(parseTarget('web-1.internal:80'), { host: 'web-1.internal', port: 80 });
    assert.deepEqual(parseTarget('[::1]:8080'), { host: '::1', port: 8080 });
    for (const bad of ['0', 'web-1', ':80', 'h:0', 'h:65536', '::1:80', '99999999999']) assert.throws(() => parseTarget(bad), /instance id .* or host:port/, bad);
  });

  it('aligns table columns and leaves the last one unpadded', () => {
    assert.equal(formatTable(['ID', 'STATUS', 'NOTE'], [['1', 'active', 'x'], ['12', 'draining', '']]), 'ID  STATUS    NOTE\n1   active    x\n12  draining');
    assert.equal(formatTable(['', ''], [['total', '3']], { header: false }), 'total  3');
  });
});
