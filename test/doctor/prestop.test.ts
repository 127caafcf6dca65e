/**
 * The doctor and drainkit's preStop endpoint: a call to it is the window itself in the budget
 * (not preStop + window), a sleep gets the endpoint recommended with the hook to paste, and a
 * call drainkit would refuse (main port without the secret) is flagged.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkTexts, type DoctorReport } from '../../src/doctor/index.js';

interface Pod {
  readonly env: Readonly<Record<string, string>>;
  /** The lifecycle.preStop block, indented under `preStop:`. */
  readonly preStop?: string;
  readonly readinessPort?: string;
  readonly graceS?: number;
}

function manifest(p: Pod): string {
  const env = Object.entries(p.env).map(([k, v]) => `        - name: ${k}\n          ${v.startsWith('secret:') ? `valueFrom: { secretKeyRef: { name: ${v.slice(7)}, key: token } }` : `value: "${v}"`}`).join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: ${p.graceS ?? 30}
  containers:
    - name: app
      image: example/web:1
      command: ["node", "server.js"]
      ports:
        - { name: http, containerPort: 3000 }
        - { name: health, containerPort: 9090 }
      env:
${env}
${p.preStop ? `      lifecycle:\n        preStop:\n${p.preStop}\n` : ''}      readinessProbe:
        httpGet: { path: /readyz, port: ${p.readinessPort ?? 'health'} }
        periodSeconds: 2
        failureThreshold: 1
      livenessProbe:
        httpGet: { path: /healthz, port: ${p.readinessPort ?? 'health'} }
`;
}

const WINDOW_ENV = { DRAINKIT_DRAIN_TIMEOUT_MS: '15000', DRAINKIT_DEREGISTER_DELAY_MS: '3000', DRAINKIT_HOOK_TIMEOUT_MS: '3000' };
const HEALTH_ENV = { ...WINDOW_ENV, DRAINKIT_HEALTH_PORT: '9090', DRAINKIT_PRESTOP_PATH: '/prestop' };
const TOKEN_ENV = { ...WINDOW_ENV, DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_PRESTOP_TOKEN: 'secret:web-prestop' };

async function doctor(p: Pod): Promise<DoctorReport> {
  return checkTexts([{ file: 'pod.yaml', text: manifest(p) }], { marginMs: 5_000 });
}

function ids(r: DoctorReport): string[] {
  return r.findings.map((f) => f.ruleId).sort();
}

function explain(r: DoctorReport): string {
  return r.findings.map((f) => `${f.ruleId}: ${f.message}`).join('\n');
}

describe('doctor: the preStop endpoint', () => {
  it('counts an httpGet to the preStop endpoint as the window itself, where the same sleep adds up', async () => {
    const endpoint = await doctor({ env: HEALTH_ENV, preStop: '          httpGet: { path: /prestop, port: health }' });
    assert.deepEqual(ids(endpoint), [], explain(endpoint));
    const b = endpoint.budgets[0]!.budget;
    assert.deepEqual(b.terms.map((t) => [t.name, t.ms]), [['preStop', 0], ['window', 3_000], ['drain', 15_000], ['hooks', 3_000], ['exit', 1_000], ['margin', 5_000]]);
    assert.match(b.terms[0]!.source, /httpGet to drainkit's preStop endpoint \(line \d+\): the kubelet's wait is the window, counted once/);

    const sleep = await doctor({ env: HEALTH_ENV, preStop: '          sleep: { seconds: 5 }' });
    assert.equal(sleep.budgets[0]!.budget.totalMs, b.totalMs + 5_000);
    // A grace that holds the window once but not the sleep on top of it.
    const tight = { graceS: 27 };
    assert.equal((await doctor({ ...tight, env: HEALTH_ENV, preStop: '          httpGet: { path: /prestop, port: 9090 }' })).exitCode, 0);
    assert.ok(ids(await doctor({ ...tight, env: HEALTH_ENV, preStop: '          sleep: { seconds: 5 }' })).includes('grace-budget'));
  });

  it('on the main port with the secret header and a token from a Secret: clean, counted once', async () => {
    const r = await doctor({
      env: TOKEN_ENV,
      readinessPort: 'http',
      preStop: '          httpGet:\n            path: /prestop\n            port: http\n            httpHeaders:\n              - { name: X-Drainkit-Prestop, value: "copied-from-the-secret" }',
    });
    assert.deepEqual(ids(r), [], explain(r));
    assert.equal(r.budgets[0]!.budget.terms[0]!.ms, 0);
  });

  it('flags a call drainkit refuses: the main port without the token (404), or the token without the header (403)', async () => {
    const noToken = await doctor({ env: HEALTH_ENV, preStop: '          httpGet: { path: /prestop, port: http }' });
    assert.deepEqual(ids(noToken), ['prestop-endpoint-unprotected'], explain(noToken));
    assert.match(noToken.findings[0]!.message, /refused with 404: the hook calls port http, the main service port, not the health port 9090/);
    assert.match(noToken.findings[0]!.message, /any client could drain the pod/);
    assert.equal(noToken.exitCode, 1);
    const onlyMain = await doctor({ env: { ...WINDOW_ENV, DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_PRESTOP_TOKEN: 'secret:s' }, readinessPort: 'http', preStop: '          httpGet: { path: /prestop, port: 3000 }' });
    assert.deepEqual(ids(onlyMain), ['prestop-endpoint-unprotected'], explain(onlyMain));
    assert.match(onlyMain.findings[0]!.message, /refused with 403: drainkit requires the x-drainkit-prestop header/);
    const literal = { ...WINDOW_ENV, DRAINKIT_PRESTOP_PATH: '/prestop', DRAINKIT_PRESTOP_TOKEN: 'the-token-in-the-manifest' };
    const hook = (value: string): string => `          httpGet:\n            path: /prestop\n            port: http\n            httpHeaders: [{ name: x-drainkit-prestop, value: "${value}" }]`;
    const wrong = await doctor({ env: literal, readinessPort: 'http', preStop: hook('another-token-entirely') });
    assert.deepEqual(ids(wrong), ['prestop-endpoint-unprotected'], explain(wrong));
    assert.match(wrong.findings[0]!.message, /refused with 403: the hook's x-drainkit-prestop header is not the value of DRAINKIT_PRESTOP_TOKEN/);
    assert.doesNotMatch(wrong.findings[0]!.message, /the-token-in-the-manifest|another-token-entirely/, 'no secret in the report');
    assert.deepEqual(ids(await doctor({ env: literal, readinessPort: 'http', preStop: hook('the-token-in-the-manifest') })), []);
  });

  it('an httpGet elsewhere keeps its unknown duration, naming drainkit\'s path', async () => {
    const other = await doctor({ env: HEALTH_ENV, preStop: '          httpGet: { path: /shutdown, port: http }' });
    assert.ok(ids(other).includes('prestop-duration-unknown'), explain(other));
    assert.match(other.findings.find((f) => f.ruleId === 'prestop-duration-unknown')!.message, /an httpGet to \/shutdown \(drainkit's preStop path is \/prestop\)/);
    const unset = await doctor({ env: WINDOW_ENV, readinessPort: 'http', preStop: '          httpGet: { path: /prestop, port: http }' });
    assert.match(unset.findings.find((f) => f.ruleId === 'prestop-duration-unknown')!.message, /not configured \(DRAINKIT_PRESTOP_PATH/);
  });

  it('recommends the endpoint for a sleep, with the httpGet to paste: path, port and header', async () => {
    for (const form of ['          sleep: { seconds: 5 }', '          exec: { command: ["sleep", "5"] }']) {
      const onMain = await doctor({ env: WINDOW_ENV, readinessPort: 'http', preStop: form });
      const f = onMain.findings.find((x) => x.ruleId === 'prestop-sleep-to-endpoint');
      assert.ok(f, explain(onMain));
      assert.equal(f.severity, 'note');
      assert.match(f.message, /httpGet: \{ path: \/prestop, port: http, httpHeaders: \[\{ name: x-drainkit-prestop, value: <DRAINKIT_PRESTOP_TOKEN> \}\] \}/);
      assert.match(f.message, /set DRAINKIT_PRESTOP_PATH=\/prestop and DRAINKIT_PRESTOP_TOKEN from a Secret/);
      assert.match(f.message, /the budget drops from 32 s to 27 s/);
    }
    const onHealth = await doctor({ env: HEALTH_ENV, preStop: '          sleep: { seconds: 5 }' });
    const h = onHealth.findings.find((x) => x.ruleId === 'prestop-sleep-to-endpoint')!;
    assert.match(h.message, /httpGet: \{ path: \/prestop, port: 9090 \} \} \}/);
    assert.doesNotMatch(h.message, /set DRAINKIT_PRESTOP_PATH/, 'already set');
    assert.equal((await doctor({ env: HEALTH_ENV })).findings.length, 0, 'no sleep, no recommendation');
  });

  it('a traffic-confirmed window ends as early as its minimum: the endpoint lag check uses it', async () => {
    const env = { DRAINKIT_DRAIN_TIMEOUT_MS: '15000', DRAINKIT_DEREGISTER_CONFIRM: 'traffic', DRAINKIT_DEREGISTER_MIN_MS: '500', DRAINKIT_DEREGISTER_MAX_MS: '6000', DRAINKIT_HOOK_TIMEOUT_MS: '3000', DRAINKIT_HEALTH_PORT: '9090', DRAINKIT_PRESTOP_PATH: '/prestop' };
    const r = await doctor({ env, preStop: '          httpGet: { path: /prestop, port: health }' });
    assert.deepEqual(ids(r), ['window-below-lag'], explain(r));
    assert.match(r.findings[0]!.message, /window adaptive 500 ms–6 s, which ends as early as 500 ms\), but its endpoints' consumers take up to 2 s to stop routing .*: connections in the 1\.5 s between are refused\. Keep accepting until 2 s \+ 1 s = 3 s: set DRAINKIT_DEREGISTER_MIN_MS=3000\./);
    // A minimum equal to the lag leaves no margin for a consumer slower than the estimate: still a warning, with the margin's numbers.
    const atLag = await doctor({ env: { ...env, DRAINKIT_DEREGISTER_MIN_MS: '2000' }, preStop: '          httpGet: { path: /prestop, port: health }' });
    assert.deepEqual(ids(atLag), ['window-below-lag'], explain(atLag));
    assert.match(atLag.findings[0]!.message, /exactly when its endpoints' consumers stop routing \(2 s, .*\); the margin is 1 s \(1 s or a quarter of the lag.*--lag-margin-ms\).* set DRAINKIT_DEREGISTER_MIN_MS=3000\./);
    assert.deepEqual(ids(await doctor({ env: { ...env, DRAINKIT_DEREGISTER_MIN_MS: '3000' }, preStop: '          httpGet: { path: /prestop, port: health }' })), []);
    // The maximum bounds the minimum: the fix names both when it must grow; a bigger lag has a quarter of it as margin.
    const big = await checkTexts([{ file: 'pod.yaml', text: manifest({ env, preStop: '          httpGet: { path: /prestop, port: health }' }) }], { endpointLagMs: 20_000 });
    assert.match(big.findings.find((f) => f.ruleId === 'window-below-lag')!.message, /Keep accepting until 20 s \+ 5 s = 25 s: set DRAINKIT_DEREGISTER_MIN_MS=25000 and DRAINKIT_DEREGISTER_MAX_MS=25000 \(the maximum bounds it\), and raise terminationGracePeriodSeconds to \d+/);
    const flagged = await checkTexts([{ file: 'pod.yaml', text: manifest({ env: { ...env, DRAINKIT_DEREGISTER_MIN_MS: '2000' }, preStop: '          httpGet: { path: /prestop, port: health }' }) }], { lagMarginMs: 0 });
    assert.deepEqual(ids(flagged), [], '--lag-margin-ms 0: the bare comparison');
  });

  it('a window confirmed by counted probes ends as early as its N-th 503 probe and a quiet period: the lag check counts the periods', async () => {
    const env = { DRAINKIT_DRAIN_TIMEOUT_MS: '15000', DRAINKIT_DEREGISTER_MAX_MS: '6000', DRAINKIT_PROBE_FAILURE_THRESHOLD: '1', DRAINKIT_HOOK_TIMEOUT_MS: '3000', DRAINKIT_HEALTH_PORT: '9090' };
    const one = await doctor({ env });
    assert.deepEqual(ids(one), ['window-below-lag'], explain(one));
    assert.match(one.findings[0]!.message, /window adaptive 0 s–6 s, which ends as early as 500 ms: the 1st 503 probe \(one every 2 s\), then 500 ms quiet\), but .* set DRAINKIT_DEREGISTER_MIN_MS=3000\./);
    // Three probes 2 s apart take 4 s before the quiet period: 4.5 s, past 2 s + 1 s (the threshold mismatch is another finding).
    const three = await doctor({ env: { ...env, DRAINKIT_PROBE_FAILURE_THRESHOLD: '3' } });
    assert.deepEqual(ids(three), ['probe-threshold-mismatch'], explain(three));
  });

  it('reports bad preStop variables at their line, as drainkit would refuse them', async () => {
    const r = await doctor({ env: { ...WINDOW_ENV, DRAINKIT_PRESTOP_PATH: '/prestop' }, readinessPort: 'http' });
    assert.deepEqual(ids(r), ['env-invalid'], explain(r));
    assert.match(r.findings[0]!.message, /DRAINKIT_PRESTOP_PATH is "\/prestop" with neither DRAINKIT_HEALTH_PORT nor DRAINKIT_PRESTOP_TOKEN/);
    const fixed = await doctor({ env: { DRAINKIT_DEREGISTER_MODE: 'fixed' }, readinessPort: 'http' });
    assert.ok(fixed.findings.some((f) => f.ruleId === 'env-invalid' && /DRAINKIT_DEREGISTER_DELAY_MS is not set/.test(f.message)), explain(fixed));
  });

  it('the Deployment in docs/kubernetes-prestop.md passes with the settings of the page\'s code example', async () => {
    const doc = readFileSync('docs/kubernetes-prestop.md', 'utf8');
    const yaml = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('kind: Deployment'));
    assert.ok(yaml, 'the page has its Deployment');
    // createDrainer(server, { deregister: { mode: 'adaptive', minMs: 3_000, maxMs: 20_000, quietMs: 1_000, confirm: 'traffic' }, drainTimeoutMs: 30_000, health: { port: 9090, preStopPath: '/prestop' } })
    const overrides = { DRAINKIT_DEREGISTER_CONFIRM: 'traffic', DRAINKIT_DEREGISTER_MIN_MS: '3000', DRAINKIT_DEREGISTER_MAX_MS: '20000', DRAINKIT_DEREGISTER_QUIET_MS: '1000', DRAINKIT_DRAIN_TIMEOUT_MS: '30000', DRAINKIT_HEALTH_PORT: '9090', DRAINKIT_PRESTOP_PATH: '/prestop' };
    const r = await checkTexts([{ file: 'kubernetes-prestop.md', text: yaml }], { overrides });
    assert.deepEqual(ids(r), [], explain(r));
    assert.equal(r.budgets[0]!.budget.terms[0]!.ms, 0);
  });
});
