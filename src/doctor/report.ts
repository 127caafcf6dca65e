/**
 * The doctor's three outputs: a human report (a budget table per workload, then the findings),
 * JSON for scripts, and SARIF 2.1.0 for code scanning.
 */
import { createRequire } from 'node:module';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seconds } from './budget.js';
import type { WorkloadBudget } from './checks.js';
import { RULES, type Finding, type Severity } from './rules.js';

/** Exit codes of `drainkit doctor`. 3 and 4 belong to the registry commands. */
export const DOCTOR_EXIT_CODES = Object.freeze({
  /** No error, no warning (notes may be present). */
  clean: 0,
  /** Warnings, no error. */
  warnings: 1,
  /** Bad flags, a path that cannot be read, an input with no YAML at all. */
  usage: 2,
  /** At least one error. */
  /** 8: one number apart from every other `drainkit` exit code (3–7 are the registry's, 70 a forced drain). */
  errors: 8,
});

export interface DoctorReport {
  readonly files: readonly string[];
  readonly objects: number;
  readonly workloads: number;
  /** Sorted by file, then line. */
  readonly findings: readonly Finding[];
  readonly budgets: readonly WorkloadBudget[];
  readonly summary: { readonly errors: number; readonly warnings: number; readonly notes: number };
  readonly exitCode: number;
}

export function exitCodeFor(summary: DoctorReport['summary']): number {
  if (summary.errors > 0) return DOCTOR_EXIT_CODES.errors;
  if (summary.warnings > 0) return DOCTOR_EXIT_CODES.warnings;
  return DOCTOR_EXIT_CODES.clean;
}

const LEVEL_WORD: Readonly<Record<Severity, string>> = { error: 'error', warning: 'warning', note: 'note' };

function where(f: Finding): string {
  return `${f.location.file}:${f.location.line}${f.location.template ? ` (${f.location.template})` : ''}`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** The human report. */
export function formatText(report: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`drainkit doctor: ${report.files.length} file${report.files.length === 1 ? '' : 's'}, ${report.objects} object${report.objects === 1 ? '' : 's'}, ${report.workloads} workload${report.workloads === 1 ? '' : 's'}`);
  for (const b of report.budgets) {
    lines.push('', `${b.workload} [${b.container}]  ${b.file}:${b.line}${b.template !== undefined ? ` (${b.template})` : ''}`);
    lines.push(`  ${pad('term', 9)}${pad('time', 9)}from`);
    for (const t of b.budget.terms) lines.push(`  ${pad(t.name, 9)}${pad(seconds(t.ms), 9)}${t.source}`);
    const verdict = b.budget.fits ? `fits, ${seconds(b.budget.graceMs - b.budget.totalMs)} to spare` : `DOES NOT FIT: SIGKILL ${seconds(b.budget.totalMs - b.budget.graceMs)} before the drain's bound`;
    lines.push(`  ${pad('total', 9)}${pad(seconds(b.budget.totalMs), 9)}grace ${seconds(b.budget.graceMs)} from ${b.budget.graceSource}: ${verdict}`);
  }
  if (report.findings.length > 0) lines.push('');
  for (const f of report.findings) lines.push(`${where(f)}: ${LEVEL_WORD[f.severity]} [${f.ruleId}] ${f.message}`);
  const s = report.summary;
  lines.push('', `${s.errors} error${s.errors === 1 ? '' : 's'}, ${s.warnings} warning${s.warnings === 1 ? '' : 's'}, ${s.notes} note${s.notes === 1 ? '' : 's'} (exit ${report.exitCode})`);
  return `${lines.join('\n')}\n`;
}

/** The JSON report: the same content, stable field names. */
export function toJson(report: DoctorReport): object {
  return {
    version: 1,
    files: report.files,
    objects: report.objects,
    workloads: report.workloads,
    summary: report.summary,
    exitCode: report.exitCode,
    budgets: report.budgets.map((b) => ({
      workload: b.workload,
      container: b.container,
      file: b.file,
      line: b.line,
      template: b.template,
      graceMs: b.budget.graceMs,
      graceSource: b.budget.graceSource,
      totalMs: b.budget.totalMs,
      fits: b.budget.fits,
      terms: b.budget.terms,
    })),
    findings: report.findings.map((f) => ({ ruleId: f.ruleId, severity: f.severity, message: f.message, file: f.location.file, line: f.location.line, template: f.location.template, object: f.object })),
  };
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Where a SARIF result points: the Helm template when the document named one (`# Source:`),
 * else the file, relative to the working directory (`uriBaseId` %SRCROOT%, so code scanning maps
 * it onto the repository), or an absolute file:// URI outside it.
 */
function artifactLocation(f: Finding, cwd: string): { uri: string; uriBaseId?: string } {
  if (f.location.template !== undefined) return { uri: encodeURI(f.location.template), uriBaseId: '%SRCROOT%' };
  if (f.location.file === '<stdin>') return { uri: 'stdin' };
  const abs = resolve(cwd, f.location.file);
  const rel = relative(cwd, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return { uri: pathToFileURL(abs).href };
  return { uri: encodeURI(rel.split(sep).join('/')), uriBaseId: '%SRCROOT%' };
}

/** SARIF 2.1.0: one run, every rule in `tool.driver.rules`, one result per finding. `cwd` is %SRCROOT%. */
export function toSarif(report: DoctorReport, cwd = process.cwd()): object {
  const ruleIndex = new Map(RULES.map((r, i) => [r.id, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: 'drainkit doctor',
          version: packageVersion(),
          informationUri: 'https://www.npmjs.com/package/drainkit',
          rules: RULES.map((r) => ({
            id: r.id,
            name: r.id.replace(/(^|-)([a-z])/g, (_m, _d: string, c: string) => c.toUpperCase()),
            shortDescription: { text: r.summary },
            defaultConfiguration: { level: r.severity },
          })),
        },
      },
      originalUriBaseIds: { '%SRCROOT%': { uri: pathToFileURL(cwd.endsWith(sep) ? cwd : cwd + sep).href } },
      results: report.findings.map((f) => ({
        ruleId: f.ruleId,
        ruleIndex: ruleIndex.get(f.ruleId),
        level: f.severity,
        message: { text: f.message },
        locations: [{
          physicalLocation: {
            artifactLocation: artifactLocation(f, cwd),
            // The line is the rendered one when the location is a template (helm keeps no map back).
            region: { startLine: f.location.line },
          },
          ...(f.object !== undefined && { logicalLocations: [{ name: f.object, kind: 'resource' }] }),
        }],
        ...(f.location.template !== undefined && { properties: { helmTemplate: f.location.template, renderedFile: f.location.file, renderedLine: f.location.line } }),
      })),
    }],
  };
}
