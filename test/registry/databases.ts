/**
 * The two real databases every registry test runs against:
 *
 * - `postgres`: the server on 127.0.0.1:5432 (user postgres, trust auth; override the admin URL
 *   with DRAINKIT_TEST_PG_URL). Each database is created for the test run with a unique name and
 *   dropped afterwards.
 * - `pglite`: an embedded PGlite, hosted over pglite-socket, so the same URL-based code paths
 *   (the `pg` driver in shared-session mode) run against it; assertions use the in-process store.
 *
 * Without a reachable Postgres the postgres suites skip, except in CI (`inCI()`: `CI` set to
 * anything but empty, `false` or `0`), where they fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { hostPglite, openStore, type Store } from '../../src/registry/index.js';
import { inCI } from '../helpers/ci.js';

export type DatabaseKind = 'postgres' | 'pglite';
export const DATABASE_KINDS: readonly DatabaseKind[] = ['postgres', 'pglite'];

export const ADMIN_URL = process.env.DRAINKIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly kind: DatabaseKind;
  /** A `postgres://` URL for reporters and child processes. */
  readonly url: string;
  /** For the test's own assertions. */
  readonly store: Store;
  /** Drops (postgres) or stops (pglite) the database. */
  close(): Promise<void>;
}

let available: Promise<boolean> | undefined;

/** Whether the postgres suites run; in CI (`inCI()`) they always do (and fail if it is down). */
export function postgresSkip(): Promise<string | false> {
  available ??= (async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return available.then((ok) => (ok || inCI() ? false : `no Postgres at ${ADMIN_URL}`));
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const host = await hostPglite({ dataDir: 'memory://' });
    return { kind, url: host.url, store: host.store, close: () => host.stop() };
  }
  const name = `drainkit_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const store = await openStore({ databaseUrl: url.href });
  return {
    kind,
    url: url.href,
    store,
    async close() {
      await store.close();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Polls `probe` every 50 ms until it returns a value that is not undefined; a hang guard, not a timing assertion. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
