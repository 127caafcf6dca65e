/** drainerOptionsFromEnv: the environment sets the same options code does, strictly. */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer, drainerOptionsFromEnv, DrainkitError, ENV_OPTIONS } from '../../src/index.js';

function throwsEnv(env: Record<string, string>, code: string, pattern: RegExp): void {
  assert.throws(() => drainerOptionsFromEnv(env), (err: unknown) => {
    assert.ok(err instanceof DrainkitError, `a DrainkitError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('drainerOptionsFromEnv', () => {
  it('returns nothing for an environment without DRAINKIT_ variables, so every default applies', () => {
    assert.deepEqual(drainerOptionsFromEnv({ PATH: '/usr/bin', HOME: '/root', DRAINKITX: '1' }), {});
  });

  it('reads every variable of the table into the options createDrainer accepts', () => {
    const options = drainerOptionsFromEnv({
      DRAINKIT_DRAIN_TIMEOUT_MS: '12000',
      DRAINKIT_DEREGISTER_MODE: 'adaptive',
      DRAINKIT_DEREGISTER_MIN_MS: '1000',
      DRAINKIT_DEREGISTER_MAX_MS: '8000',
      DRAINKIT_DEREGISTER_QUIET_MS: '300',
      DRAINKIT_PROBE_FAILURE_THRESHOLD: '3',
      DRAINKIT_READINESS_PATH: '/ready',
      DRAINKIT_LIVENESS_PATH: '/live',
      DRAINKIT_HEALTH_PORT: '0',
      DRAINKIT_KEEP_ALIVE_TIMEOUT_MS: '75000',
      DRAINKIT_HOOK_TIMEOUT_MS: '2000',
      DRAINKIT_LINGER_MS: '1500',
      DRAINKIT_EXIT_GRACE_MS: '500',
      DRAINKIT_PERSISTENT_SHUTDOWN: 'drain-start',
      DRAINKIT_PERSISTENT_SPREAD_MS: '250',
    });
    assert.deepEqual(options, {
      drainTimeoutMs: 12_000,
      deregister: { mode: 'adaptive', minMs: 1_000, maxMs: 8_000, quietMs: 300, probeFailureThreshold: 3 },
      health: { readinessPath: '/ready', livenessPath: '/live', port: 0 },
      keepAliveTimeoutMs: 75_000,
      hookTimeoutMs: 2_000,
      lingerMs: 1_500,
      exitGraceMs: 500,
      persistentShutdown: 'drain-start',
      persistentSpreadMs: 250,
    });
    const drainer = createDrainer(http.createServer(), { ...options, health: { readinessPath: '/ready', livenessPath: '/live' }, signals: false });
    assert.equal(drainer.options.drainTimeoutMs, 12_000);
    assert.deepEqual(drainer.options.deregister, options.deregister);
    drainer.detach();
  });

  it('every variable of the table is read (none is documented but ignored)', () => {
    // The variables that cannot stand alone, with the companion each needs.
    const companions: Record<string, Record<string, string>> = {
      DRAINKIT_DEREGISTER_CONFIRM: { DRAINKIT_DEREGISTER_MIN_MS: '0' },
      DRAINKIT_PRESTOP_PATH: { DRAINKIT_HEALTH_PORT: '0' },
      DRAINKIT_PRESTOP_TOKEN: { DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_HEALTH_PORT: '0' },
    };
    for (const spec of ENV_OPTIONS) {
      const raw = spec.value.kind === 'choice' ? spec.value.choices.at(-1)! : spec.value.kind === 'integer' ? String(Math.min(spec.value.max, Math.max(spec.value.min, 1_000))) : spec.value.kind === 'secret' ? 's'.repeat(spec.value.minLength) : '/x';
      const base = companions[spec.name] ?? {};
      const without = Object.keys(base).length > 0 ? drainerOptionsFromEnv(base) : {};
      const options = drainerOptionsFromEnv({ ...base, [spec.name]: raw });
      assert.notDeepEqual(options, without, `${spec.name}=${raw} set no option`);
    }
  });

  it('reads the preStop endpoint and the traffic confirmation, which createDrainer accepts', () => {
    const token = 'k8s-prestop-secret-0123';
    const options = drainerOptionsFromEnv({
      DRAINKIT_DEREGISTER_CONFIRM: 'traffic',
      DRAINKIT_DEREGISTER_MIN_MS: '1500',
      DRAINKIT_PRESTOP_PATH: '/prestop',
      DRAINKIT_PRESTOP_TOKEN: token,
    });
    assert.deepEqual(options, {
      deregister: { mode: 'adaptive', minMs: 1_500, maxMs: 5_000, quietMs: 500, probeFailureThreshold: undefined, confirm: 'traffic' },
      health: { preStopPath: '/prestop', preStopToken: token },
    });
    const drainer = createDrainer(http.createServer(), { ...options, signals: false });
    assert.deepEqual(drainer.options.deregister, { mode: 'adaptive', minMs: 1_500, maxMs: 5_000, quietMs: 500, confirm: 'traffic' });
    assert.equal(drainer.options.health && drainer.options.health.preStopToken, token);
    drainer.detach();
    assert.deepEqual(drainerOptionsFromEnv({ DRAINKIT_DEREGISTER_CONFIRM: 'balancer' }).deregister, { mode: 'adaptive', minMs: 0, maxMs: 5_000, quietMs: 500, probeFailureThreshold: undefined, confirm: 'balancer' });
    assert.deepEqual(drainerOptionsFromEnv({ DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_HEALTH_PORT: '9090' }).health, { port: 9_090, preStopPath: '/prestop' });
  });

  it('rejects bad preStop and confirmation settings naming the variables, never echoing the secret', () => {
    throwsEnv({ DRAINKIT_DEREGISTER_CONFIRM: 'quiet' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_CONFIRM is "quiet"; accepted: "balancer" or "traffic"/);
    throwsEnv({ DRAINKIT_DEREGISTER_CONFIRM: 'traffic' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_CONFIRM is "traffic" but DRAINKIT_DEREGISTER_MIN_MS is not set/);
    throwsEnv({ DRAINKIT_DEREGISTER_CONFIRM: 'traffic', DRAINKIT_DEREGISTER_DELAY_MS: '100' }, 'ERR_DRAINKIT_INVALID_OPTION', /mix the fixed window/);
    throwsEnv({ DRAINKIT_PRESTOP_PATH: 'prestop', DRAINKIT_HEALTH_PORT: '0' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_PRESTOP_PATH is "prestop"; accepted: a path starting with "\/"/);
    throwsEnv({ DRAINKIT_PRESTOP_PATH: '/prestop' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_PRESTOP_PATH is "\/prestop" with neither DRAINKIT_HEALTH_PORT nor DRAINKIT_PRESTOP_TOKEN/);
    throwsEnv({ DRAINKIT_PRESTOP_PATH: '/readyz', DRAINKIT_HEALTH_PORT: '0' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_PRESTOP_PATH is "\/readyz", the readiness path/);
    throwsEnv({ DRAINKIT_PRESTOP_TOKEN: 'k8s-prestop-secret-0123' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_PRESTOP_TOKEN is set without DRAINKIT_PRESTOP_PATH/);
    for (const bad of ['short-secret', 'has a space in the middle!']) {
      assert.throws(() => drainerOptionsFromEnv({ DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_PRESTOP_TOKEN: bad }), (err: unknown) => {
        assert.ok(err instanceof DrainkitError);
        assert.match(err.message, new RegExp(`DRAINKIT_PRESTOP_TOKEN is a value of ${bad.length} character\\(s\\) that does not fit; accepted: a secret of 16 to 256 visible ASCII characters`));
        assert.ok(!err.message.includes(bad), `the secret is echoed: ${err.message}`);
        return true;
      });
    }
  });

  it('refuses a fixed window without its length, as the options do, instead of guessing 5000', () => {
    throwsEnv({ DRAINKIT_DEREGISTER_MODE: 'fixed' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_MODE is "fixed" but DRAINKIT_DEREGISTER_DELAY_MS is not set; accepted: DRAINKIT_DEREGISTER_DELAY_MS with it/);
    assert.throws(() => createDrainer(http.createServer(), { deregister: { mode: 'fixed' } as never, signals: false }), { code: 'ERR_DRAINKIT_INVALID_OPTION' });
  });

  it('infers the window mode from its variables, with the defaults of the other fields', () => {
    assert.deepEqual(drainerOptionsFromEnv({ DRAINKIT_DEREGISTER_DELAY_MS: '3000' }), { deregister: { mode: 'fixed', delayMs: 3_000 } });
    assert.deepEqual(drainerOptionsFromEnv({ DRAINKIT_DEREGISTER_MAX_MS: '2000' }), {
      deregister: { mode: 'adaptive', minMs: 0, maxMs: 2_000, quietMs: 500, probeFailureThreshold: undefined },
    });
  });

  it('rejects a bad value naming the variable, the value and what is accepted', () => {
    throwsEnv({ DRAINKIT_DRAIN_TIMEOUT_MS: '30s' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DRAIN_TIMEOUT_MS is "30s"; accepted: an integer from 0 to 3600000/);
    throwsEnv({ DRAINKIT_DRAIN_TIMEOUT_MS: '-1' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DRAIN_TIMEOUT_MS is "-1"/);
    throwsEnv({ DRAINKIT_DRAIN_TIMEOUT_MS: '1e4' }, 'ERR_DRAINKIT_INVALID_OPTION', /is "1e4"/);
    throwsEnv({ DRAINKIT_LINGER_MS: '' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_LINGER_MS is ""; accepted/);
    throwsEnv({ DRAINKIT_KEEP_ALIVE_TIMEOUT_MS: '500' }, 'ERR_DRAINKIT_INVALID_OPTION', /from 1000 to 3600000/);
    throwsEnv({ DRAINKIT_DEREGISTER_MODE: 'Adaptive' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_MODE is "Adaptive"; accepted: "fixed" or "adaptive"/);
    throwsEnv({ DRAINKIT_READINESS_PATH: 'readyz' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_READINESS_PATH is "readyz"; accepted: a path starting with "\/"/);
    throwsEnv({ DRAINKIT_LIVENESS_PATH: '/readyz' }, 'ERR_DRAINKIT_INVALID_OPTION', /two different paths/);
    throwsEnv({ DRAINKIT_PROBE_FAILURE_THRESHOLD: '0' }, 'ERR_DRAINKIT_INVALID_OPTION', /from 1 to 100/);
  });

  it('rejects variables of the other window mode, and a minimum above the maximum', () => {
    throwsEnv({ DRAINKIT_DEREGISTER_MODE: 'fixed', DRAINKIT_DEREGISTER_MAX_MS: '100' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_MAX_MS does not apply with DRAINKIT_DEREGISTER_MODE=fixed/);
    throwsEnv({ DRAINKIT_DEREGISTER_MODE: 'adaptive', DRAINKIT_DEREGISTER_DELAY_MS: '100' }, 'ERR_DRAINKIT_INVALID_OPTION', /DRAINKIT_DEREGISTER_DELAY_MS does not apply with DRAINKIT_DEREGISTER_MODE=adaptive/);
    throwsEnv({ DRAINKIT_DEREGISTER_DELAY_MS: '100', DRAINKIT_DEREGISTER_QUIET_MS: '100' }, 'ERR_DRAINKIT_INVALID_OPTION', /mix the fixed window/);
    throwsEnv({ DRAINKIT_DEREGISTER_MIN_MS: '6000' }, 'ERR_DRAINKIT_INVALID_OPTION', /MIN_MS is 6000; accepted: at most the window's maximum \(DRAINKIT_DEREGISTER_MAX_MS, 5000\)/);
  });

  it('rejects an unknown DRAINKIT_ name with the closest known one, instead of ignoring a typo', () => {
    throwsEnv({ DRAINKIT_DRAIN_TIMEOUT: '5000' }, 'ERR_DRAINKIT_UNKNOWN_OPTION', /unknown environment variable DRAINKIT_DRAIN_TIMEOUT \(did you mean DRAINKIT_DRAIN_TIMEOUT_MS\?\); known: DRAINKIT_DRAIN_TIMEOUT_MS, /);
    throwsEnv({ DRAINKIT_COLOUR: 'blue' }, 'ERR_DRAINKIT_UNKNOWN_OPTION', /unknown environment variable DRAINKIT_COLOUR; known:/);
  });

  it('passes over the DRAINKIT_ variables other parts of drainkit read (registry identity, cluster worker marker, dashboard token)', () => {
    // A cluster worker's environment always carries DRAINKIT_CLUSTER, and fleets set
    // DRAINKIT_INSTANCE_HOST: neither may make the example server (or an app) refuse to start.
    assert.deepStrictEqual(drainerOptionsFromEnv({ DRAINKIT_INSTANCE_HOST: 'web-1', DRAINKIT_CLUSTER: 'drainkit-cluster/1', DRAINKIT_DASHBOARD_TOKEN: 't' }), {});
  });

  it('reads process.env by default', () => {
    const saved = process.env.DRAINKIT_LINGER_MS;
    process.env.DRAINKIT_LINGER_MS = '42';
    try {
      assert.deepEqual(drainerOptionsFromEnv(), { lingerMs: 42 });
    } finally {
      if (saved === undefined) delete process.env.DRAINKIT_LINGER_MS;
      else process.env.DRAINKIT_LINGER_MS = saved;
    }
  });
});
