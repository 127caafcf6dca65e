/**
 * The reporter's options: what each means, their defaults and ranges, and the one check that
 * runs wherever a reporter is configured (`startReporter` and the `registry()` plugin), so a
 * mistake throws where the options are written.
 */
import type { Drainer, Logger } from '../core/types.js';
import { DRIVER_PACKAGES, assertDriverInstalled, checkDatabaseUrl } from './database-url.js';
import type { Store } from './driver.js';
import { RegistryError, describe } from './errors.js';
import { instanceHost } from './identity.js';
import { intOption } from './int-option.js';

export interface ReporterOptions {
  /** An open store (not closed by the reporter). One of `store` or `databaseUrl`. */
  readonly store?: Store;
  /** A `postgres://` URL; the reporter opens (and closes) its own `pg` store. */
  readonly databaseUrl?: string;
  /** The port this instance serves on (with `host`, the instance's identity). Required; the `registry()` plugin defaults it to the port the server listens on. */
  readonly port: number;
  /**
   * The host name the fleet knows this instance by, in its `host:port` identity. Default: the
   * `DRAINKIT_INSTANCE_HOST` environment variable when set, else `os.hostname()` (never the
   * listening address, which is the same on every machine). Pass it only to override the rule.
   */
  readonly host?: string;
  /** Default `process.pid`. */
  readonly pid?: number;
  /** The service's version, stored on the row and in the `registered` event. */
  readonly version?: string;
  /** Labels such as zone or role: string keys and values, at most 64. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Heartbeat tick. Default 1000 ms. Range 50 … 60 000. */
  readonly heartbeatMs?: number;
  /** `last_heartbeat_at` is refreshed at least this often, even with nothing changed. Default 10 000 ms. Range heartbeatMs … 600 000. */
  readonly livenessWriteMs?: number;
  /** Bound of each statement. Default 2000 ms. Range 100 … 60 000. */
  readonly queryTimeoutMs?: number;
  /** Bound of the shutdown hook that lands pending writes. Default 3000 ms. Range 0 … 60 000. */
  readonly shutdownFlushMs?: number;
  /** Run the reaper with this TTL; `false` to leave reaping to others. Default 30 000 ms (≥ 2 × livenessWriteMs). */
  readonly reapTtlMs?: number | false;
  /** Apply migrations before registering. Default true. */
  readonly migrate?: boolean;
  /** Default: the drainer's logger. */
  readonly logger?: Logger;
}

const KEYS = new Set(['store', 'databaseUrl', 'port', 'host', 'pid', 'version', 'labels', 'heartbeatMs', 'livenessWriteMs', 'queryTimeoutMs', 'shutdownFlushMs', 'reapTtlMs', 'migrate', 'logger']);

/** The options once checked, with every default applied. */
export interface ResolvedReporterOptions {
  readonly store: Store | undefined;
  readonly databaseUrl: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly version: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly heartbeatMs: number;
  readonly livenessWriteMs: number;
  readonly queryTimeoutMs: number;
  readonly shutdownFlushMs: number;
  readonly reapTtlMs: number | false;
  readonly migrate: boolean;
  readonly logger: Logger | undefined;
}

function invalid(message: string): RegistryError {
  return new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${message}`);
}

/** The function the user called, named in messages about its options. */
export type ReporterEntry = 'registry()' | 'startReporter()';

/**
 * Checks `options` and applies the defaults. `drainer` is the one being reported (its state and
 * logger), or undefined when checking ahead of it (the plugin, before createDrainer). `entry`
 * is what the user called, so a message names a function they wrote.
 */
export function resolveReporterOptions(options: ReporterOptions, drainer: Drainer | undefined, entry: ReporterEntry = 'startReporter()'): ResolvedReporterOptions {
  if (typeof options !== 'object' || options === null) throw invalid(`${entry} options got ${describe(options)}; accepted: an object`);
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new RegistryError('ERR_DRAINKIT_REGISTRY_UNKNOWN_OPTION', `drainkit registry: unknown reporter option ${describe(key)}; accepted: ${[...KEYS].join(', ')}`);
  }
  if (options.store !== undefined && options.databaseUrl !== undefined) throw invalid('give one of store or databaseUrl, not both');
  let databaseUrl: string | undefined;
  if (options.store === undefined) {
    const fromEnv = options.databaseUrl === undefined;
    const url = fromEnv ? process.env.DATABASE_URL : options.databaseUrl;
    if (url === undefined || (fromEnv && url === '')) {
      throw new RegistryError(
        'ERR_DRAINKIT_REGISTRY_NO_DATABASE',
        `drainkit registry: ${entry} was given no database and DATABASE_URL is ${url === undefined ? 'not set' : 'empty'}; ` +
          `accepted: databaseUrl (a postgres:// or postgresql:// URL, such as the one drainkit registry-host prints for an embedded PGlite registry), ` +
          `store (a Store from openStore()), or DATABASE_URL in the environment`,
      );
    }
    databaseUrl = checkDatabaseUrl(fromEnv ? 'DATABASE_URL' : 'databaseUrl', url);
    assertDriverInstalled(DRIVER_PACKAGES.url, 'a registry databaseUrl');
  } else if (typeof options.store !== 'object' || options.store === null || typeof options.store.query !== 'function') {
    throw invalid(`store got ${describe(options.store)}; accepted: a Store from openStore()`);
  }
  if (drainer && drainer.state !== 'active') throw invalid(`startReporter needs an active drainer; this one is ${drainer.state}`);
  const host = instanceHost(options.host);
  const labels = options.labels ?? {};
  const entries = Object.entries(labels);
  if (typeof labels !== 'object' || entries.length > 64 || entries.some(([k, v]) => typeof v !== 'string' || k.length === 0 || k.length > 100 || v.length > 500)) {
    throw invalid(`labels got ${describe(labels)}; accepted: at most 64 string keys (1-100 characters) with string values (at most 500)`);
  }
  if (options.version !== undefined && typeof options.version !== 'string') throw invalid(`version got ${describe(options.version)}; accepted: a string`);
  const heartbeatMs = intOption('heartbeatMs', options.heartbeatMs, 50, 60_000, 1_000);
  const livenessWriteMs = intOption('livenessWriteMs', options.livenessWriteMs, heartbeatMs, 600_000, Math.max(heartbeatMs, 10_000));
  let reapTtlMs: number | false = false;
  if (options.reapTtlMs !== false) {
    reapTtlMs = intOption('reapTtlMs', options.reapTtlMs, 1_000, 86_400_000, Math.max(30_000, 3 * livenessWriteMs));
    if (reapTtlMs < 2 * livenessWriteMs) throw invalid(`reapTtlMs (${reapTtlMs}) must be at least twice livenessWriteMs (${livenessWriteMs}), or live instances would be reaped`);
  }
  return Object.freeze({
    store: options.store,
    databaseUrl,
    host,
    port: intOption('port', options.port, 0, 65_535, -1) === -1 ? (() => { throw invalid('port is required'); })() : options.port,
    pid: intOption('pid', options.pid, 1, 2 ** 31 - 1, process.pid),
    version: options.version ?? null,
    labels: Object.freeze({ ...labels }),
    heartbeatMs,
    livenessWriteMs,
    queryTimeoutMs: intOption('queryTimeoutMs', options.queryTimeoutMs, 100, 60_000, 2_000),
    shutdownFlushMs: intOption('shutdownFlushMs', options.shutdownFlushMs, 0, 60_000, 3_000),
    reapTtlMs,
    migrate: options.migrate ?? true,
    logger: options.logger ?? drainer?.options.logger,
  });
}
