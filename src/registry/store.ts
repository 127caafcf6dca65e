/**
 * Opening a store: the only module that loads a driver, each from its own folder with
 * `await import()` only when chosen (the interface they implement is in `driver.ts`):
 *
 * - `pg/`: real Postgres through node-postgres (also any Postgres-wire server, such as a PGlite
 *   served by `hostPglite`, detected and handled in shared-session mode).
 * - `pglite/`: PGlite in this process, from a data directory (or in memory), and `hostPglite`,
 *   which serves one to other processes.
 */
import { DRIVER_PACKAGES, assertDriverInstalled, checkDatabaseUrl } from './database-url.js';
import type { PgliteHost, PgliteHostOptions, ResolvedStoreOptions, Store } from './driver.js';
import { RegistryError, describe } from './errors.js';
import { intOption } from './int-option.js';

export type { EmbeddedDatabase, ListenHandlers, PgliteHost, PgliteHostOptions, QueryOptions, SqlValue, Store, Subscription } from './driver.js';

/** How to reach the database. Exactly one of `databaseUrl` or `dataDir`; see {@link openStore}. */
export interface StoreOptions {
  /** A `postgres://` URL. Default: the `DATABASE_URL` environment variable when `dataDir` is not given. */
  readonly databaseUrl?: string;
  /** A PGlite data directory (`memory://` for an in-memory database) opened in this process. */
  readonly dataDir?: string;
  /** Pool size for `pg`. Default 3: a reporter needs one at a time, the control plane a few. Range 1 … 50. */
  readonly maxConnections?: number;
  /** Default bound of a statement. Default 5000 ms. Range 100 … 600 000. */
  readonly queryTimeoutMs?: number;
  /** Bound of opening a connection (`pg`). Default 3000 ms. Range 100 … 600 000. */
  readonly connectTimeoutMs?: number;
}

const STORE_KEYS = new Set(['databaseUrl', 'dataDir', 'maxConnections', 'queryTimeoutMs', 'connectTimeoutMs']);

/**
 * Opens a store: `pg` for a `databaseUrl` (or `DATABASE_URL`), PGlite for a `dataDir`. Nothing
 * connects yet: a database that is down now fails the first statement, not this call (PGlite
 * opens its data directory here, which can take a few seconds).
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  for (const key of Object.keys(options)) {
    if (!STORE_KEYS.has(key)) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_UNKNOWN_OPTION', `drainkit registry: unknown store option ${describe(key)}; accepted: ${[...STORE_KEYS].join(', ')}`);
    }
  }
  const resolved: ResolvedStoreOptions = {
    maxConnections: intOption('maxConnections', options.maxConnections, 1, 50, 3),
    queryTimeoutMs: intOption('queryTimeoutMs', options.queryTimeoutMs, 100, 600_000, 5_000),
    connectTimeoutMs: intOption('connectTimeoutMs', options.connectTimeoutMs, 100, 600_000, 3_000),
  };
  if (options.databaseUrl !== undefined && options.dataDir !== undefined) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', 'drainkit registry: give one of databaseUrl or dataDir, not both');
  }
  if (options.dataDir !== undefined) {
    if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: dataDir got ${describe(options.dataDir)}; accepted: a directory path or "memory://"`);
    }
    assertDriverInstalled(DRIVER_PACKAGES.dataDir, 'a registry dataDir');
    const { openPgliteStore } = await import('./pglite/store.js');
    return openPgliteStore(options.dataDir, resolved);
  }
  const fromEnv = options.databaseUrl === undefined;
  const url = fromEnv ? process.env.DATABASE_URL : options.databaseUrl;
  if (url === undefined || (fromEnv && url === '')) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_NO_DATABASE', 'drainkit registry: no database: give databaseUrl, dataDir, or set DATABASE_URL');
  }
  checkDatabaseUrl(fromEnv ? 'DATABASE_URL' : 'databaseUrl', url);
  assertDriverInstalled(DRIVER_PACKAGES.url, 'a registry databaseUrl');
  const { openPgStore } = await import('./pg/store.js');
  return openPgStore(url, resolved);
}

/**
 * Hosts an embedded PGlite for the other local processes: the database is opened (and migrated)
 * here and served over the Postgres wire protocol by `@electric-sql/pglite-socket`, so other
 * processes connect with `pg` to the returned `postgres://` URL.
 *
 * Limits, from pglite-socket's multiplexer: every client shares one backend session. Statements
 * from different clients are queued and run one at a time; a client's explicit transaction holds
 * the queue; LISTEN/NOTIFY and session settings would leak between clients. The registry
 * therefore sends single autocommit statements only (the `pg` driver detects the server) and
 * relies on the heartbeat to deliver remote drain requests. For one host and a demo, not a fleet.
 */
export async function hostPglite(options: PgliteHostOptions): Promise<PgliteHost> {
  if (typeof options !== 'object' || options === null) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: hostPglite options got ${describe(options)}; accepted: an object with dataDir`);
  }
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: hostPglite dataDir got ${describe(options.dataDir)}; accepted: a directory path or "memory://"`);
  }
  const resolved = {
    dataDir: options.dataDir,
    host: options.host ?? '127.0.0.1',
    port: intOption('hostPglite port', options.port, 0, 65_535, 0),
    maxConnections: intOption('hostPglite maxConnections', options.maxConnections, 1, 1_000, 64),
  };
  assertDriverInstalled(DRIVER_PACKAGES.host, 'hostPglite');
  assertDriverInstalled(DRIVER_PACKAGES.dataDir, 'hostPglite');
  const { startPgliteHost } = await import('./pglite/host.js');
  return startPgliteHost(resolved);
}
