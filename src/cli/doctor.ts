/**
 * `drainkit doctor [paths…|-]`: parses the flags, runs the doctor, prints the report in the
 * chosen format and sets the exit code (0 clean, 1 warnings only, 2 usage, 8 errors found).
 * Without paths it reads standard input when that is a pipe or a file (`helm template . |
 * drainkit doctor`), as `-` does; on a terminal it stops with a usage error instead of waiting
 * for YAML typed by hand, which is never what was meant.
 * Every drainkit setting has a flag named after its DRAINKIT_* variable, for containers that
 * configure drainkit in code; the flags win over the manifest's variables.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { describeAccepted, ENV_OPTIONS, parseEnvValue } from '../core/env-options.js';
import { DrainkitError } from '../core/errors.js';
import { DOCTOR_EXIT_CODES, DoctorInputError, formatText, runDoctor, toJson, toSarif } from '../doctor/index.js';
import { flagForEnv } from '../doctor/settings.js';
import { integer } from './args.js';

interface DoctorFlags {
  format: 'text' | 'json' | 'sarif';
  container?: string;
  hooksMs?: number;
  marginMs?: number;
  upstreamIdleTimeoutMs?: number;
  endpointLagMs?: number;
  lagMarginMs?: number;
  [setting: string]: unknown;
}

/** Commander's camel-case key for a flag (`--drain-timeout-ms` → `drainTimeoutMs`). */
function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export function addDoctorCommand(program: Command): void {
  const cmd = program
    .command('doctor')
    .description(`Check Kubernetes manifests (files, folders, or standard input: - or no path with input piped, e.g. helm template . | drainkit doctor) against drainkit's drain budget and settings. Exit codes: ${DOCTOR_EXIT_CODES.clean} clean, ${DOCTOR_EXIT_CODES.warnings} warnings only, ${DOCTOR_EXIT_CODES.usage} usage error, ${DOCTOR_EXIT_CODES.errors} errors found.`)
    .argument('[paths...]', 'YAML files or folders; - reads standard input, and so does no path when standard input is not a terminal')
    .addOption(new Option('--format <format>', 'report format').choices(['text', 'json', 'sarif']).default('text'))
    .option('--container <name>', 'the container that runs drainkit (default: the one with DRAINKIT_* variables, or the only one)')
    .option('--hooks-ms <n>', 'total bound of your shutdown hooks (default: one hook of the hook timeout)', integer(0, 3_600_000))
    .option('--margin-ms <n>', 'margin of the budget (default: 5 s or a tenth of the grace)', integer(0, 3_600_000))
    .option('--endpoint-lag-ms <n>', 'how long the slowest consumer of the endpoints takes to stop routing after a deletion (default 2000: in-cluster kube-proxy)', integer(0, 3_600_000))
    .option('--lag-margin-ms <n>', 'how much longer than the endpoint lag the pod must keep accepting (default: 1 s or a quarter of the lag, whichever is more)', integer(0, 3_600_000))
    .option('--upstream-idle-timeout-ms <n>', 'idle timeout of the balancer in front, when no annotation says (default 60000: AWS ALB, ingress-nginx)', integer(0, 3_600_000));
  for (const spec of ENV_OPTIONS) {
    cmd.option(`${flagForEnv(spec.name)} <value>`, `as ${spec.name}, for drainkit configured in code: ${describeAccepted(spec.value)}`, (raw: string) => {
      try {
        parseEnvValue(spec, raw);
      } catch (err) {
        if (err instanceof DrainkitError && spec.value.kind === 'secret') {
          // Commander quotes the argument in its own message; a secret must not be echoed, so
          // this one bypasses that (another code) and main prints it as the usage error it is.
          const secretError = new InvalidArgumentError(`option '${flagForEnv(spec.name)} <value>': expected ${describeAccepted(spec.value)}, got a value of ${raw.length} characters.`);
          secretError.code = 'drainkit.invalidSecret';
          throw secretError;
        }
        if (err instanceof DrainkitError) throw new InvalidArgumentError(`expected ${describeAccepted(spec.value)}, got ${JSON.stringify(raw)}.`);
        throw err;
      }
      return raw;
    });
  }
  cmd.action(async (given: string[], flags: DoctorFlags) => {
    const implicit = given.length === 0;
    const paths = implicit ? pathsWithoutArguments(process.stdin.isTTY === true) : given;
    const overrides: Record<string, string> = {};
    for (const spec of ENV_OPTIONS) {
      const v = flags[camel(flagForEnv(spec.name))];
      if (typeof v === 'string') overrides[spec.name] = v;
    }
    let report;
    try {
      report = await runDoctor(paths, {
        // Read without being asked to: an empty input is more likely a forgotten path than an empty render.
        ...(implicit && { readStdin: readImplicitStdin }),
        container: flags.container,
        overrides,
        hooksMs: flags.hooksMs,
        marginMs: flags.marginMs,
        upstreamIdleTimeoutMs: flags.upstreamIdleTimeoutMs,
        endpointLagMs: flags.endpointLagMs,
        lagMarginMs: flags.lagMarginMs,
      });
    } catch (err) {
      // Input the doctor cannot check at all is a usage error, said in one line.
      if (err instanceof DoctorInputError) throw new InvalidArgumentError(`doctor: ${err.message}`);
      throw err;
    }
    const out = flags.format === 'text' ? formatText(report) : `${JSON.stringify(flags.format === 'json' ? toJson(report) : toSarif(report), null, 2)}\n`;
    process.stdout.write(out);
    process.exitCode = report.exitCode;
  });
}

/**
 * What `drainkit doctor` with no path reads: standard input when something is piped or
 * redirected into it. On a terminal nothing is coming: a usage error that says what is accepted.
 */
export function pathsWithoutArguments(stdinIsTerminal: boolean): string[] {
  if (!stdinIsTerminal) return ['-'];
  throw new InvalidArgumentError('doctor: no manifests given, and standard input is a terminal. Give YAML files or folders (drainkit doctor deploy/kubernetes/), - for standard input, or pipe them in (helm template . | drainkit doctor).');
}

async function readImplicitStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    throw new DoctorInputError('no manifests given, so standard input was read (it is not a terminal), and it was empty. Give YAML files or folders (drainkit doctor deploy/kubernetes/), or pipe the manifests in (helm template . | drainkit doctor); if they came from helm template, check that command\'s errors.');
  }
  return text;
}
