/**
 * One worker process as the primary sees it: forked through `node:cluster`, ready when it says
 * so over IPC (drainkit) or when it listens on the cluster's port (the weaker mode), drained on
 * order, forced and killed only past the primary's bounds.
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { PROTOCOL, SUPERVISOR_ENV, isWorkerMessage, type PrimaryMessage } from '../core/supervised.js';
import type { DrainPhase, DrainResult } from '../core/types.js';
import { KILL_GRACE_MS, type WorkerDrain, type WorkerMode } from './types.js';

/** `starting → ready → draining → exited`; `starting → draining` and any state `→ exited` too. */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly livedMs: number;
}

export type ReadyOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

interface ManagedWorkerEvents {
  ready: [];
  /** The worker started draining without an order (a SIGTERM sent to it directly, or the app itself). */
  selfDrain: [reason: string];
  exit: [exit: WorkerExit];
}

const now = (): number => performance.now();

export class ManagedWorker extends EventEmitter<ManagedWorkerEvents> {
  readonly worker: Worker;
  readonly pid: number;
  readonly startedAt = now();
  readonly exited: Promise<WorkerExit>;
  #state: WorkerState = 'starting';
  #mode: WorkerMode = 'disconnect';
  #listening = false;
  #phase: DrainPhase | undefined;
  #inflight = 0;
  #persistent = 0;
  #result: DrainResult | undefined;
  #drain: Promise<WorkerDrain> | undefined;
  #forcedBy: WorkerDrain['forcedBy'];
  #killedByUs = false;
  /** Killed before it listened: it had nothing to drain, so its end is no forced drain. */
  #neverServed = false;
  #exit: WorkerExit | undefined;
  readonly #port: number;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: { readonly port: number; readonly host: string; readonly env: Readonly<Record<string, string>>; readonly output: NodeJS.WritableStream }) {
    super();
    this.#port = options.port;
    this.worker = cluster.fork({ ...options.env, PORT: String(options.port), HOST: options.host, [SUPERVISOR_ENV]: PROTOCOL });
    this.pid = this.worker.process.pid ?? -1;
    // Whole lines, so the output of several workers never interleaves mid-line.
    const stdout = this.worker.process.stdout;
    if (stdout) createInterface({ input: stdout }).on('line', (line) => options.output.write(`${line}\n`));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code: number | null, signal: string | null) => {
        this.#clearTimers();
        this.#state = 'exited';
        this.#exit = { code, signal, livedMs: now() - this.startedAt };
        this.emit('exit', this.#exit);
        resolve(this.#exit);
      });
    });
    // IPC errors (a send racing the worker's exit) are not the primary's failure.
    this.worker.on('error', () => undefined);
    this.worker.on('listening', (address: { port: number }) => {
      if (address.port !== this.#port) return;
      this.#listening = true;
      // The weaker mode: no drainer said hello, so listening on the port is all there is.
      if (this.#mode === 'disconnect') this.#becomeReady();
    });
    this.worker.on('message', (message: unknown) => this.#onMessage(message));
  }

  get state(): WorkerState {
    return this.#state;
  }

  get mode(): WorkerMode {
    return this.#mode;
  }

  get phase(): DrainPhase | undefined {
    return this.#phase;
  }

  /** `node:cluster`'s id of this worker: unique for the life of the primary, unlike a pid. */
  get id(): number {
    return this.worker.id;
  }

  /** In-flight requests as the worker last reported them (drainkit mode; 0 in the weaker mode, which reports nothing). */
  get inflight(): number {
    return this.#state === 'exited' ? 0 : this.#inflight;
  }

  /** Persistent connections (WebSocket, SSE, long-poll) as the worker last reported them. */
  get persistent(): number {
    return this.#state === 'exited' ? 0 : this.#persistent;
  }

  get exit(): WorkerExit | undefined {
    return this.#exit;
  }

  #onMessage(message: unknown): void {
    if (!isWorkerMessage(message)) return;
    switch (message.type) {
      case 'hello':
        this.#mode = 'drainkit';
        break;
      case 'ready':
        this.#becomeReady();
        break;
      case 'state':
        if (message.state === 'draining' && this.#drain === undefined && this.#state !== 'exited') {
          this.#state = 'draining';
          this.emit('selfDrain', message.reason);
        }
        break;
      case 'phase':
        this.#phase = message.phase;
        break;
      case 'load':
        this.#inflight = message.inflight;
        this.#persistent = message.persistent;
        break;
      case 'drained':
        this.#result = message.result;
        break;
    }
  }

  #becomeReady(): void {
    if (this.#state !== 'starting') return;
    this.#state = 'ready';
    this.emit('ready');
  }

  /** Resolves once the worker is ready, or with why not: it exited, or `timeoutMs` passed. */
  whenReady(timeoutMs: number): Promise<ReadyOutcome> {
    if (this.#state === 'ready') return Promise.resolve({ ok: true });
    if (this.#state !== 'starting') return Promise.resolve({ ok: false, reason: `worker ${this.pid} is ${this.#state}` });
    return new Promise((resolve) => {
      const done = (outcome: ReadyOutcome): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
        this.off('selfDrain', onDrain);
        resolve(outcome);
      };
      const onReady = (): void => done({ ok: true });
      const onExit = (exit: WorkerExit): void => done({ ok: false, reason: `worker ${this.pid} exited before it was ready (${describeExit(exit)})` });
      const onDrain = (): void => done({ ok: false, reason: `worker ${this.pid} started draining before it was ready` });
      const timer = setTimeout(() => {
        const listening = this.#listening ? `listening on port ${this.#port} but its drainer never reported ready` : `not listening on port ${this.#port}`;
        done({ ok: false, reason: `worker ${this.pid} was not ready within ${timeoutMs} ms (${listening})` });
      }, timeoutMs);
      timer.unref();
      this.on('ready', onReady);
      this.once('exit', onExit);
      this.once('selfDrain', onDrain);
    });
  }

  /**
   * Takes the worker out of rotation and drains it; the same promise on every call. A worker
   * that never listened on the port has served nothing and is killed at once.
   */
  drain(reason: string, timeoutMs: number): Promise<WorkerDrain> {
    this.#drain ??= this.#runDrain(reason, timeoutMs);
    return this.#drain;
  }

  async #runDrain(reason: string, timeoutMs: number): Promise<WorkerDrain> {
    const t0 = now();
    if (this.#state === 'exited') return this.#record(t0);
    const selfDraining = this.#state === 'draining';
    this.#state = 'draining';
    if (!this.#listening) {
      this.#neverServed = true;
      this.kill();
    } else if (this.#mode === 'drainkit') {
      if (!selfDraining) this.#send({ protocol: PROTOCOL, type: 'drain', reason });
      this.#after(timeoutMs, () => this.force('primary-timeout'));
    } else {
      // Node's semantics: routing stops at once, the worker closes its servers and leaves once
      // their connections ended; nothing tells keep-alive, WebSocket or SSE clients to go.
      if (this.worker.isConnected()) this.worker.disconnect();
      this.#after(timeoutMs, () => this.force('primary-timeout'));
    }
    await this.exited;
    return this.#record(t0);
  }

  /** Skips what is left of the drain: a force order, SIGKILL {@link KILL_GRACE_MS} later (at once in the weaker mode). */
  force(by: 'primary-timeout' | 'force' = 'force'): void {
    if (this.#state === 'exited') return;
    this.#forcedBy ??= by;
    if (this.#mode === 'drainkit' && this.worker.isConnected()) {
      this.#send({ protocol: PROTOCOL, type: 'force', reason: by });
      this.#after(KILL_GRACE_MS, () => this.kill());
    } else {
      this.kill();
    }
  }

  /** SIGKILL: for workers that never served, and past every bound. */
  kill(): void {
    if (this.#state === 'exited') return;
    this.#killedByUs = true;
    this.worker.process.kill('SIGKILL');
  }

  #record(t0: number): WorkerDrain {
    const exit = this.#exit!;
    const result = this.#result;
    const forcedBy: WorkerDrain['forcedBy'] = this.#forcedBy
      ?? (result && !result.success ? (result.forcedBy === 'force' ? 'force' : 'worker-timeout') : undefined);
    const cleanExit = this.#neverServed || (exit.code === 0 && !this.#killedByUs);
    const success = forcedBy === undefined && (result ? result.success : cleanExit);
    return {
      pid: this.pid,
      mode: this.#mode,
      success,
      ...(forcedBy !== undefined && { forcedBy }),
      durationMs: now() - t0,
      exit: { code: exit.code, signal: exit.signal },
      ...(result !== undefined && { result }),
    };
  }

  #send(message: PrimaryMessage): void {
    if (!this.worker.isConnected()) return;
    try {
      this.worker.send(message);
    } catch {
      // The worker is exiting; its exit is awaited anyway.
    }
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

export function describeExit(exit: { readonly code: number | null; readonly signal: string | null }): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
}
