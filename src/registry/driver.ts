/**
 * What the registry needs of a database, and the helpers its drivers share. Each driver (`pg/`,
 * `pglite/`) implements {@link Store} in its own folder and imports only this module of the
 * registry's; `openStore` (in `store.ts`) is the only module that loads a driver, with
 * `await import()` when one is chosen.
 */
import { RegistryError } from './errors.js';

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

/** Store options once checked, as the drivers get them. */
export interface ResolvedStoreOptions {
  readonly maxConnections: number;
  readonly queryTimeoutMs: number;
  readonly connectTimeoutMs: number;
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

/** The error of a statement sent to a store that was closed. */
export function closedError(): RegistryError {
  return new RegistryError('ERR_DRAINKIT_REGISTRY_CLOSED', 'drainkit registry: the store is closed');
}

/** Options of {@link PgliteHost}. */
export interface PgliteHostOptions {
  /** Data directory, or `memory://`. Required. */
  readonly dataDir: string;
  /** Address to serve on. Default `'127.0.0.1'`: the protocol has no authentication here. */
  readonly host?: string;
  /** Port to serve on; 0 picks one. Default 0. */
  readonly port?: number;
  /** Client connections served at once (pglite-socket's own default is 1). Default 64. Range 1 … 1000. */
  readonly maxConnections?: number;
}

/**
 * The hosted PGlite as this process sees it: the few methods of PGlite the registry's users
 * need, typed here so that the public declarations never depend on PGlite's own types (a
 * `pg`-only project type-checks without them).
 */
export interface EmbeddedDatabase {
  /** One statement with `$n` parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ readonly rows: R[] }>;
  /** A multi-statement script without parameters. */
  exec(sql: string): Promise<unknown>;
  close(): Promise<void>;
}

/** A PGlite served to other local processes; see `hostPglite`. */
export interface PgliteHost {
  /** `postgres://postgres@host:port/postgres`, for `pg` clients in other processes. */
  readonly url: string;
  readonly port: number;
  /** A store on the hosted database for this process (no socket hop). */
  readonly store: Store;
  /** The PGlite instance itself (PGlite's full API is there, typed here by what is stable). */
  readonly db: EmbeddedDatabase;
  /** Stop serving and close the database. Idempotent. */
  stop(): Promise<void>;
}
