/**
 * The registry's one small database interface. Two drivers implement it, each in its own folder
 * and each loading its client library with `await import()` only when chosen:
 *
 * - `pg/`: real Postgres through node-postgres (also any Postgres-wire server, such as a PGlite
 *   served by `hostPglite`, detected and handled in shared-session mode).
 * - `pglite/`: PGlite in this process, from a data directory (or in memory).
 */
import { DRIVER_PACKAGES, assertDriverInstalled, checkDatabaseUrl } from './database-url.js';
import { RegistryError, describe } from './errors.js';

/** Values a statement may bind. JSON goes in as a string and is cast in SQL (`$1::jsonb`). */
export type SqlValue = string | number | boolean | null | Date;

export interface QueryOptions {
  /** Bound of this statement, client side (and server side where the driver can). */
  readonly timeoutMs?: number;
}

/** A LISTEN subscription on a dedicated connection that reconnects on its own. */
export interface Subscription {
  /** Unlisten and close the dedicated connection. Idempotent. */
  close(): Promise<void>;
}

export interface ListenHandlers {
  /** A notification arrived on the channel. */
  readonly onNotify: (payload: string) => void;
  /**
   * The subscription is (again) in place. Notifications sent while it was down are lost, so
   * callers re-read whatever the notifications stand for.
   */
  readonly onListening?: () => void;
  /** The backend cannot LISTEN (a shared-session PGlite); the subscription gave up for good. */
  readonly onUnsupported?: () => void;
}

export interface Store {
  /** `'pg'` or `'pglite'`. */
  readonly driver: 'pg' | 'pglite';
  /**
   * One statement with `$n` parameters, in autocommit. Every registry write is exactly one such
   * statement (multi-table changes are data-modifying CTEs), which is what makes the registry
   * usable over pglite-socket's shared session.
   */
  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly SqlValue[], options?: QueryOptions): Promise<R[]>;
  /**
   * A multi-statement script without parameters, sent as one simple-protocol message: Postgres
   * runs it as one implicit transaction, and pglite-socket runs it as one unit on its queue.
   */
  script(sql: string, options?: QueryOptions): Promise<void>;
  /**
   * LISTEN on a dedicated connection, when the driver supports it (real Postgres). Absent on
   * drivers that cannot; `onUnsupported` fires when that is only known after connecting.
   */
  readonly listen?: (channel: string, handlers: ListenHandlers) => Subscription;
  /** Close the pool or database. Statements still queued fail with `ERR_DRAINKIT_REGISTRY_CLOSED`. */
  close(): Promise<void>;
}

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

export interface ResolvedStoreOptions {
  readonly maxConnections: number;
  readonly queryTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

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

export function intOption(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${name} got ${describe(value)}; accepted: an integer from ${min} to ${max}`);
  }
  return value;
}

/** Races a promise against a bound; the loser is left to settle on its own. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RegistryError('ERR_DRAINKIT_REGISTRY_TIMEOUT', `drainkit registry: ${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
