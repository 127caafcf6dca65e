/**
 * LISTEN on a dedicated node-postgres client (a pooled connection cannot hold a LISTEN: the pool
 * hands it to other statements and closes it when idle). Reconnects with capped backoff; each
 * time it is listening again it says so, because notifications sent meanwhile are lost.
 */
import type * as Pg from 'pg';
import type { ListenHandlers, Subscription } from '../driver.js';
import { isSharedSessionServer } from './shared-session.js';

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export class PgSubscription implements Subscription {
  readonly #pg: typeof Pg;
  readonly #url: string;
  readonly #channel: string;
  readonly #handlers: ListenHandlers;
  readonly #connectTimeoutMs: number;
  #client: Pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = BACKOFF_MIN_MS;
  #closed = false;

  constructor(pg: typeof Pg, url: string, channel: string, handlers: ListenHandlers, connectTimeoutMs: number) {
    this.#pg = pg;
    this.#url = url;
    this.#channel = channel;
    this.#handlers = handlers;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  start(): void {
    void this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new this.#pg.Client({ connectionString: this.#url, connectionTimeoutMillis: this.#connectTimeoutMs, keepAlive: true, query_timeout: this.#connectTimeoutMs });
    this.#client = client;
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (msg) => {
      if (msg.channel === this.#channel) this.#handlers.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ v: string }>('SELECT version() AS v');
      if (isSharedSessionServer(rows[0]?.v ?? '')) {
        // A LISTEN would subscribe the session every pglite-socket client shares.
        this.#closed = true;
        this.#client = undefined;
        await client.end().catch(() => undefined);
        this.#handlers.onUnsupported?.();
        return;
      }
      await client.query(`LISTEN ${this.#pg.escapeIdentifier(this.#channel)}`);
      if (this.#closed || this.#client !== client) return;
      this.#backoffMs = BACKOFF_MIN_MS;
      this.#handlers.onListening?.();
    } catch {
      this.#lost(client);
    }
  }

  #lost(client: Pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    void client.end().catch(() => undefined);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
    this.#timer = setTimeout(() => void this.#connect(), delay);
    this.#timer.unref();
  }
}
