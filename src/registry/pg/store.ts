/**
 * The `pg` driver: node-postgres with a small pool. Loaded only when a database URL is chosen.
 *
 * The first connection asks the server what it is. A PGlite served by pglite-socket answers
 * `version()` with "PGlite": its multiplexer feeds every client's protocol messages into one
 * backend session, so this driver then switches to shared-session mode: one pooled connection,
 * no session settings, no LISTEN, and parameters inlined as literals so that each statement is a
 * single simple-protocol message (the extended protocol's Parse/Bind/Execute are separate
 * messages that another client's could interleave with in the shared session).
 */
import type * as Pg from 'pg';
import { driverMissing } from '../database-url.js';
import { closedError, withTimeout, type ListenHandlers, type QueryOptions, type ResolvedStoreOptions, type SqlValue, type Store, type Subscription } from '../driver.js';
import { PgSubscription } from './listener.js';
import { SharedListen } from './shared-listen.js';
import { inlineParams, isSharedSessionServer } from './shared-session.js';

type PgModule = typeof Pg;
/** pg honours a per-query `query_timeout` (client side) that its types do not declare. */
type TimedQuery = Pg.QueryConfig & { readonly query_timeout: number };

interface Session {
  readonly pool: Pg.Pool;
  readonly shared: boolean;
}

export async function openPgStore(url: string, options: ResolvedStoreOptions): Promise<Store> {
  let pg: PgModule;
  try {
    // pg is CommonJS: its namespace carries the API on `default` under Node's ESM loader.
    const mod = (await import('pg')) as unknown as PgModule & { default?: PgModule };
    pg = mod.default ?? mod;
  } catch (err) {
    throw driverMissing('pg', 'a registry databaseUrl', err);
  }
  return new PgStore(pg, url, options);
}

class PgStore implements Store {
  readonly driver = 'pg' as const;
  readonly #pg: PgModule;
  readonly #url: string;
  readonly #options: ResolvedStoreOptions;
  #session: Promise<Session> | undefined;
  #closed = false;
  /** One LISTEN connection per channel, whatever the number of reporters on this store. */
  readonly #listeners = new SharedListen((channel, handlers) => {
    const sub = new PgSubscription(this.#pg, this.#url, channel, handlers, this.#options.connectTimeoutMs);
    sub.start();
    return sub;
  });

  constructor(pg: PgModule, url: string, options: ResolvedStoreOptions) {
    this.#pg = pg;
    this.#url = url;
    this.#options = options;
  }

  async query<R extends object>(sql: string, params: readonly SqlValue[] = [], options?: QueryOptions): Promise<R[]> {
    const timeoutMs = options?.timeoutMs ?? this.#options.queryTimeoutMs;
    const session = await this.#connect(timeoutMs);
    const config: TimedQuery = session.shared
      ? { text: inlineParams(this.#pg, sql, params), query_timeout: timeoutMs }
      : { text: sql, values: [...params], query_timeout: timeoutMs };
    const result = await this.#run(session, config, timeoutMs);
    return (result as Pg.QueryResult<R>).rows;
  }

  async script(sql: string, options?: QueryOptions): Promise<void> {
    const timeoutMs = options?.timeoutMs ?? this.#options.queryTimeoutMs;
    const session = await this.#connect(timeoutMs);
    await this.#run(session, { text: sql, query_timeout: timeoutMs }, timeoutMs);
  }

  readonly listen = (channel: string, handlers: ListenHandlers): Subscription => {
    if (this.#closed) return { close: () => Promise.resolve() };
    return this.#listeners.listen(channel, handlers);
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listeners.closeAll();
    const session = await this.#session?.catch(() => undefined);
    // pool.end() waits for checked-out clients; those are bounded by their query timeout.
    await session?.pool.end().catch(() => undefined);
  }

  async #run(session: Session, config: TimedQuery, timeoutMs: number): Promise<Pg.QueryResult | Pg.QueryResult[]> {
    if (this.#closed) throw closedError();
    // The outer bound covers the wait for a pooled connection too (pg bounds that by
    // connectionTimeoutMillis, and the statement itself by query_timeout).
    return withTimeout(session.pool.query(config) as Promise<Pg.QueryResult | Pg.QueryResult[]>, timeoutMs + this.#options.connectTimeoutMs, 'a registry statement');
  }

  #connect(timeoutMs: number): Promise<Session> {
    if (this.#closed) return Promise.reject(closedError());
    this.#session ??= this.#probe(timeoutMs).catch((err: unknown) => {
      // Not cached: the next statement probes again (the database may be back).
      this.#session = undefined;
      throw err;
    });
    return this.#session;
  }

  async #probe(timeoutMs: number): Promise<Session> {
    const pg = this.#pg;
    const probe = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: this.#options.connectTimeoutMs, query_timeout: timeoutMs });
    probe.on('error', () => undefined);
    let version: string;
    try {
      await probe.connect();
      const { rows } = await probe.query<{ v: string }>('SELECT version() AS v');
      version = rows[0]?.v ?? '';
    } finally {
      void withTimeout(probe.end(), 1_000, 'closing the probe connection').catch(() => undefined);
    }
    const shared = isSharedSessionServer(version);
    if (this.#closed) throw closedError();
    const pool = new pg.Pool({
      connectionString: this.#url,
      max: shared ? 1 : this.#options.maxConnections,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      idleTimeoutMillis: 10_000,
      // Idle pooled connections must not keep a drained process alive.
      allowExitOnIdle: true,
      keepAlive: true,
      // Server-side bounds too, so a statement the client gave up on does not run on. Not on a
      // shared session: a setting there would apply to every client of the PGlite.
      ...(!shared && { statement_timeout: this.#options.queryTimeoutMs, application_name: 'drainkit' }),
    });
    // An idle pooled connection that breaks (database restarted) emits 'error' on the pool; the
    // pool drops it and the next statement opens a new one. Without a listener it would crash.
    pool.on('error', () => undefined);
    return { pool, shared };
  }
}

