/**
 * Validates {@link DrainerOptions} once, at construction: unknown keys are rejected, every
 * range is checked with a message that names the option and what it accepts, and the result
 * is frozen. The caller's object is never mutated.
 */
import { terminalLogger } from './terminal-logger.js';
import { DrainkitError, describeValue } from './errors.js';
import type { DrainerOptions, DrainerPlugin, HandledSignal, Logger, ResolvedDeregisterOptions, ResolvedOptions } from './types.js';

type AdaptiveWindow = Extract<ResolvedDeregisterOptions, { mode: 'adaptive' }>;
/** The adaptive window's defaults; a partial `{ mode: 'adaptive', … }` is completed from these. */
const ADAPTIVE_DEFAULT: AdaptiveWindow = Object.freeze({ mode: 'adaptive', minMs: 0, maxMs: 5_000, quietMs: 500 });
const DEFAULT_SIGNALS: readonly HandledSignal[] = Object.freeze(['SIGTERM', 'SIGINT']);

/**
 * The default of every {@link DrainerOptions} field that has one, each defined here only. Options
 * without an entry default to nothing (`health.port`), to `[]` (`plugins`), or depend on the
 * process or another option (`logger`: plain lines on stderr when it is a terminal, else nothing;
 * `exitOnDrain`: true exactly when signals are handled). A fixed deregistration
 * window has no default length: `{ mode: 'fixed' }` needs its `delayMs`.
 */
export const DEFAULTS = Object.freeze({
  /** `drainTimeoutMs`: 30 s for in-flight work after the window. */
  drainTimeoutMs: 30_000,
  /** `deregister`: adaptive, at most 5 s; a partial adaptive object is completed from this. */
  deregister: ADAPTIVE_DEFAULT,
  /** `health.readinessPath`. */
  readinessPath: '/readyz',
  /** `health.livenessPath`. */
  livenessPath: '/healthz',
  /** `signals`. */
  signals: DEFAULT_SIGNALS,
  /** `interactiveSigintSkipsWindow`. */
  interactiveSigintSkipsWindow: true,
  /** `exitGraceMs`. */
  exitGraceMs: 1_000,
  /** `keepAliveTimeoutMs`: above the AWS ALB's 60 s idle timeout. */
  keepAliveTimeoutMs: 65_000,
  /** `lingerMs`. */
  lingerMs: 2_000,
  /** `persistentShutdown`. */
  persistentShutdown: 'window-end',
  /** `persistentSpreadMs`. */
  persistentSpreadMs: 2_500,
  /** `hookTimeoutMs`: the bound of each shutdown hook without a `timeoutMs` of its own. */
  hookTimeoutMs: 5_000,
  hints: true,
  signalWarnings: true,
});

const HANDLED_SIGNALS: readonly HandledSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
const TOP_LEVEL_KEYS = [
  'drainTimeoutMs', 'deregister', 'health', 'signals', 'interactiveSigintSkipsWindow', 'exitOnDrain',
  'exitGraceMs', 'keepAliveTimeoutMs', 'lingerMs', 'persistentShutdown', 'persistentSpreadMs',
  'hookTimeoutMs', 'logger', 'plugins',
  'hints', 'signalWarnings',
] as const;

function invalid(name: string, value: unknown, accepted: string): DrainkitError {
  return new DrainkitError(
    'ERR_DRAINKIT_INVALID_OPTION',
    `drainkit: option "${name}" is ${describeValue(value)}; accepted: ${accepted}`,
  );
}

function rejectUnknownKeys(name: string, obj: object, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new DrainkitError(
        'ERR_DRAINKIT_UNKNOWN_OPTION',
        `drainkit: unknown option "${name}${name ? '.' : ''}${key}"; known options: ${known.join(', ')}`,
      );
    }
  }
}

/** An integer in [min, max], or the default when undefined. */
export function integerOption(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(name, value, 'true or false');
  return value;
}

function pathOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.startsWith('/') || /[\s?#]/.test(value)) {
    throw invalid(name, value, 'a path starting with "/" without spaces, "?" or "#"');
  }
  return value;
}

const HOUR = 3_600_000;

function resolveDeregister(value: unknown): ResolvedDeregisterOptions {
  if (value === undefined) return DEFAULTS.deregister;
  if (typeof value !== 'object' || value === null) {
    throw invalid('deregister', value, "{ mode: 'fixed', delayMs } or { mode: 'adaptive', minMs?, maxMs?, quietMs?, probeFailureThreshold?, confirm? }");
  }
  const v = value as Record<string, unknown>;
  if (v.mode === 'fixed') {
    rejectUnknownKeys('deregister', v, ['mode', 'delayMs']);
    // No default: a fixed window's length is the balancer's reaction time, which only the
    // deployment knows; silently waiting some other length is worse than refusing.
    if (v.delayMs === undefined) {
      throw invalid('deregister.delayMs', v.delayMs, `an integer from 0 to ${HOUR}, required with mode "fixed" (or use { mode: 'adaptive' }, whose fields all have defaults)`);
    }
    return Object.freeze({ mode: 'fixed', delayMs: integerOption('deregister.delayMs', v.delayMs, 0, HOUR, 0) });
  }
  if (v.mode === 'adaptive') {
    rejectUnknownKeys('deregister', v, ['mode', 'minMs', 'maxMs', 'quietMs', 'probeFailureThreshold', 'confirm']);
    if (v.confirm !== undefined && v.confirm !== 'balancer' && v.confirm !== 'traffic') {
      throw invalid('deregister.confirm', v.confirm, '"balancer" (default) or "traffic"');
    }
    const byTraffic = v.confirm === 'traffic';
    // A quiet spell right after readiness turned 503 proves nothing: the balancer may not have
    // reacted yet. Only the deployment knows how long that takes, so no default is guessed.
    if (byTraffic && v.minMs === undefined) {
      throw invalid('deregister.minMs', v.minMs, `an integer from 0 to deregister.maxMs, required with confirm "traffic": the longest the balancer may keep sending new traffic after readiness turned 503 (endpoint propagation, probe period × failure threshold)`);
    }
    const d = ADAPTIVE_DEFAULT;
    const maxMs = integerOption('deregister.maxMs', v.maxMs, 0, HOUR, d.maxMs);
    const minMs = integerOption('deregister.minMs', v.minMs, 0, HOUR, Math.min(d.minMs, maxMs));
    if (minMs > maxMs) {
      throw invalid('deregister.minMs', minMs, `at most deregister.maxMs (${maxMs})`);
    }
    const quietMs = integerOption('deregister.quietMs', v.quietMs, 0, 60_000, d.quietMs);
    const threshold = v.probeFailureThreshold === undefined
      ? undefined
      : integerOption('deregister.probeFailureThreshold', v.probeFailureThreshold, 1, 100, 1);
    return Object.freeze({
      mode: 'adaptive',
      minMs,
      maxMs,
      quietMs,
      ...(threshold !== undefined && { probeFailureThreshold: threshold }),
      ...(byTraffic && { confirm: 'traffic' as const }),
    });
  }
  throw invalid('deregister.mode', v.mode, '"fixed" or "adaptive"');
}

function resolveHealth(value: unknown): ResolvedOptions['health'] {
  if (value === false) return false;
  const v = (value ?? {}) as Record<string, unknown>;
  if (typeof v !== 'object' || v === null) throw invalid('health', value, 'false or { readinessPath, livenessPath, port, host, preStopPath, preStopToken }');
  rejectUnknownKeys('health', v, ['readinessPath', 'livenessPath', 'port', 'host', 'preStopPath', 'preStopToken']);
  const readinessPath = pathOption('health.readinessPath', v.readinessPath, DEFAULTS.readinessPath);
  const livenessPath = pathOption('health.livenessPath', v.livenessPath, DEFAULTS.livenessPath);
  if (readinessPath === livenessPath) {
    throw invalid('health.livenessPath', livenessPath, 'a path different from health.readinessPath');
  }
  const port = v.port === undefined ? undefined : integerOption('health.port', v.port, 0, 65_535, 0);
  if (v.host !== undefined && (typeof v.host !== 'string' || v.host.length === 0)) {
    throw invalid('health.host', v.host, 'a non-empty host name or address');
  }
  const preStop = resolvePreStop(v, readinessPath, livenessPath, port);
  return Object.freeze({ readinessPath, livenessPath, port, host: typeof v.host === 'string' ? v.host : '0.0.0.0', ...preStop });
}

function resolvePreStop(
  v: Record<string, unknown>,
  readinessPath: string,
  livenessPath: string,
  port: number | undefined,
): { preStopPath?: string; preStopToken?: string } {
  if (v.preStopToken !== undefined && (typeof v.preStopToken !== 'string' || !/^[\x21-\x7e]{16,256}$/.test(v.preStopToken))) {
    const accepted = 'a secret of 16 to 256 visible ASCII characters (no spaces), as sent in the x-drainkit-prestop header';
    if (typeof v.preStopToken !== 'string') throw invalid('health.preStopToken', v.preStopToken, accepted);
    // Not echoed back: it is meant to be a secret.
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: option "health.preStopToken" is a string of ${v.preStopToken.length} character(s) that does not fit; accepted: ${accepted}`);
  }
  if (v.preStopPath === undefined) {
    if (v.preStopToken !== undefined) throw invalid('health.preStopPath', undefined, 'a path such as "/prestop", required with health.preStopToken');
    return {};
  }
  const preStopPath = pathOption('health.preStopPath', v.preStopPath, '/prestop');
  if (preStopPath === readinessPath || preStopPath === livenessPath) {
    throw invalid('health.preStopPath', preStopPath, 'a path different from health.readinessPath and health.livenessPath');
  }
  // Served nowhere would be a preStop hook that fails in every deletion; served on the main
  // server without a secret would let any client of the service drain the fleet.
  if (port === undefined && v.preStopToken === undefined) {
    throw invalid('health.preStopPath', preStopPath, 'a path together with health.port (served on the dedicated health server, out of the balancer\'s reach) or health.preStopToken (served on the main server only to requests that carry it)');
  }
  return { preStopPath, ...(typeof v.preStopToken === 'string' && { preStopToken: v.preStopToken }) };
}

function resolveSignals(value: unknown): readonly HandledSignal[] {
  if (value === undefined) return DEFAULTS.signals;
  if (value === false) return Object.freeze([]);
  if (!Array.isArray(value) || value.some((s) => !HANDLED_SIGNALS.includes(s as HandledSignal))) {
    throw invalid('signals', value, `false or an array of ${HANDLED_SIGNALS.join(', ')}`);
  }
  return Object.freeze([...new Set(value as HandledSignal[])]);
}

function resolveLogger(value: unknown): Logger | undefined {
  // The default speaks only to a person at a terminal; pipes and log collectors get structure
  // from the application's own logger, or nothing.
  if (value === undefined) return process.stderr.isTTY === true ? terminalLogger() : undefined;
  if (value === false) return undefined;
  const v = (typeof value === 'object' ? value : null) as Partial<Record<keyof Logger, unknown>> | null;
  if (v === null || typeof v.info !== 'function' || typeof v.warn !== 'function' || typeof v.error !== 'function') {
    throw invalid('logger', value, 'false, or a pino-shaped logger with info(obj, msg), warn(obj, msg) and error(obj, msg)');
  }
  return v as Logger;
}

function resolvePlugins(value: unknown): readonly DrainerPlugin[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'function')) {
    throw invalid('plugins', value, 'an array of functions (drainer, server) => detach');
  }
  return Object.freeze([...(value as DrainerPlugin[])]);
}

export function resolveOptions(options: DrainerOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('options', options, 'an object');
  }
  rejectUnknownKeys('', options, TOP_LEVEL_KEYS);
  const signals = resolveSignals(options.signals);
  const persistentShutdown = options.persistentShutdown ?? DEFAULTS.persistentShutdown;
  if (persistentShutdown !== 'window-end' && persistentShutdown !== 'drain-start') {
    throw invalid('persistentShutdown', persistentShutdown, '"window-end" or "drain-start"');
  }
  let keepAliveTimeoutMs: number | null = DEFAULTS.keepAliveTimeoutMs;
  if (options.keepAliveTimeoutMs === null) keepAliveTimeoutMs = null;
  else keepAliveTimeoutMs = integerOption('keepAliveTimeoutMs', options.keepAliveTimeoutMs, 1_000, HOUR, DEFAULTS.keepAliveTimeoutMs);

  return Object.freeze({
    drainTimeoutMs: integerOption('drainTimeoutMs', options.drainTimeoutMs, 0, HOUR, DEFAULTS.drainTimeoutMs),
    deregister: resolveDeregister(options.deregister),
    health: resolveHealth(options.health),
    signals,
    interactiveSigintSkipsWindow: booleanOption('interactiveSigintSkipsWindow', options.interactiveSigintSkipsWindow, DEFAULTS.interactiveSigintSkipsWindow),
    exitOnDrain: booleanOption('exitOnDrain', options.exitOnDrain, signals.length > 0),
    exitGraceMs: integerOption('exitGraceMs', options.exitGraceMs, 0, 60_000, DEFAULTS.exitGraceMs),
    keepAliveTimeoutMs,
    lingerMs: integerOption('lingerMs', options.lingerMs, 0, 60_000, DEFAULTS.lingerMs),
    persistentShutdown,
    persistentSpreadMs: integerOption('persistentSpreadMs', options.persistentSpreadMs, 0, 60_000, DEFAULTS.persistentSpreadMs),
    hookTimeoutMs: integerOption('hookTimeoutMs', options.hookTimeoutMs, 0, 600_000, DEFAULTS.hookTimeoutMs),
    logger: resolveLogger(options.logger),
    hints: booleanOption('hints', options.hints, DEFAULTS.hints),
    signalWarnings: booleanOption('signalWarnings', options.signalWarnings, DEFAULTS.signalWarnings),
    plugins: resolvePlugins(options.plugins),
  });
}
