/**
 * Validates {@link ClusterOptions} once: unknown keys are rejected, ranges checked with a
 * message naming the option and what it accepts, defaults filled in, the result frozen.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { DrainkitError, describeValue } from '../core/errors.js';
import { integerOption } from '../core/options.js';
import type { Logger } from '../core/types.js';
import type { ClusterOptions, ClusterRegistryOptions, RestartPolicy } from './types.js';

export const CLUSTER_DEFAULTS = Object.freeze({
  port: 0,
  host: '127.0.0.1',
  maxSurge: 1,
  readyTimeoutMs: 30_000,
  drainTimeoutMs: 30_000,
  restart: Object.freeze({ baseDelayMs: 100, maxDelayMs: 10_000, fastCrashMs: 10_000, maxFastCrashes: 5 }) satisfies RestartPolicy,
});

export const MAX_WORKERS = 256;

export interface ResolvedClusterOptions {
  readonly script: string;
  readonly args: readonly string[];
  readonly workers: number;
  readonly port: number;
  readonly host: string;
  readonly maxSurge: number;
  readonly readyTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly restart: RestartPolicy;
  readonly logger: Logger | undefined;
  readonly env: Readonly<Record<string, string>>;
  /** The registry to report to, checked when the cluster starts; undefined: none. */
  readonly databaseUrl: string | undefined;
  readonly registry: ClusterRegistryOptions;
}

const KEYS = ['script', 'args', 'workers', 'port', 'host', 'maxSurge', 'readyTimeoutMs', 'drainTimeoutMs', 'restart', 'logger', 'env', 'signal', 'databaseUrl', 'registry'];
const REGISTRY_KEYS = ['host', 'labels', 'version', 'heartbeatMs', 'livenessWriteMs', 'shutdownFlushMs'];
const RESTART_KEYS = ['baseDelayMs', 'maxDelayMs', 'fastCrashMs', 'maxFastCrashes'];

function invalid(name: string, value: unknown, accepted: string): DrainkitError {
  return new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit cluster: option "${name}" is ${describeValue(value)}; accepted: ${accepted}`);
}

function rejectUnknown(prefix: string, obj: object, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new DrainkitError('ERR_DRAINKIT_UNKNOWN_OPTION', `drainkit cluster: unknown option "${prefix}${key}"; known options: ${known.join(', ')}`);
    }
  }
}

export function resolveClusterOptions(options: ClusterOptions): ResolvedClusterOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('options', options, 'an object');
  rejectUnknown('', options, KEYS);
  if (typeof options.script !== 'string' || options.script.length === 0) throw invalid('script', options.script, 'the path of the script workers run');
  const args: unknown = options.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw invalid('args', args, 'an array of strings');
  const workers = integerOption('workers', options.workers, 1, MAX_WORKERS, Math.min(MAX_WORKERS, os.availableParallelism()));
  const maxSurge = integerOption('maxSurge', options.maxSurge, 1, MAX_WORKERS, CLUSTER_DEFAULTS.maxSurge);
  if (maxSurge > workers) throw invalid('maxSurge', maxSurge, `an integer from 1 to workers (${workers})`);
  const host = options.host ?? CLUSTER_DEFAULTS.host;
  if (typeof host !== 'string' || host.length === 0) throw invalid('host', host, 'a non-empty host name or address');
  const restartIn = options.restart ?? {};
  if (typeof restartIn !== 'object' || restartIn === null) throw invalid('restart', restartIn, '{ baseDelayMs, maxDelayMs, fastCrashMs, maxFastCrashes }');
  rejectUnknown('restart.', restartIn, RESTART_KEYS);
  const d = CLUSTER_DEFAULTS.restart;
  const baseDelayMs = integerOption('restart.baseDelayMs', restartIn.baseDelayMs, 0, 600_000, d.baseDelayMs);
  const maxDelayMs = integerOption('restart.maxDelayMs', restartIn.maxDelayMs, baseDelayMs, 600_000, Math.max(baseDelayMs, d.maxDelayMs));
  const env = options.env ?? {};
  if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) throw invalid('env', env, 'an object of strings');
  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.error !== 'function')) {
    throw invalid('logger', logger, 'a pino-shaped logger with info(obj, msg), warn(obj, msg) and error(obj, msg)');
  }
  const databaseUrl: unknown = options.databaseUrl;
  if (databaseUrl !== undefined && (typeof databaseUrl !== 'string' || databaseUrl.length === 0)) throw invalid('databaseUrl', databaseUrl, 'a postgres:// or postgresql:// URL');
  const registry: unknown = options.registry ?? {};
  if (typeof registry !== 'object' || registry === null || Array.isArray(registry)) throw invalid('registry', registry, '{ host, labels, version, heartbeatMs, livenessWriteMs, shutdownFlushMs }');
  rejectUnknown('registry.', registry, REGISTRY_KEYS);
  if (databaseUrl === undefined && options.registry !== undefined) throw invalid('registry', registry, 'registry options together with databaseUrl only');
  return Object.freeze({
    script: path.resolve(options.script),
    args: Object.freeze([...(args as string[])]),
    workers,
    port: integerOption('port', options.port, 0, 65_535, CLUSTER_DEFAULTS.port),
    host,
    maxSurge,
    readyTimeoutMs: integerOption('readyTimeoutMs', options.readyTimeoutMs, 1, 3_600_000, CLUSTER_DEFAULTS.readyTimeoutMs),
    drainTimeoutMs: integerOption('drainTimeoutMs', options.drainTimeoutMs, 0, 3_600_000, CLUSTER_DEFAULTS.drainTimeoutMs),
    restart: Object.freeze({
      baseDelayMs,
      maxDelayMs,
      fastCrashMs: integerOption('restart.fastCrashMs', restartIn.fastCrashMs, 0, 3_600_000, d.fastCrashMs),
      maxFastCrashes: integerOption('restart.maxFastCrashes', restartIn.maxFastCrashes, 1, 1_000, d.maxFastCrashes),
    }),
    logger,
    env: Object.freeze({ ...env }),
    databaseUrl,
    registry: Object.freeze({ ...(registry as ClusterRegistryOptions) }),
  });
}
