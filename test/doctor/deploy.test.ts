/**
 * deploy/kubernetes/ passes the doctor with no finding, its variables are what the process
 * accepts, and docs/kubernetes.md lists exactly the variables and the checks the code has.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { describeAccepted, drainerOptionsFromEnv, ENV_OPTIONS } from '../../src/index.js';
import { checkTexts, formatText, RULES, runDoctor } from '../../src/doctor/index.js';

describe('deploy/kubernetes and docs/kubernetes.md', () => {
  it('the example manifests pass the doctor with no finding', async () => {
    const report = await runDoctor(['deploy/kubernetes']);
    assert.deepEqual(report.findings.map((f) => `${f.location.file}:${f.location.line} [${f.ruleId}] ${f.message}`), []);
    assert.equal(report.exitCode, 0);
    assert.deepEqual([...report.files].sort(), ['deploy/kubernetes/deployment.yaml', 'deploy/kubernetes/pdb.yaml', 'deploy/kubernetes/service.yaml']);
    assert.equal(report.budgets.length, 1);
    assert.equal(report.budgets[0]!.budget.fits, true);
  });

  it('the Deployment\'s DRAINKIT_* variables are accepted by drainerOptionsFromEnv', () => {
    const [doc] = parseAllDocuments(readFileSync('deploy/kubernetes/deployment.yaml', 'utf8'));
    const env = (doc!.toJS() as { spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } })
      .spec.template.spec.containers[0]!.env;
    const options = drainerOptionsFromEnv(Object.fromEntries(env.map((e) => [e.name, e.value])));
    assert.deepEqual(options, { drainTimeoutMs: 25_000, deregister: { mode: 'fixed', delayMs: 5_000 }, hookTimeoutMs: 5_000, keepAliveTimeoutMs: 65_000 });
  });

  it('README.md\'s Kubernetes section: its YAML is an excerpt of deploy/kubernetes/deployment.yaml that the doctor passes, and its budget table is the doctor\'s', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const start = readme.indexOf('\n## With Kubernetes\n');
    assert.ok(start >= 0, 'README.md has a "## With Kubernetes" section');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const block = (lang: string): string => {
      const m = new RegExp(`\`\`\`${lang}\n([\\s\\S]*?)\`\`\``).exec(section);
      assert.ok(m, `the Kubernetes section has a \`\`\`${lang} block`);
      return m[1]!;
    };
    const yaml = block('yaml');
    const report = await checkTexts([{ file: 'README.md', text: yaml }]);
    assert.deepEqual(report.findings.map((f) => `${f.location.line} [${f.ruleId}] ${f.message}`), [], 'the README\'s manifest passes the doctor');
    assert.equal(report.exitCode, 0);
    assert.equal(report.budgets.length, 1);
    // An excerpt: its lines (comments aside) are the Deployment's, in order.
    const strip = (text: string): string[] => text.split('\n').filter((l) => !/^\s*#/.test(l)).map((l) => l.replace(/\s+#.*$/, '')).filter((l) => l.trim() !== '');
    const source = strip(readFileSync('deploy/kubernetes/deployment.yaml', 'utf8'));
    let at = 0;
    for (const line of strip(yaml)) {
      const found = source.indexOf(line, at);
      assert.ok(found >= 0, `README line ${JSON.stringify(line)} is not (in this order) in deploy/kubernetes/deployment.yaml`);
      at = found + 1;
    }
    // The table is what the doctor prints for deploy/kubernetes/ today.
    const printed = formatText(await runDoctor(['deploy/kubernetes'])).trimEnd();
    assert.equal(block('text').trimEnd(), printed, 'README\'s budget table is `npx drainkit doctor deploy/kubernetes/` output');
  });

  it('docs/kubernetes.md has the variable table and the check table of the code, row for row', () => {
    const doc = readFileSync('docs/kubernetes.md', 'utf8');
    const envRows = doc.split('\n').filter((l) => l.startsWith('| `DRAINKIT_'));
    assert.deepEqual(envRows, ENV_OPTIONS.map((s) => `| \`${s.name}\` | \`${s.option}\` | ${describeAccepted(s.value)} | \`${s.defaultText}\` | ${s.description} |`));
    const ruleRows = doc.split('\n').filter((l) => /^\| `[a-z-]+` \| (error|warning|note) \|/.test(l));
    assert.deepEqual(ruleRows, RULES.map((r) => `| \`${r.id}\` | ${r.severity} | ${r.summary} |`));
  });
});
