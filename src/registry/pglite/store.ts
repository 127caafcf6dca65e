/**
 * The embedded driver: PGlite (Postgres compiled to WebAssembly) in this process, from a data
 * directory. Loaded only when chosen. PGlite is a single session: its own mutex serialises this
 * process's statements with those of pglite-socket clients when it is also hosted.
 */
import type { PGlite } from '@electric-sql/pglite';
import { driverMissing } from '../database-url.js';
import { closedError, withTimeout, type QueryOptions, type ResolvedStoreOptions, type SqlValue, type Store } from '../driver.js';

export async function loadPglite(): Promise<typeof PGlite> {
  try {
    return (await import('@electric-sql/pglite')).PGlite;
  } catch (err) {
    throw driverMissing('@electric-sql/pglite', 'a registry dataDir', err);
  }
}

export async function openPgliteStore(dataDir: string, options: ResolvedStoreOptions): Promise<Store> {
  const PGliteClass = await loadPglite();
  const db = await PGliteClass.create({ dataDir });
  return new PgliteStore(db, options.queryTimeoutMs, true);
}

/** Wraps an open PGlite; `close()` closes it only when `owned`. */
export class PgliteStore implements Store {
  readonly driver = 'pglite' as const;
  readonly db: PGlite;
  readonly #timeoutMs: number;
  readonly #owned: boolean;
  #closed = false;

  constructor(db: PGlite, timeoutMs: number, owned: boolean) {
    this.db = db;
    this.#timeoutMs = timeoutMs;
    this.#owned = owned;
  }

  async query<R extends object>(sql: string, params: readonly SqlValue[] = [], options?: QueryOptions): Promise<R[]> {
    if (this.#closed) throw closedError();
    // The bound only frees the caller: an in-process statement cannot be cancelled.
    const result = await withTimeout(this.db.query<R>(sql, [...params]), options?.timeoutMs ?? this.#timeoutMs, 'a registry statement');
    return result.rows;
  }

  async script(sql: string, options?: QueryOptions): Promise<void> {
    if (this.#closed) throw closedError();
    await withTimeout(this.db.exec(sql), options?.timeoutMs ?? this.#timeoutMs, 'a registry script');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.db.close();
  }
}
