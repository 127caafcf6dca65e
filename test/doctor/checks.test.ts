/**
 * Every doctor check against a fixture that triggers it, and the clean manifest that triggers
 * none. Each fixture marks the lines its findings must point at with `# expect: <rule-id>…`;
 * the test asserts exactly that set of (rule, line), so a check that fires too often fails too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkTexts, RULES, type DoctorReport } from '../../src/doctor/index.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

function expected(text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /# expect: (.+)$/.exec(line);
    if (m) for (const id of m[1]!.trim().split(/\s+/)) out.push(`${id}@${i + 1}`);
  });
  return out.sort();
}

function found(report: DoctorReport): string[] {
  return report.findings.map((f) => `${f.ruleId}@${f.location.line}`).sort();
}

async function check(name: string): Promise<{ report: DoctorReport; text: string }> {
  const text = readFileSync(`${FIXTURES}${name}`, 'utf8');
  return { report: await checkTexts([{ file: name, text }]), text };
}

function explain(report: DoctorReport): string {
  return report.findings.map((f) => `  ${f.location.line}: ${f.severity} [${f.ruleId}] ${f.message}`).join('\n');
}

describe('doctor checks', () => {
  it('the clean manifest has no finding at all, and its budget fits', async () => {
    const { report } = await check('clean.yaml');
    assert.deepEqual(found(report), [], `clean.yaml has findings:\n${explain(report)}`);
    assert.equal(report.exitCode, 0);
    assert.equal(report.budgets.length, 1);
    const b = report.budgets[0]!;
    assert.equal(b.budget.fits, true);
    assert.deepEqual(b.budget.terms.map((t) => [t.name, t.ms]), [['preStop', 0], ['window', 3_000], ['drain', 15_000], ['hooks', 3_000], ['exit', 1_000], ['margin', 5_000]]);
    assert.equal(b.budget.graceMs, 30_000);
    assert.match(b.budget.terms[2]!.source, /DRAINKIT_DRAIN_TIMEOUT_MS \(line 32\)/);
  });

  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml') && f !== 'clean.yaml').sort();
  for (const name of fixtures) {
    it(`${name} triggers exactly the findings it marks`, async () => {
      const { report, text } = await check(name);
      const want = expected(text);
      assert.ok(want.length > 0, `${name} marks no expected finding`);
      assert.ok(want.some((w) => w.startsWith(`${name.replace(/\.yaml$/, '')}@`)), `${name} does not mark its own rule`);
      assert.deepEqual(found(report), want, `${name}:\n${explain(report)}`);
      for (const f of report.findings) assert.ok(f.message.length > 40, `a message that explains: ${f.message}`);
    });
  }

  it('every workload kind: the pod template is found where the kind keeps it, and findings point into it', async () => {
    const clean = readFileSync(`${FIXTURES}clean.yaml`, 'utf8').split(/^---\n/m)[0]!.replace(/^#.*\n/gm, '').replace('terminationGracePeriodSeconds: 30', 'terminationGracePeriodSeconds: 20');
    // The Deployment's `template:` block (metadata and spec), as the other kinds nest it.
    const template = clean.slice(clean.indexOf('  template:\n')).replace(/\n$/, '');
    const indent = (text: string, by: number): string => text.split('\n').map((l) => (l === '' ? l : ' '.repeat(by) + l)).join('\n');
    const dedent = (text: string, by: number): string => text.split('\n').map((l) => l.slice(by)).join('\n');
    const head = (apiVersion: string, kind: string): string => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: web\n  namespace: shop\n`;
    const kinds: Record<string, string> = {
      StatefulSet: clean.replace('kind: Deployment', 'kind: StatefulSet'),
      DaemonSet: `${head('apps/v1', 'DaemonSet')}spec:\n  selector:\n    matchLabels:\n      app: web\n${template}\n`,
      ReplicaSet: `${head('apps/v1', 'ReplicaSet')}spec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n${template}\n`,
      Job: `${head('batch/v1', 'Job')}spec:\n${template}\n`,
      CronJob: `${head('batch/v1', 'CronJob')}spec:\n  schedule: "*/5 * * * *"\n  jobTemplate:\n    spec:\n${indent(template, 4)}\n`,
      Pod: `${head('v1', 'Pod')}${dedent(template.slice(template.indexOf('    spec:\n')), 4)}\n`,
      PodTemplate: `${head('v1', 'PodTemplate')}${dedent(template, 2)}\n`,
    };
    for (const [kind, text] of Object.entries(kinds)) {
      const report = await checkTexts([{ file: `${kind}.yaml`, text }]);
      const graceLine = text.split('\n').findIndex((l) => l.includes('terminationGracePeriodSeconds: 20')) + 1;
      assert.deepEqual(report.budgets.map((b) => `${b.workload} [${b.container}] ${b.budget.graceMs}`), [`${kind}/web [app] 20000`], `${kind}:\n${text}\n${explain(report)}`);
      assert.deepEqual(found(report), [`grace-budget@${graceLine}`], `${kind}:\n${explain(report)}`);
    }
  });

  it('every rule has its fixture', () => {
    const names = new Set(fixtures.map((f) => f.replace(/\.yaml$/, '')));
    assert.deepEqual(RULES.map((r) => r.id).filter((id) => !names.has(id)), []);
  });

  it('messages give the numbers and the fix', async () => {
    const { report } = await check('grace-budget.yaml');
    const f = report.findings.find((x) => x.ruleId === 'grace-budget')!;
    assert.match(f.message, /grace 20 s < preStop 0 s \+ window 3 s \+ drain 15 s \+ hooks 3 s \+ exit 1 s \+ margin 5 s = 27 s/);
    assert.match(f.message, /terminationGracePeriodSeconds: 27/);
    assert.equal(report.exitCode, 8);
    // The grace the fix names fits: past 50 s the default margin is a tenth of the grace, so the total rounded up would not.
    const long = readFileSync(`${FIXTURES}grace-budget.yaml`, 'utf8');
    const longReport = await checkTexts([{ file: 'long.yaml', text: long }], { overrides: { DRAINKIT_DRAIN_TIMEOUT_MS: '60000' } });
    const advised = Number(/set terminationGracePeriodSeconds: (\d+) \(or more\)/.exec(longReport.findings.find((x) => x.ruleId === 'grace-budget')!.message)![1]);
    assert.equal(advised, 75, 'window 3 + drain 60 + hooks 3 + exit 1 = 67 s of terms and a tenth of the grace as margin: 74.5 s of 75 (74 would need 74.4; the total at grace 20 s, 72 s, would need 74.2)');
    const refit = await checkTexts([{ file: 'long.yaml', text: long.replace('terminationGracePeriodSeconds: 20', `terminationGracePeriodSeconds: ${advised}`) }], { overrides: { DRAINKIT_DRAIN_TIMEOUT_MS: '60000' } });
    assert.deepEqual(refit.findings.map((x) => x.ruleId).filter((id) => id === 'grace-budget'), [], 'the advised grace fits');
    // An unreadable preStop counts as the whole grace: "raise the grace" would never fit, so the fix says what does.
    const unknown = (await check('prestop-duration-unknown.yaml')).report.findings.find((x) => x.ruleId === 'grace-budget')!;
    assert.doesNotMatch(unknown.message, /set terminationGracePeriodSeconds: \d+ \(or more\)/);
    assert.match(unknown.message, /the preStop's duration cannot be read, so it counts as the whole grace and no grace fits: give it a known duration N .* set terminationGracePeriodSeconds to N \+ 27 or more/);
    const env = (await check('env-invalid.yaml')).report.findings.map((x) => x.message).join('\n');
    assert.match(env, /DRAINKIT_DRAIN_TIMEOUT_MS is "15s"; accepted: an integer from 0 to 3600000/);
    assert.match(env, /DRAINKIT_HOOK_TIMEOUT \(did you mean DRAINKIT_HOOK_TIMEOUT_MS\?\)/);
    const eats = (await check('prestop-eats-grace.yaml')).report.findings.find((x) => x.ruleId === 'prestop-eats-grace')!;
    assert.match(eats.message, /Shorten the sleep to at most 3 s/);
    // A grace where no sleep at all fits the rest of the budget (window 3 + drain 15 + hooks 3 + exit 1 + margin 5 > 20).
    const tight = readFileSync(`${FIXTURES}prestop-eats-grace.yaml`, 'utf8').replace('terminationGracePeriodSeconds: 30', 'terminationGracePeriodSeconds: 20').replace(/seconds: 29|"29"|sleep 29/, (m) => m.replace('29', '19'));
    const none = (await checkTexts([{ file: 'tight.yaml', text: tight }])).findings.find((x) => x.ruleId === 'prestop-eats-grace')!;
    assert.doesNotMatch(none.message, /0–0 s|at most/, 'no "shorten the sleep to 0–0 s" when no sleep fits');
    assert.match(none.message, /No sleep fits this grace: remove it .* raise terminationGracePeriodSeconds to 27 or more/);
    const typo = (await check('unknown-field.yaml')).report.findings.map((x) => x.message).join('\n');
    assert.match(typo, /lifecycle\.preStopHook \(did you mean preStop\?\)/);
    assert.match(typo, /periodSecond \(did you mean periodSeconds\?\)/);
  });
});
