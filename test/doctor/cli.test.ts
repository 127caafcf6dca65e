/**
 * `drainkit doctor` as a process: inputs (files, folders, stdin by - or by no path, helm template output), the
 * three formats, exit codes, flags over the manifest, and bad input with clear errors.
 * Needs `npm run build` (dist/cli/main.js).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const MAIN = 'dist/cli/main.js';
const FIX = 'test/doctor/fixtures';
const scratch = mkdtempSync(join(tmpdir(), 'drainkit-doctor-'));

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `command args`, writes `stdin` (then closes it), and collects its output; `what` names it when it hangs. */
function run(command: string, args: readonly string[], what: string, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not exit within 20 s: ${stdout}`));
    }, 20_000);
    child.once('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin.end(stdin);
  });
}

function doctor(args: readonly string[], stdin?: string): Promise<Run> {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
  return run(process.execPath, [MAIN, 'doctor', ...args], `drainkit doctor ${args.join(' ')}`, stdin ?? '');
}

function helmRender(grace = 10): string {
  // What `helm template web ./chart` prints: a `# Source:` comment before every manifest, and
  // `---` alone for a template that rendered to nothing.
  const clean = readFileSync(`${FIX}/clean.yaml`, 'utf8').replace(/^#.*\n/gm, '');
  const [deployment, service] = clean.split(/^---\n/m);
  return [
    '---',
    '# Source: web/templates/service.yaml',
    service!.trim(),
    '---',
    '# Source: web/templates/deployment.yaml',
    deployment!.trim().replace('terminationGracePeriodSeconds: 30', `terminationGracePeriodSeconds: ${grace}`),
    '---',
    '# Source: web/templates/empty.yaml',
    '---',
    '',
  ].join('\n');
}

describe('drainkit doctor (CLI)', { timeout: 120_000 }, () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('exit codes: 0 clean, 1 warnings only, 8 errors; the report has the budget table', async () => {
    const clean = await doctor([`${FIX}/clean.yaml`]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /Deployment\/web \[app\]/);
    assert.match(clean.stdout, /drain\s+15 s\s+DRAINKIT_DRAIN_TIMEOUT_MS \(line 32\)/);
    assert.match(clean.stdout, /total\s+27 s\s+grace 30 s from terminationGracePeriodSeconds \(line 23\): fits, 3 s to spare/);
    assert.match(clean.stdout, /0 errors, 0 warnings, 0 notes \(exit 0\)/);
    const warn = await doctor([`${FIX}/shell-entrypoint.yaml`]);
    assert.equal(warn.code, 1, warn.stdout);
    const errors = await doctor([`${FIX}/grace-budget.yaml`]);
    assert.equal(errors.code, 8, errors.stdout);
    assert.match(errors.stdout, /grace-budget.yaml:22: error \[grace-budget\]/);
    assert.match(errors.stdout, /DOES NOT FIT: SIGKILL 7 s before the drain's bound/);
  });

  it('reads folders (several files) and several documents per file', async () => {
    const dir = join(scratch, 'folder');
    const nested = join(dir, 'nested');
    await import('node:fs/promises').then((fs) => fs.mkdir(nested, { recursive: true }));
    writeFileSync(join(dir, 'a.yaml'), readFileSync(`${FIX}/clean.yaml`));
    writeFileSync(join(nested, 'b.yml'), readFileSync(`${FIX}/shell-entrypoint.yaml`));
    writeFileSync(join(dir, 'notes.txt'), 'not read');
    const r = await doctor(['--format', 'json', dir]);
    const json = JSON.parse(r.stdout) as { files: string[]; objects: number; workloads: number; exitCode: number };
    assert.equal(json.files.length, 2, JSON.stringify(json.files));
    // clean.yaml: a Deployment and a Service; shell-entrypoint.yaml: the same and one Deployment per entrypoint form.
    assert.equal(json.objects, 11);
    assert.equal(json.workloads, 9);
    assert.equal(r.code, 1);
  });

  it('helm template output on stdin: findings name the template of their document', async () => {
    const r = await doctor(['-'], helmRender());
    assert.equal(r.code, 8, r.stdout + r.stderr);
    assert.match(r.stdout, /<stdin>:\d+ \(web\/templates\/deployment\.yaml\): error \[grace-budget\]/);
    assert.match(r.stdout, /^Deployment\/web \[app\] {2}<stdin>:\d+ \(web\/templates\/deployment\.yaml\)$/m, 'the budget table names the template');
    const json = JSON.parse((await doctor(['--format', 'json', '-'], helmRender())).stdout) as { findings: { ruleId: string; template?: string; file: string; line: number }[] };
    const f = json.findings.find((x) => x.ruleId === 'grace-budget')!;
    assert.equal(f.template, 'web/templates/deployment.yaml');
    assert.equal(f.file, '<stdin>');
    const lines = helmRender().split('\n');
    assert.match(lines[f.line - 1]!, /terminationGracePeriodSeconds: 10/, 'the line is the rendered one in the input');
  });

  it('no path: standard input is read when it is piped (helm template . | drainkit doctor), as - does', async () => {
    const piped = await doctor([], helmRender());
    assert.equal(piped.code, 8, piped.stdout + piped.stderr);
    assert.match(piped.stdout, /<stdin>:\d+ \(web\/templates\/deployment\.yaml\): error \[grace-budget\]/);
    const dash = await doctor(['-'], helmRender());
    assert.equal(piped.stdout, dash.stdout, 'the same report as with -');
    const json = JSON.parse((await doctor(['--format', 'json'], helmRender(30))).stdout) as { files: string[]; exitCode: number };
    assert.deepEqual([json.files, json.exitCode], [['<stdin>'], 0]);
    // Nothing piped (stdin is /dev/null, an empty pipe): a usage error that says a path was expected.
    const empty = await doctor([], '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /doctor: no manifests given, so standard input was read \(it is not a terminal\), and it was empty\. Give YAML files or folders/);
  });

  it('no path and standard input a terminal: a usage error that says what is accepted, without waiting for input', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) (util-linux / bsdutils) to give the doctor a terminal' }, async () => {
    // script(1) runs the doctor on a pseudo-terminal; its output (stdout and stderr) comes back through it.
    const r = await run('/usr/bin/script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} doctor`, '/dev/null'], 'drainkit doctor on a terminal (waiting for input?)');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /error: doctor: no manifests given, and standard input is a terminal\. Give YAML files or folders \(drainkit doctor deploy\/kubernetes\/\), - for standard input, or pipe them in/);
  });

  it('helm template output of a clean chart, with a template that rendered nothing: exit 0, no finding', async () => {
    // The empty template's `---` / `# Source:` / `---` and the trailing `---` are documents that hold nothing.
    const r = await doctor(['--format', 'json', '-'], helmRender(30));
    const json = JSON.parse(r.stdout) as { findings: { ruleId: string; message: string }[]; objects: number };
    assert.deepEqual(json.findings.map((f) => `${f.ruleId}: ${f.message}`), []);
    assert.equal(json.objects, 2);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('unrendered templates that are valid YAML (`field: {{ .Values.x }}`) are errors, and yaml prints nothing on stderr', async () => {
    const r = await doctor([`${FIX}/unrendered-template.yaml`]);
    assert.equal(r.code, 8, r.stdout);
    assert.equal(r.stderr, '', 'no "Keys with collection values will be stringified" warning from yaml');
    assert.match(r.stdout, /unrendered-template.yaml:15: error \[unrendered-template\] Template syntax "replicas: \{\{ \.Values\.replicas \}\}/);
    assert.match(r.stdout, /unrendered-template.yaml:23: error \[unrendered-template\] Template syntax "terminationGracePeriodSeconds: \{\{ \.Values\.grace \}\}.*YAML reads the unquoted \{\{ \}\} as a map/);
    assert.doesNotMatch(r.stdout, /Pod\/web \[app\]/, 'no budget computed from a default grace');
  });

  it('--format json: the report with budgets and findings', async () => {
    const r = await doctor(['--format', 'json', `${FIX}/grace-budget.yaml`]);
    const json = JSON.parse(r.stdout) as Record<string, unknown> & { budgets: { fits: boolean; totalMs: number; graceMs: number; terms: { name: string; ms: number; source: string }[] }[]; findings: { ruleId: string; severity: string; line: number }[] };
    assert.equal(json.version, 1);
    assert.deepEqual(json.summary, { errors: 1, warnings: 0, notes: 0 });
    assert.equal(json.exitCode, 8);
    assert.deepEqual(json.budgets.map((b) => [b.fits, b.totalMs, b.graceMs]), [[false, 27_000, 20_000]]);
    assert.deepEqual(json.findings.map((f) => [f.ruleId, f.severity, f.line]), [['grace-budget', 'error', 22]]);
  });

  it('--format sarif: SARIF 2.1.0 with rules and located results', async () => {
    const r = await doctor(['--format', 'sarif', `${FIX}/liveness-is-readiness.yaml`, `${FIX}/shell-entrypoint.yaml`]);
    assert.equal(r.code, 8);
    const sarif = JSON.parse(r.stdout) as {
      version: string; $schema: string;
      runs: { tool: { driver: { name: string; rules: { id: string; shortDescription: { text: string }; defaultConfiguration: { level: string } }[] } }; results: { ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[];
    };
    assert.equal(sarif.version, '2.1.0');
    assert.match(sarif.$schema, /sarif-2\.1\.0/);
    assert.equal(sarif.runs.length, 1);
    const run = sarif.runs[0]!;
    assert.equal(run.tool.driver.name, 'drainkit doctor');
    assert.ok(run.tool.driver.rules.length >= 20);
    for (const rule of run.tool.driver.rules) {
      assert.ok(['error', 'warning', 'note'].includes(rule.defaultConfiguration.level));
      assert.ok(rule.shortDescription.text.length > 10);
    }
    assert.deepEqual(run.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation.artifactLocation.uri, x.locations[0]!.physicalLocation.region.startLine]).slice(0, 2), [
      ['liveness-is-readiness', 'error', `${FIX}/liveness-is-readiness.yaml`, 45],
      ['shell-entrypoint', 'warning', `${FIX}/shell-entrypoint.yaml`, 26],
    ]);
    assert.deepEqual(run.results.slice(2).map((x) => x.ruleId), Array(5).fill('shell-entrypoint'), 'one result per entrypoint form of the fixture');
    for (const x of run.results) assert.equal(run.tool.driver.rules[x.ruleIndex]!.id, x.ruleId, 'ruleIndex points at the rule');
  });

  it('--format sarif: helm output points at the template, files are relative to %SRCROOT%, absolute file:// outside it', async () => {
    type Sarif = { runs: { originalUriBaseIds: Record<string, { uri: string }>; results: { ruleId: string; locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId?: string }; region: { startLine: number } } }[]; properties?: Record<string, unknown> }[] }[] };
    const helm = JSON.parse((await doctor(['--format', 'sarif', '-'], helmRender())).stdout) as Sarif;
    const g = helm.runs[0]!.results.find((x) => x.ruleId === 'grace-budget')!;
    assert.deepEqual(g.locations[0]!.physicalLocation.artifactLocation, { uri: 'web/templates/deployment.yaml', uriBaseId: '%SRCROOT%' });
    assert.equal(g.properties?.helmTemplate, 'web/templates/deployment.yaml');
    assert.equal(g.properties?.renderedFile, '<stdin>');
    assert.match(helmRender().split('\n')[(g.properties?.renderedLine as number) - 1]!, /terminationGracePeriodSeconds: 10/, 'the rendered line is kept in properties');
    assert.equal(helm.runs[0]!.originalUriBaseIds['%SRCROOT%']!.uri, `${pathToFileURL(process.cwd()).href}/`);
    const abs = JSON.parse((await doctor(['--format', 'sarif', join(process.cwd(), FIX, 'shell-entrypoint.yaml')])).stdout) as Sarif;
    assert.deepEqual(abs.runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation, { uri: `${FIX}/shell-entrypoint.yaml`, uriBaseId: '%SRCROOT%' }, 'an absolute path inside the working directory is made relative');
    const outside = join(scratch, 'outside.yaml');
    writeFileSync(outside, readFileSync(`${FIX}/shell-entrypoint.yaml`));
    const out = JSON.parse((await doctor(['--format', 'sarif', outside])).stdout) as Sarif;
    assert.deepEqual(out.runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation, { uri: pathToFileURL(outside).href });
  });

  it('flags override the manifest for drainkit configured in code', async () => {
    const r = await doctor(['--format', 'json', '--drain-timeout-ms', '1000', `${FIX}/grace-budget.yaml`]);
    assert.equal(r.code, 0, r.stdout);
    const json = JSON.parse(r.stdout) as { budgets: { totalMs: number; terms: { name: string; source: string }[] }[] };
    assert.equal(json.budgets[0]!.totalMs, 13_000);
    assert.equal(json.budgets[0]!.terms.find((t) => t.name === 'drain')!.source, 'flag --drain-timeout-ms');
    const window = await doctor(['--format', 'json', '--deregister-max-ms', '20000', `${FIX}/clean.yaml`]);
    const wj = JSON.parse(window.stdout) as { budgets: { terms: { name: string; ms: number; source: string }[] }[] };
    assert.deepEqual(wj.budgets[0]!.terms.find((t) => t.name === 'window')!.ms, 20_000, 'the flag replaced the manifest\'s fixed window');
    assert.equal(window.code, 8);
    const hooks = await doctor(['--hooks-ms', '20000', '--margin-ms', '0', `${FIX}/clean.yaml`]);
    assert.equal(hooks.code, 8, 'three hooks of more than 5 s no longer fit');
    const container = await doctor(['--container', 'app', `${FIX}/container-ambiguous.yaml`]);
    assert.doesNotMatch(container.stdout, /\[container-ambiguous\]/);
    assert.match(container.stdout, /\[defaults-assumed\]/);
    assert.match(container.stdout, /Deployment\/web \[app\]/, 'the budget of the named container');
  });

  it('bad input: clear errors, usage exit code 2 for what cannot be checked at all', async () => {
    const missing = await doctor([join(scratch, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /doctor: cannot read ".*nope\.yaml": no such file or folder/);
    const empty = await doctor(['-'], '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /the input is empty \(<stdin>\)/);
    const emptyDir = join(scratch, 'empty');
    await import('node:fs/promises').then((fs) => fs.mkdir(emptyDir, { recursive: true }));
    const noYaml = await doctor([emptyDir]);
    assert.equal(noYaml.code, 2);
    assert.match(noYaml.stderr, /holds no \.yaml, \.yml or \.json file/);
    const twice = await doctor(['-', '-'], readFileSync(`${FIX}/clean.yaml`, 'utf8'));
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /doctor: - \(standard input\) is given more than once/);
    const badFormat = await doctor(['--format', 'xml', `${FIX}/clean.yaml`]);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.stderr, /Allowed choices are text, json, sarif/);
    const badFlag = await doctor(['--drain-timeout-ms', '30s', `${FIX}/clean.yaml`]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--drain-timeout-ms <value>' argument '30s' is invalid\. expected an integer from 0 to 3600000/);
    // A secret given on the command line is never echoed back, not even by commander's message.
    const badSecret = await doctor(['--prestop-token', 'short secret', `${FIX}/clean.yaml`]);
    assert.equal(badSecret.code, 2);
    assert.match(badSecret.stderr, /--prestop-token <value>': expected a secret of 16 to 256 visible ASCII characters \(no spaces\), got a value of 12 characters/);
    assert.doesNotMatch(badSecret.stderr, /short secret/);
    const noContainer = await doctor(['--container', 'web', `${FIX}/clean.yaml`]);
    assert.equal(noContainer.code, 2);
    assert.match(noContainer.stderr, /--container "web": no workload in the input has a container of that name \(found: app\)/);
    // Readable but not checkable: findings with lines, not usage errors.
    const notYaml = await doctor(['-'], 'this: is: not: yaml\n  - [\n');
    assert.equal(notYaml.code, 8);
    assert.match(notYaml.stdout, /<stdin>:1: error \[yaml-syntax\] Not valid YAML at line 1/);
    // `cat deployment.yaml service.yaml | drainkit doctor`, the files without a leading ---: the hint says so.
    const [deploymentPart, servicePart] = readFileSync(`${FIX}/clean.yaml`, 'utf8').split(/^---\n/m);
    const joined = `${deploymentPart!}${servicePart!}`;
    const joinedLine = deploymentPart!.split('\n').length;
    const cat = await doctor([], joined);
    assert.equal(cat.code, 8);
    assert.match(cat.stdout, new RegExp(`<stdin>:${joinedLine}: error \\[yaml-syntax\\] Not valid YAML at line ${joinedLine}: Map keys must be unique.* Two manifests without a --- line between them\\? \\(cat a\\.yaml b\\.yaml joins files as they are\\): put --- before line ${joinedLine}`));
    assert.doesNotMatch(notYaml.stdout, /Two manifests/, 'no such hint for other syntax errors');
    const notManifest = await doctor([`${FIX}/not-a-manifest.yaml`]);
    assert.equal(notManifest.code, 1);
    assert.match(notManifest.stdout, /warning \[not-a-manifest\] The document at line 2 has no apiVersion and kind/);
  });

  it('ConfigMap values referenced by the container are read (configMapKeyRef and envFrom)', async () => {
    const manifest = readFileSync(`${FIX}/clean.yaml`, 'utf8')
      .replace('              value: "15000"\n', '              valueFrom:\n                configMapKeyRef:\n                  name: drain\n                  key: DRAINKIT_DRAIN_TIMEOUT_MS\n')
      .replace('          env:\n', '          envFrom:\n            - configMapRef:\n                name: drain\n          env:\n');
    const withMap = `${manifest}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drain\n  namespace: shop\ndata:\n  DRAINKIT_DRAIN_TIMEOUT_MS: "40000"\n  DRAINKIT_LINGER_MS: "500"\n`;
    const r = await doctor(['--format', 'json', '-'], withMap);
    const json = JSON.parse(r.stdout) as { budgets: { terms: { name: string; ms: number; source: string }[] }[] };
    const drain = json.budgets[0]!.terms.find((t) => t.name === 'drain')!;
    assert.equal(drain.ms, 40_000);
    assert.match(drain.source, /DRAINKIT_DRAIN_TIMEOUT_MS \(ConfigMap drain, line \d+\)/);
    assert.equal(r.code, 8, 'a 40 s drain no longer fits the 30 s grace');
    const without = await doctor(['--format', 'json', '-'], manifest);
    const wj = JSON.parse(without.stdout) as { findings: { ruleId: string }[] };
    assert.deepEqual(wj.findings.map((f) => f.ruleId).sort(), ['env-unresolved', 'env-unresolved', 'grace-budget']);
  });
});
