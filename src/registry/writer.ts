/**
 * The reporter's write queue: statements in order (a drain's `drain_complete` never lands
 * before its `drain_start`), one at a time, each bounded, retried with capped backoff while the
 * database is away. Registration comes first: nothing instance-specific is sent until the
 * instance has an id. Nothing here is ever awaited by the drain itself; the shutdown hook waits
 * on {@link WriteQueue.flush}, which has its own bound.
 */
import type { Logger } from '../core/types.js';
import { messageOf, permanentFailure } from './errors.js';
import { log, type Level } from './log.js';

/**
 * One registration of this process in the registry: the host:port row's id and the generation
 * this registration got. Every write names it, so a write never lands on a successor's row.
 */
export interface Registration {
  readonly id: number;
  readonly generation: number;
}

export interface Write {
  /** For logs: `drain_start`, `heartbeat`, … */
  readonly label: string;
  /** Runs the statement for this process's registration (the one it holds when the write is sent). */
  readonly run: (registration: Registration) => Promise<unknown>;
  /**
   * Retry until it lands (transitions and events), or drop on the first failure (heartbeats).
   * Either way, a failure that retrying cannot fix (see {@link permanentFailure}) drops it.
   */
  readonly retry: boolean;
}

export interface WriteQueueDeps {
  /** Migrates and upserts the instance; resolves its id. Retried like a write. */
  readonly register: () => Promise<Registration>;
  readonly logger: Logger | undefined;
  /** Called once registration succeeded (again). */
  readonly onRegistered: (registration: Registration) => void;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2_000;

export class WriteQueue {
  readonly #deps: WriteQueueDeps;
  readonly #items: Write[] = [];
  readonly #idleWaiters = new Set<(landed: boolean) => void>();
  #registration: Registration | undefined;
  #needsRegister = true;
  #pumping = false;
  #stopped = false;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  #failures = 0;
  /** Set by {@link stop} when writes (or the registration) were still pending: they never land. */
  #dropped = false;

  constructor(deps: WriteQueueDeps) {
    this.#deps = deps;
  }

  get instanceId(): number | undefined {
    return this.#registration?.id;
  }

  get registration(): Registration | undefined {
    return this.#registration;
  }

  /** True while nothing is queued, registration is done, and no statement is running. */
  get idle(): boolean {
    return !this.#pumping && this.#items.length === 0 && !this.#needsRegister;
  }

  /** Queue a write (after registration, after every earlier write). */
  push(write: Write): void {
    if (this.#stopped) return;
    this.#items.push(write);
    this.#kick();
  }

  /** Register again (the row was reaped or taken over) before the next write. */
  reRegister(): void {
    if (this.#stopped) return;
    this.#needsRegister = true;
    this.#kick();
  }

  /** Start registration now. */
  start(): void {
    this.#kick();
  }

  /**
   * Resolves true once everything queued has landed (or was given up as unfixable, and logged),
   * false when `timeoutMs` passed, `signal` aborted, or {@link stop} dropped what was pending.
   * The queue keeps retrying until then.
   */
  flush(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(!this.#dropped);
    if (this.idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#idleWaiters.delete(onIdle);
        resolve(ok);
      };
      const onIdle = (landed: boolean): void => done(landed);
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#idleWaiters.add(onIdle);
      if (signal?.aborted) done(false);
    });
  }

  /** Stop: what is still queued is dropped and logged. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const pending = this.#items.splice(0);
    const dropped = pending.filter((w) => w.retry);
    this.#dropped = pending.length > 0 || this.#needsRegister;
    if (dropped.length > 0 || this.#needsRegister) {
      this.#log('error', { event: 'registry_writes_dropped', writes: dropped.map((w) => w.label), registered: !this.#needsRegister }, 'registry writes dropped: the database did not come back in time');
    }
    this.#wake();
    for (const w of [...this.#idleWaiters]) w(!this.#dropped);
  }

  #kick(): void {
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (!this.#stopped) {
        if (this.#needsRegister) {
          await this.#attempt('register', async () => {
            const registration = await this.#deps.register();
            this.#registration = registration;
            this.#needsRegister = false;
            this.#deps.onRegistered(registration);
          }, true, true);
          continue;
        }
        const item = this.#items[0];
        if (item === undefined || this.#registration === undefined) break;
        const registration = this.#registration;
        const ok = await this.#attempt(item.label, () => item.run(registration), item.retry);
        if (ok !== 'retry') {
          if (this.#items[0] === item) this.#items.shift();
        }
      }
    } finally {
      this.#pumping = false;
    }
    if (this.idle && !this.#stopped) for (const w of [...this.#idleWaiters]) w(true);
  }

  /**
   * One try. On failure: logs, and either gives the write up (`'dropped'`: it does not retry, or
   * retrying cannot fix the error) or sleeps the backoff (`'retry'`). Registration is always
   * retried: nothing else can be written without it.
   */
  async #attempt(label: string, fn: () => Promise<unknown>, retry: boolean, isRegistration = false): Promise<'landed' | 'dropped' | 'retry'> {
    try {
      await fn();
      if (this.#failures > 0) this.#log('info', { event: 'registry_reachable', after: this.#failures }, 'registry reachable again');
      this.#failures = 0;
      return 'landed';
    } catch (err) {
      const permanent = isRegistration ? undefined : permanentFailure(err);
      if (permanent !== undefined) {
        // Retrying the same statement gives the same answer (its row was pruned, a value is out
        // of range…); at the head of the queue it would block every later write, heartbeats too.
        this.#log('error', { event: 'registry_write_abandoned', write: label, sqlstate: permanent, err: messageOf(err) }, `registry write "${label}" failed for good and was dropped`);
        return 'dropped';
      }
      this.#failures += 1;
      // First failure at warn, then one in ten, so an outage does not flood the log.
      const level = this.#failures === 1 || this.#failures % 10 === 0 ? 'warn' : 'debug';
      this.#log(level, { event: 'registry_write_failed', write: label, attempt: this.#failures, err: messageOf(err), willRetry: retry && !this.#stopped }, `registry write "${label}" failed`);
      if (!retry) return 'dropped';
      await this.#backoff();
      return 'retry';
    }
  }

  #backoff(): Promise<void> {
    const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(10, this.#failures - 1));
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#sleep = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.#sleep = { timer, wake };
    });
  }

  #wake(): void {
    this.#sleep?.wake();
  }

  #log(level: Level, obj: object, msg: string): void {
    log(this.#deps.logger, level, obj, msg);
  }

}
