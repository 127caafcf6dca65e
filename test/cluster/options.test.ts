/**
 * The cluster's option validation and restart policy: pure functions, no processes.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, it } from 'node:test';
import { CLUSTER_DEFAULTS, resolveClusterOptions } from '../../src/cluster/options.js';
import { decideRestart } from '../../src/cluster/restart-policy.js';
import { startCluster } from '../../src/cluster/supervisor.js';
import type { ClusterOptions } from '../../src/cluster/types.js';

describe('cluster options', () => {
  it('fills the documented defaults', () => {
    const o = resolveClusterOptions({ script: 'server.js' });
    assert.equal(o.workers, Math.min(256, os.availableParallelism()));
    assert.equal(o.port, 0);
    assert.equal(o.host, '127.0.0.1');
    assert.equal(o.maxSurge, 1);
    assert.equal(o.readyTimeoutMs, 30_000);
    assert.equal(o.drainTimeoutMs, 30_000);
    assert.deepEqual(o.restart, CLUSTER_DEFAULTS.restart);
    assert.ok(Object.isFrozen(o));
  });

  it('rejects bad values naming the option and what it accepts', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /"script" is undefined; accepted: the path/],
      [{ script: 's', workers: 0 }, /"workers" is 0; accepted: an integer from 1 to 256/],
      [{ script: 's', workers: 2, maxSurge: 3 }, /"maxSurge" is 3; accepted: an integer from 1 to workers \(2\)/],
      [{ script: 's', port: 70_000 }, /"port" is 70000/],
      [{ script: 's', readyTimeoutMs: 0 }, /"readyTimeoutMs" is 0/],
      [{ script: 's', args: [1] }, /"args" is an array of 1; accepted: an array of strings/],
      [{ script: 's', restart: { maxFastCrashes: 0 } }, /"restart.maxFastCrashes" is 0/],
      [{ script: 's', restart: { tries: 3 } }, /unknown option "restart.tries"/],
      [{ script: 's', worker: 3 }, /unknown option "worker"; known options: script, args, workers/],
      [{ script: 's', databaseUrl: 5 }, /"databaseUrl" is 5; accepted: a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ script: 's', registry: { labels: {} } }, /"registry" is .*; accepted: registry options together with databaseUrl only/],
      [{ script: 's', databaseUrl: 'postgres://h/db', registry: { heartbeat: 5 } }, /unknown option "registry.heartbeat"; known options: host, labels/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => resolveClusterOptions(options as unknown as ClusterOptions), (err: Error & { code?: string }) => {
        assert.match(err.message, message);
        assert.match(err.code ?? '', /^ERR_DRAINKIT_(INVALID|UNKNOWN)_OPTION$/);
        return true;
      });
    }
  });

  it('startCluster validates before it forks anything', async () => {
    await assert.rejects(startCluster({ script: 's', workers: -1 }), /"workers" is -1/);
  });

  it('startCluster checks the registry URL and options before it forks anything', async () => {
    await assert.rejects(startCluster({ script: 's', databaseUrl: 'mysql://u:secret@h/db' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION');
      assert.match(err.message, /mysql/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    await assert.rejects(startCluster({ script: 's', databaseUrl: 'postgres://h/db', registry: { heartbeatMs: 1 } }), /heartbeatMs/);
  });
});

describe('restart policy', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1_000, fastCrashMs: 10_000, maxFastCrashes: 5 };

  it('backs off exponentially over fast crashes, capped, and gives up after maxFastCrashes', () => {
    let streak = 0;
    const delays: number[] = [];
    for (;;) {
      const d = decideRestart(policy, streak, 50);
      streak = d.fastCrashes;
      if (d.action === 'give-up') break;
      delays.push(d.delayMs);
    }
    assert.deepEqual(delays, [100, 200, 400, 800]);
    assert.equal(streak, 5);
    assert.deepEqual(decideRestart({ ...policy, maxFastCrashes: 10 }, 6, 50), { action: 'restart', delayMs: 1_000, fastCrashes: 7 });
  });

  it('a worker that lived past fastCrashMs starts a new streak', () => {
    assert.deepEqual(decideRestart(policy, 4, 10_000), { action: 'restart', delayMs: 100, fastCrashes: 1 });
  });
});
