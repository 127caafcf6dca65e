/**
 * Remote drain, the instance's side: pending `DrainRequest` rows are read on every heartbeat
 * tick and, where the database can LISTEN (real Postgres), at once on a NOTIFY. They are
 * acknowledged (event `drain_requested`, only while this registration holds the row and is
 * active) and then the drain runs, the same sequence as on SIGTERM.
 */
import type { Logger } from '../core/types.js';
import type { Store, Subscription } from './driver.js';
import { messageOf } from './errors.js';
import { log, type Level } from './log.js';
import * as sql from './statements.js';
import type { Registration } from './writer.js';

export interface RemoteDrainDeps {
  readonly store: () => Promise<Store>;
  /** The registration that reads and acknowledges; undefined until registered. */
  readonly registration: () => Registration | undefined;
  /** True while a drain request can still start a drain (the drainer is active, the reporter running). */
  readonly accepting: () => boolean;
  /** Starts the drain; `reason` is what the request said. */
  readonly drain: (reason: string) => void;
  readonly queryTimeoutMs: number;
  readonly logger: Logger | undefined;
}

export class RemoteDrain {
  readonly #deps: RemoteDrainDeps;
  #subscription: Subscription | undefined;
  #closed = false;
  #polling = false;
  #pollAgain = false;

  constructor(deps: RemoteDrainDeps) {
    this.#deps = deps;
  }

  /** Subscribes to notifications (where the store can) and reads what is pending now. */
  start(): void {
    this.#listen();
    void this.poll();
  }

  /**
   * Reads pending requests for this registration, and drains on the first one. A call while a
   * read runs makes that read run once more afterwards: it may have missed the new request.
   */
  async poll(): Promise<void> {
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = true;
    try {
      do {
        this.#pollAgain = false;
        await this.#pollOnce();
      } while (this.#pollAgain);
    } finally {
      this.#polling = false;
    }
  }

  /** No more requests to hear about (the drain started, or the reporter stopped). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const sub = this.#subscription;
    this.#subscription = undefined;
    await sub?.close();
  }

  #listen(): void {
    void this.#deps.store().then((s) => {
      if (this.#subscription || !s.listen || this.#closed || !this.#deps.accepting()) return;
      this.#subscription = s.listen(sql.DRAIN_REQUEST_CHANNEL, {
        onNotify: (payload) => {
          if (Number(payload) === this.#deps.registration()?.id) void this.poll();
        },
        // Notifications sent while the subscription was down are lost: look at the table.
        onListening: () => void this.poll(),
        onUnsupported: () => {
          this.#subscription = undefined;
          this.#log('debug', { event: 'registry_listen_unsupported' }, 'shared-session database: remote drains arrive on the heartbeat');
        },
      });
    }, () => undefined);
  }

  async #pollOnce(): Promise<void> {
    const registration = this.#deps.registration();
    if (registration === undefined || this.#closed || !this.#deps.accepting()) return;
    try {
      const store = await this.#deps.store();
      const options = { timeoutMs: this.#deps.queryTimeoutMs };
      const pending = await store.query(sql.PENDING_REQUEST, [registration.id], options);
      if (pending.length === 0 || !this.#deps.accepting()) return;
      const acked = await store.query<{ requested_by: string; reason: string }>(sql.ACKNOWLEDGE_REQUESTS, [registration.id, registration.generation, new Date()], options);
      const first = acked[0];
      if (first === undefined || !this.#deps.accepting()) return;
      this.#log('info', { event: 'registry_remote_drain', instanceId: registration.id, requestedBy: first.requested_by, reason: first.reason }, 'drain requested through the registry');
      this.#deps.drain(first.reason);
    } catch (err) {
      this.#log('debug', { event: 'registry_poll_failed', err: messageOf(err) }, 'could not read drain requests');
    }
  }

  #log(level: Level, obj: object, msg: string): void {
    log(this.#deps.logger, level, obj, msg);
  }
}
