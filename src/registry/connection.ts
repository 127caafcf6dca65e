/**
 * A reporter's connection to the registry: opened on first use (so a process starts serving
 * whether or not the database is up), opened again after an attempt that failed, and closed
 * once at shutdown. A store the caller passed in is used as it is and left open: it is theirs.
 * Shared by the instance reporter and the cluster's reporter.
 */
import type { Store } from './driver.js';
import { openStore } from './store.js';

export interface ConnectionOptions {
  /** A store to use instead of opening one. */
  readonly store?: Store | undefined;
  /** Where to open one (validated by the reporter's options). */
  readonly databaseUrl?: string | undefined;
  readonly queryTimeoutMs: number;
}

export class ReporterConnection {
  readonly #options: ConnectionOptions;
  #opened: Promise<Store> | undefined;

  constructor(options: ConnectionOptions) {
    this.#options = options;
  }

  store(): Promise<Store> {
    const o = this.#options;
    if (o.store) return Promise.resolve(o.store);
    this.#opened ??= openStore({ databaseUrl: o.databaseUrl as string, queryTimeoutMs: o.queryTimeoutMs, maxConnections: 2 }).catch((err: unknown) => {
      this.#opened = undefined;
      throw err;
    });
    return this.#opened;
  }

  /** One statement, bounded by the reporter's query timeout. */
  async query(text: string, params: Parameters<Store['query']>[1]): Promise<unknown> {
    const store = await this.store();
    return store.query(text, params, { timeoutMs: this.#options.queryTimeoutMs });
  }

  /** Closes the store this opened, if any; never throws. */
  async close(): Promise<void> {
    const store = await this.#opened?.catch(() => undefined);
    await store?.close().catch(() => undefined);
  }
}
