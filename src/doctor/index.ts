/**
 * `drainkit doctor` as a library: checks Kubernetes manifests against drainkit's drain budget
 * and the settings that make a drain lose no request. The CLI command is a thin shell over
 * {@link runDoctor} and the formatters.
 *
 *     const report = await runDoctor(['deploy/'], { overrides: { DRAINKIT_DRAIN_TIMEOUT_MS: '10000' } });
 *     process.stdout.write(formatText(report));
 *     process.exitCode = report.exitCode;
 */
import { runChecks, type CheckOptions } from './checks.js';
import { DoctorInputError, parseInputs, readInputs, type InputText } from './manifests.js';
import { WORKLOAD_KINDS } from './pod.js';
import { exitCodeFor, type DoctorReport } from './report.js';
import type { Finding } from './rules.js';

export { evaluateBudget, defaultLagMarginMs, defaultMarginMs, type Budget, type BudgetInput, type BudgetTerm } from './budget.js';
export type { CheckOptions, WorkloadBudget } from './checks.js';
export { DoctorInputError, type InputText } from './manifests.js';
export { DOCTOR_EXIT_CODES, exitCodeFor, formatText, toJson, toSarif, type DoctorReport } from './report.js';
export { RULES, type Finding, type Location, type Rule, type RuleId, type Severity } from './rules.js';

export interface DoctorOptions extends CheckOptions {
  /** Reads standard input for the path `-`. Default: the process's stdin. */
  readonly readStdin?: () => Promise<string>;
  /** Base of relative paths. Default: the working directory. */
  readonly cwd?: string;
}

const SEVERITY_ORDER = { error: 0, warning: 1, note: 2 } as const;

/**
 * Reads the paths (files, folders, `-` for stdin) and checks every workload in them. Throws
 * {@link DoctorInputError} for input it cannot check at all (a missing path, an empty input,
 * a `--container` that no workload has); bad YAML inside a file is a finding with its line.
 */
export async function runDoctor(paths: readonly string[], options: DoctorOptions = {}): Promise<DoctorReport> {
  if (paths.length === 0) throw new DoctorInputError('no input: give files, folders or - for standard input');
  const inputs = await readInputs(paths, options.readStdin ?? readProcessStdin, options.cwd);
  return checkTexts(inputs, options);
}

/** {@link runDoctor} over texts already in memory. */
export async function checkTexts(inputs: readonly InputText[], options: CheckOptions = {}): Promise<DoctorReport> {
  if (inputs.every((i) => i.text.trim() === '')) {
    throw new DoctorInputError(`the input is empty (${inputs.map((i) => i.file).join(', ')}): nothing to check. If it was piped from helm template, check that command's errors.`);
  }
  const parsed = await parseInputs(inputs);
  const workloads = parsed.objects.filter((o) => WORKLOAD_KINDS.includes(o.kind));
  if (options.container !== undefined) {
    const names = new Set(workloads.flatMap((w) => containerNames(w.value)));
    if (!names.has(options.container)) {
      throw new DoctorInputError(`--container ${JSON.stringify(options.container)}: no workload in the input has a container of that name (found: ${[...names].join(', ') || 'none'})`);
    }
  }
  const checked = runChecks(parsed.objects, options);
  const findings: Finding[] = [...parsed.findings, ...checked.findings];
  if (workloads.length === 0 && parsed.findings.every((f) => f.severity !== 'error')) {
    findings.push({
      ruleId: 'no-workload',
      severity: 'note',
      message: `No workload in the input (kinds seen: ${[...new Set(parsed.objects.map((o) => o.kind))].join(', ') || 'none'}): nothing to check against drainkit's budget. The doctor reads ${WORKLOAD_KINDS.join(', ')}.`,
      location: { file: inputs[0]!.file, line: 1 },
    });
  }
  findings.sort((a, b) => a.location.file.localeCompare(b.location.file) || a.location.line - b.location.line || SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  const summary = {
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    notes: findings.filter((f) => f.severity === 'note').length,
  };
  return {
    files: inputs.map((i) => i.file),
    objects: parsed.objects.length,
    workloads: workloads.length,
    findings,
    budgets: checked.budgets,
    summary,
    exitCode: exitCodeFor(summary),
  };
}

function containerNames(value: Record<string, unknown>): string[] {
  const names: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (Array.isArray(v)) {
      for (const item of v) {
        if (key === 'containers' && typeof item === 'object' && item !== null && typeof (item as { name?: unknown }).name === 'string') names.push((item as { name: string }).name);
        walk(item);
      }
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) walk(child, k);
    }
  };
  walk(value);
  return names;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
