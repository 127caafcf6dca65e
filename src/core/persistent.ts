/**
 * The persistent-connection set: WebSockets, SSE streams and parked long-polls, counted apart
 * from in-flight requests and shut down on their own path. The core only decides *when* each
 * connection is asked to go away (spread over a span so the survivors are not stormed); what
 * "go away" means belongs to the integration that registered it.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type { PersistentConnection, PersistentRelease, PersistentSet, PersistentTally } from './types.js';

export interface PersistentHost {
  /**
   * Stop counting the response as in flight. `'connection-closed'`: the response belongs to a
   * connection already closed for writing, so it is not counted as persistent either.
   */
  adopt(res: http.ServerResponse | http2.Http2ServerResponse): 'adopted' | 'untracked' | 'connection-closed';
  /** A persistent connection went away while draining. */
  onRelease(): void;
  /** The shutdown began (the flag is already set). */
  onShutdownBegin(): void;
  readonly draining: boolean;
}

export class Persistent implements PersistentSet {
  readonly #open = new Set<PersistentConnection>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #host: PersistentHost;
  #shuttingDown = false;
  #spreadMs = 0;
  #random: () => number = Math.random;
  /** How connections ended during the drain, by kind. */
  readonly #tally = new Map<string, { clean: number; terminated: number }>();

  constructor(host: PersistentHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#open.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(connection: PersistentConnection): PersistentRelease {
    this.#open.add(connection);
    if (this.#shuttingDown) this.#schedule(connection);
    let released = false;
    return (outcome = 'clean') => {
      if (released) return;
      released = true;
      // Not open any more: terminateAll() already counted it.
      if (!this.#open.delete(connection) || !this.#host.draining) return;
      this.#count(connection.kind, outcome);
      this.#host.onRelease();
    };
  }

  adopt(res: http.ServerResponse | http2.Http2ServerResponse, connection: PersistentConnection): PersistentRelease {
    // A request read after our half-close (the client reconnecting on the socket it was just
    // told to leave) can never be answered: counting it would hold the drain for nothing, and
    // telling it to go away would write to a closed connection. It ends with its socket.
    if (this.#host.adopt(res) === 'connection-closed') return () => undefined;
    const release = this.add(connection);
    // An explicit release (with its outcome) wins; the response's close is the backstop.
    res.once('close', () => release());
    return release;
  }

  /** How persistent connections ended during the drain, by kind. */
  tally(): Record<string, PersistentTally> {
    return Object.fromEntries([...this.#tally].map(([kind, t]) => [kind, { ...t }]));
  }

  /** Ask every open connection (and every later one) to go away, spread over `spreadMs`. */
  beginShutdown(spreadMs: number, random: () => number = Math.random): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#spreadMs = spreadMs;
    this.#random = random;
    this.#host.onShutdownBegin();
    for (const connection of this.#open) this.#schedule(connection);
  }

  /** Terminate what is still open; returns how many were open. */
  terminateAll(): number {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const open = [...this.#open];
    this.#open.clear();
    for (const connection of open) {
      this.#count(connection.kind, 'terminated');
      safely(() => connection.terminate());
    }
    return open.length;
  }

  #count(kind: string, outcome: 'clean' | 'terminated'): void {
    let t = this.#tally.get(kind);
    if (!t) this.#tally.set(kind, (t = { clean: 0, terminated: 0 }));
    t[outcome] += 1;
  }

  #schedule(connection: PersistentConnection): void {
    const delay = Math.floor(this.#random() * this.#spreadMs);
    if (delay <= 0) {
      safely(() => connection.goAway());
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#open.has(connection)) safely(() => connection.goAway());
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }
}

/** An integration's goAway/terminate must never break the drain. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The connection is terminated at the timeout anyway.
  }
}
