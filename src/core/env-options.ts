/**
 * drainkit's settings from environment variables, so that a Kubernetes manifest (or any process
 * supervisor) and the process read the same values: `createDrainer(server, { ...drainerOptionsFromEnv() })`.
 *
 * {@link ENV_OPTIONS} is the single table of the variables: the parser below, the `drainkit
 * doctor` manifest check and the documentation all read it, so they cannot disagree.
 */
import { DrainkitError, describeValue } from './errors.js';
import { DEFAULTS } from './options.js';
import type { DeregisterOptions, DrainerOptions, HealthOptions } from './types.js';

const HOUR = 3_600_000;

/** How a variable's text is read. */
export type EnvValueKind =
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'choice'; readonly choices: readonly string[] }
  | { readonly kind: 'path' }
  /** A secret: checked for length and characters, and never echoed back in an error. */
  | { readonly kind: 'secret'; readonly minLength: number; readonly maxLength: number };

/** One environment variable drainkit honours. */
export interface EnvOptionSpec {
  readonly name: `DRAINKIT_${string}`;
  /** The option it sets, as a path into {@link DrainerOptions} (`deregister.maxMs`). */
  readonly option: string;
  readonly value: EnvValueKind;
  /** The default when neither the variable nor code sets the option, as text. */
  readonly defaultText: string;
  readonly description: string;
}

const ms = (min: number, max: number): EnvValueKind => ({ kind: 'integer', min, max });
const adaptive = DEFAULTS.deregister.mode === 'adaptive' ? DEFAULTS.deregister : undefined;

const TABLE = [
  { name: 'DRAINKIT_DRAIN_TIMEOUT_MS', option: 'drainTimeoutMs', value: ms(0, HOUR), defaultText: String(DEFAULTS.drainTimeoutMs), description: 'How long in-flight work may take after the window before it is forced.' },
  { name: 'DRAINKIT_DEREGISTER_MODE', option: 'deregister.mode', value: { kind: 'choice', choices: ['fixed', 'adaptive'] }, defaultText: DEFAULTS.deregister.mode, description: 'The deregistration window: `fixed` waits DRAINKIT_DEREGISTER_DELAY_MS; `adaptive` ends on the balancer\'s confirmation, between the minimum and the maximum. Implied by the other DEREGISTER variables when unset.' },
  { name: 'DRAINKIT_DEREGISTER_DELAY_MS', option: 'deregister.delayMs', value: ms(0, HOUR), defaultText: 'unset', description: 'Fixed window only: its length, required with DRAINKIT_DEREGISTER_MODE=fixed (no default: only the deployment knows its balancer\'s reaction time).' },
  { name: 'DRAINKIT_DEREGISTER_MIN_MS', option: 'deregister.minMs', value: ms(0, HOUR), defaultText: String(adaptive?.minMs ?? 0), description: 'Adaptive window only: never shorter than this.' },
  { name: 'DRAINKIT_DEREGISTER_MAX_MS', option: 'deregister.maxMs', value: ms(0, HOUR), defaultText: String(adaptive?.maxMs ?? 5_000), description: 'Adaptive window only: never longer than this (the whole window when nothing confirms).' },
  { name: 'DRAINKIT_DEREGISTER_QUIET_MS', option: 'deregister.quietMs', value: ms(0, 60_000), defaultText: String(adaptive?.quietMs ?? 500), description: 'Adaptive window only: quiet period without a new request after the confirmation.' },
  { name: 'DRAINKIT_PROBE_FAILURE_THRESHOLD', option: 'deregister.probeFailureThreshold', value: { kind: 'integer', min: 1, max: 100 }, defaultText: 'unset', description: 'Adaptive window only: this many readiness probes answered 503 confirm the balancer stopped routing (HAProxy `fall`, the readiness probe\'s `failureThreshold`).' },
  { name: 'DRAINKIT_DEREGISTER_CONFIRM', option: 'deregister.confirm', value: { kind: 'choice', choices: ['balancer', 'traffic'] }, defaultText: 'balancer', description: 'Adaptive window only: what may confirm it. `balancer`: only the balancer\'s word (HAProxy `send-state`, DRAINKIT_PROBE_FAILURE_THRESHOLD); `traffic`: also DRAINKIT_DEREGISTER_QUIET_MS without a new request or connection once DRAINKIT_DEREGISTER_MIN_MS has passed, which it requires.' },
  { name: 'DRAINKIT_READINESS_PATH', option: 'health.readinessPath', value: { kind: 'path' }, defaultText: DEFAULTS.readinessPath, description: 'Path answered by readiness (200, then 503 from the drain\'s first instant).' },
  { name: 'DRAINKIT_LIVENESS_PATH', option: 'health.livenessPath', value: { kind: 'path' }, defaultText: DEFAULTS.livenessPath, description: 'Path answered by liveness (200 until exit).' },
  { name: 'DRAINKIT_HEALTH_PORT', option: 'health.port', value: { kind: 'integer', min: 0, max: 65_535 }, defaultText: 'unset', description: 'Also answer both paths on a dedicated health server on this port.' },
  { name: 'DRAINKIT_PRESTOP_PATH', option: 'health.preStopPath', value: { kind: 'path' }, defaultText: 'unset', description: 'The preStop endpoint for `lifecycle.preStop.httpGet`: starts the drain at once and answers when the window is over. Needs DRAINKIT_HEALTH_PORT (served there) or DRAINKIT_PRESTOP_TOKEN (also served on the main port).' },
  { name: 'DRAINKIT_PRESTOP_TOKEN', option: 'health.preStopToken', value: { kind: 'secret', minLength: 16, maxLength: 256 }, defaultText: 'unset', description: 'The secret a preStop request must carry in its `x-drainkit-prestop` header (the hook\'s `httpHeaders`); with it the endpoint is also served on the main port. Needs DRAINKIT_PRESTOP_PATH; set it from a Secret.' },
  { name: 'DRAINKIT_KEEP_ALIVE_TIMEOUT_MS', option: 'keepAliveTimeoutMs', value: ms(1_000, HOUR), defaultText: String(DEFAULTS.keepAliveTimeoutMs), description: 'The server\'s keep-alive timeout; keep it above the balancer\'s idle timeout.' },
  { name: 'DRAINKIT_HOOK_TIMEOUT_MS', option: 'hookTimeoutMs', value: ms(0, 600_000), defaultText: String(DEFAULTS.hookTimeoutMs), description: 'Default bound of each shutdown hook.' },
  { name: 'DRAINKIT_LINGER_MS', option: 'lingerMs', value: ms(0, 60_000), defaultText: String(DEFAULTS.lingerMs), description: 'After the half-close, how long to wait for the client\'s FIN.' },
  { name: 'DRAINKIT_EXIT_GRACE_MS', option: 'exitGraceMs', value: ms(0, 60_000), defaultText: String(DEFAULTS.exitGraceMs), description: 'How long the process may take to exit on its own after the drain before `process.exit`.' },
  { name: 'DRAINKIT_PERSISTENT_SHUTDOWN', option: 'persistentShutdown', value: { kind: 'choice', choices: ['window-end', 'drain-start'] }, defaultText: DEFAULTS.persistentShutdown, description: 'When WebSocket, SSE and long-poll clients are told to go away.' },
  { name: 'DRAINKIT_PERSISTENT_SPREAD_MS', option: 'persistentSpreadMs', value: ms(0, 60_000), defaultText: String(DEFAULTS.persistentSpreadMs), description: 'Spread of the persistent connections\' go-away, against reconnect storms.' },
] as const satisfies readonly EnvOptionSpec[];

/** Every environment variable drainkit reads, in documentation order. */
export const ENV_OPTIONS: readonly EnvOptionSpec[] = Object.freeze(TABLE);

/** The names of {@link ENV_OPTIONS}, as a type. */
export type EnvOptionName = (typeof TABLE)[number]['name'];

/** What {@link EnvValueKind} accepts, in words, for error messages and documentation. */
export function describeAccepted(value: EnvValueKind): string {
  switch (value.kind) {
    case 'integer': return `an integer from ${value.min} to ${value.max} (digits only)`;
    case 'choice': return value.choices.map((c) => `"${c}"`).join(' or ');
    case 'path': return 'a path starting with "/" without spaces, "?" or "#"';
    case 'secret': return `a secret of ${value.minLength} to ${value.maxLength} visible ASCII characters (no spaces)`;
  }
}

function invalidEnv(name: string, raw: string, accepted: string): DrainkitError {
  return new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variable ${name} is ${describeValue(raw)}; accepted: ${accepted}`);
}

/** Parses one variable's text; throws a DrainkitError naming the variable, the value and what is accepted. */
export function parseEnvValue(spec: EnvOptionSpec, raw: string): number | string {
  const accepted = describeAccepted(spec.value);
  const text = raw.trim();
  switch (spec.value.kind) {
    case 'integer': {
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < spec.value.min || n > spec.value.max) throw invalidEnv(spec.name, raw, accepted);
      return n;
    }
    case 'choice':
      if (!spec.value.choices.includes(text)) throw invalidEnv(spec.name, raw, accepted);
      return text;
    case 'path':
      if (!text.startsWith('/') || /[\s?#]/.test(text)) throw invalidEnv(spec.name, raw, accepted);
      return text;
    case 'secret':
      // Not trimmed (the header must match it exactly) and not echoed: it is meant to be a secret.
      if (raw.length < spec.value.minLength || raw.length > spec.value.maxLength || !/^[\x21-\x7e]*$/.test(raw)) {
        throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variable ${spec.name} is a value of ${raw.length} character(s) that does not fit; accepted: ${accepted}`);
      }
      return raw;
  }
}

/** The known name closest to a misspelt one (edit distance at most 3), for "did you mean". */
export function closestEnvName(name: string): EnvOptionName | undefined {
  let best: { name: EnvOptionName; distance: number } | undefined;
  for (const spec of ENV_OPTIONS) {
    const d = editDistance(name, spec.name);
    if (d <= 3 && (best === undefined || d < best.distance)) best = { name: spec.name as EnvOptionName, distance: d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

const SPEC_BY_NAME: ReadonlyMap<string, EnvOptionSpec> = new Map(ENV_OPTIONS.map((s) => [s.name, s]));

/**
 * `DRAINKIT_*` variables other parts of drainkit read, which set no drainer option: the registry's
 * instance identity, the cluster supervisor's marker in its workers' environment, the
 * dashboard's token. Passed over here, not reported as unknown.
 */
export const OTHER_DRAINKIT_VARIABLES: readonly string[] = Object.freeze(['DRAINKIT_INSTANCE_HOST', 'DRAINKIT_CLUSTER', 'DRAINKIT_DASHBOARD_TOKEN']);

/** The spec of a variable drainkit honours, or undefined. */
export function envOptionSpec(name: string): EnvOptionSpec | undefined {
  return SPEC_BY_NAME.get(name);
}

function unknownEnv(name: string): DrainkitError {
  const near = closestEnvName(name);
  return new DrainkitError(
    'ERR_DRAINKIT_UNKNOWN_OPTION',
    `drainkit: unknown environment variable ${name}${near ? ` (did you mean ${near}?)` : ''}; known: ${ENV_OPTIONS.map((s) => s.name).join(', ')}`,
  );
}

type Parsed = Partial<Record<EnvOptionName, number | string>>;

function deregisterFrom(p: Parsed): DeregisterOptions | undefined {
  const fixedOnly = (['DRAINKIT_DEREGISTER_DELAY_MS'] as const).filter((n) => p[n] !== undefined);
  const adaptiveOnly = (['DRAINKIT_DEREGISTER_MIN_MS', 'DRAINKIT_DEREGISTER_MAX_MS', 'DRAINKIT_DEREGISTER_QUIET_MS', 'DRAINKIT_PROBE_FAILURE_THRESHOLD', 'DRAINKIT_DEREGISTER_CONFIRM'] as const)
    .filter((n) => p[n] !== undefined);
  const explicitMode = p.DRAINKIT_DEREGISTER_MODE as 'fixed' | 'adaptive' | undefined;
  if (explicitMode === undefined && fixedOnly.length === 0 && adaptiveOnly.length === 0) return undefined;
  if (fixedOnly.length > 0 && adaptiveOnly.length > 0) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variables ${[...fixedOnly, ...adaptiveOnly].join(', ')} mix the fixed window (DRAINKIT_DEREGISTER_DELAY_MS) with the adaptive one (DRAINKIT_DEREGISTER_MIN_MS, _MAX_MS, _QUIET_MS, _CONFIRM, DRAINKIT_PROBE_FAILURE_THRESHOLD); accepted: the variables of one mode`);
  }
  const mode = explicitMode ?? (fixedOnly.length > 0 ? 'fixed' : 'adaptive');
  const wrong = mode === 'fixed' ? adaptiveOnly : fixedOnly;
  if (wrong.length > 0) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variable ${wrong.join(', ')} does not apply with DRAINKIT_DEREGISTER_MODE=${mode}; accepted: ${mode === 'fixed' ? 'DRAINKIT_DEREGISTER_DELAY_MS' : 'DRAINKIT_DEREGISTER_MIN_MS, _MAX_MS, _QUIET_MS, _CONFIRM and DRAINKIT_PROBE_FAILURE_THRESHOLD'}`);
  }
  if (mode === 'fixed') {
    const delayMs = p.DRAINKIT_DEREGISTER_DELAY_MS as number | undefined;
    // Refused like { mode: 'fixed' } without delayMs in code: a fixed window's length is the
    // balancer's reaction time, which only the deployment knows; guessing one is worse.
    if (delayMs === undefined) {
      throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', 'drainkit: environment variable DRAINKIT_DEREGISTER_MODE is "fixed" but DRAINKIT_DEREGISTER_DELAY_MS is not set; accepted: DRAINKIT_DEREGISTER_DELAY_MS with it (the window\'s length, which has no default), or DRAINKIT_DEREGISTER_MODE=adaptive');
    }
    return { mode, delayMs };
  }
  const confirm = p.DRAINKIT_DEREGISTER_CONFIRM as 'balancer' | 'traffic' | undefined;
  if (confirm === 'traffic' && p.DRAINKIT_DEREGISTER_MIN_MS === undefined) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', 'drainkit: environment variable DRAINKIT_DEREGISTER_CONFIRM is "traffic" but DRAINKIT_DEREGISTER_MIN_MS is not set; accepted: DRAINKIT_DEREGISTER_MIN_MS with it (the longest the balancer may keep sending new traffic after readiness turned 503: endpoint propagation, probe period × failure threshold)');
  }
  const d = adaptive ?? { minMs: 0, maxMs: 5_000, quietMs: 500 };
  const maxMs = (p.DRAINKIT_DEREGISTER_MAX_MS as number | undefined) ?? d.maxMs;
  const minMs = (p.DRAINKIT_DEREGISTER_MIN_MS as number | undefined) ?? Math.min(d.minMs, maxMs);
  if (minMs > maxMs) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variable DRAINKIT_DEREGISTER_MIN_MS is ${minMs}; accepted: at most the window's maximum (DRAINKIT_DEREGISTER_MAX_MS, ${maxMs})`);
  }
  return {
    mode,
    minMs,
    maxMs,
    quietMs: (p.DRAINKIT_DEREGISTER_QUIET_MS as number | undefined) ?? d.quietMs,
    probeFailureThreshold: p.DRAINKIT_PROBE_FAILURE_THRESHOLD as number | undefined,
    ...(confirm !== undefined && { confirm }),
  };
}

function healthFrom(p: Parsed): HealthOptions | undefined {
  const readinessPath = p.DRAINKIT_READINESS_PATH as string | undefined;
  const livenessPath = p.DRAINKIT_LIVENESS_PATH as string | undefined;
  const port = p.DRAINKIT_HEALTH_PORT as number | undefined;
  const preStopPath = p.DRAINKIT_PRESTOP_PATH as string | undefined;
  const preStopToken = p.DRAINKIT_PRESTOP_TOKEN as string | undefined;
  if (readinessPath === undefined && livenessPath === undefined && port === undefined && preStopPath === undefined && preStopToken === undefined) return undefined;
  if ((readinessPath ?? DEFAULTS.readinessPath) === (livenessPath ?? DEFAULTS.livenessPath)) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: environment variables DRAINKIT_READINESS_PATH and DRAINKIT_LIVENESS_PATH are both "${readinessPath ?? livenessPath}"; accepted: two different paths`);
  }
  checkPreStopEnv(preStopPath, preStopToken, port, readinessPath ?? DEFAULTS.readinessPath, livenessPath ?? DEFAULTS.livenessPath);
  return {
    ...(readinessPath !== undefined && { readinessPath }),
    ...(livenessPath !== undefined && { livenessPath }),
    ...(port !== undefined && { port }),
    ...(preStopPath !== undefined && { preStopPath }),
    ...(preStopToken !== undefined && { preStopToken }),
  };
}

/**
 * The preStop endpoint's combinations, as the options check them, but naming the variables: a
 * token needs a path; a path must be served somewhere out of the balancer's reach (the health
 * port) or behind the token, and must not be a probe's path.
 */
function checkPreStopEnv(path: string | undefined, token: string | undefined, port: number | undefined, readinessPath: string, livenessPath: string): void {
  const fail = (message: string): never => {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: ${message}`);
  };
  if (path === undefined) {
    if (token !== undefined) fail('environment variable DRAINKIT_PRESTOP_TOKEN is set without DRAINKIT_PRESTOP_PATH; accepted: DRAINKIT_PRESTOP_PATH with it (a path such as "/prestop")');
    return;
  }
  if (path === readinessPath || path === livenessPath) {
    fail(`environment variable DRAINKIT_PRESTOP_PATH is "${path}", the ${path === readinessPath ? 'readiness' : 'liveness'} path; accepted: a path different from the readiness and liveness paths`);
  }
  if (port === undefined && token === undefined) {
    fail(`environment variable DRAINKIT_PRESTOP_PATH is "${path}" with neither DRAINKIT_HEALTH_PORT nor DRAINKIT_PRESTOP_TOKEN, so it would be served nowhere (the main port serves it only with the token, or any client could drain the pod through the balancer); accepted: DRAINKIT_HEALTH_PORT, DRAINKIT_PRESTOP_TOKEN, or both, with it`);
  }
}

/**
 * Reads drainkit's settings from environment variables (the names in {@link ENV_OPTIONS}) and
 * returns the options they set, to spread into `createDrainer`'s options (options given in code
 * after the spread win). Variables that are not set are left out, so defaults still apply.
 *
 * Strict, like the options themselves: a value that does not parse throws a DrainkitError
 * (`ERR_DRAINKIT_INVALID_OPTION`) naming the variable, the value and what is accepted; an empty
 * value is an error too (an unrendered template is a mistake, not a default). A `DRAINKIT_*`
 * name drainkit does not know throws `ERR_DRAINKIT_UNKNOWN_OPTION` with the closest known name:
 * a misspelt variable would otherwise be ignored and its default used in silence.
 */
export function drainerOptionsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): DrainerOptions {
  const parsed: Parsed = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('DRAINKIT_') || raw === undefined || OTHER_DRAINKIT_VARIABLES.includes(name)) continue;
    const spec = SPEC_BY_NAME.get(name);
    if (spec === undefined) throw unknownEnv(name);
    parsed[spec.name as EnvOptionName] = parseEnvValue(spec, raw);
  }
  const deregister = deregisterFrom(parsed);
  const health = healthFrom(parsed);
  const int = (name: EnvOptionName): number | undefined => parsed[name] as number | undefined;
  const persistentShutdown = parsed.DRAINKIT_PERSISTENT_SHUTDOWN as 'window-end' | 'drain-start' | undefined;
  const options: DrainerOptions = {
    ...(int('DRAINKIT_DRAIN_TIMEOUT_MS') !== undefined && { drainTimeoutMs: int('DRAINKIT_DRAIN_TIMEOUT_MS')! }),
    ...(deregister !== undefined && { deregister }),
    ...(health !== undefined && { health }),
    ...(int('DRAINKIT_KEEP_ALIVE_TIMEOUT_MS') !== undefined && { keepAliveTimeoutMs: int('DRAINKIT_KEEP_ALIVE_TIMEOUT_MS')! }),
    ...(int('DRAINKIT_HOOK_TIMEOUT_MS') !== undefined && { hookTimeoutMs: int('DRAINKIT_HOOK_TIMEOUT_MS')! }),
    ...(int('DRAINKIT_LINGER_MS') !== undefined && { lingerMs: int('DRAINKIT_LINGER_MS')! }),
    ...(int('DRAINKIT_EXIT_GRACE_MS') !== undefined && { exitGraceMs: int('DRAINKIT_EXIT_GRACE_MS')! }),
    ...(persistentShutdown !== undefined && { persistentShutdown }),
    ...(int('DRAINKIT_PERSISTENT_SPREAD_MS') !== undefined && { persistentSpreadMs: int('DRAINKIT_PERSISTENT_SPREAD_MS')! }),
  };
  return options;
}
