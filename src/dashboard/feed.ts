/**
 * One subscription to the registry for every open tab. It re-reads the fleet when the registry
 * announces a change (LISTEN on Postgres) or on a poll (PGlite, which cannot LISTEN: at most once
 * a second), diffs it against what it holds, and hands each change, numbered, to every tab.
 * The last changes are kept so that a tab reconnecting with `Last-Event-ID` gets exactly what it
 * missed; one that missed more than that (or whose id is from an earlier run) gets a snapshot.
 */
import { randomBytes } from 'node:crypto';
import { listInstances, type Instance } from '../registry/fleet.js';
import { lastEventId, listCurrentClusterWorkers, listEventsAfter, listLostInstanceIds, type LiveClusterWorker } from '../registry/fleet-view.js';
import { FLEET_CHANGE_CHANNEL } from '../registry/schema.js';
import type { Store, Subscription } from '../registry/driver.js';
import type { ChangeMessage, EventView, InstanceView, SnapshotMessage, WorkerView } from './browser/protocol.js';

export interface FeedOptions {
  /** Poll interval when the registry cannot LISTEN. Default 1000; at least 1000. */
  readonly pollMs?: number;
  /** Poll interval as a safety net when it can (a notification lost while reconnecting). Default 5000. */
  readonly listeningPollMs?: number;
  /** Changes kept for reconnecting tabs. Default 1000. */
  readonly keep?: number;
}

export interface NumberedChange {
  /** `<run>.<sequence>`: the `id:` of the SSE message. */
  readonly id: string;
  readonly change: ChangeMessage;
}

export type FeedListener = (change: NumberedChange) => void;

/** Coalesces a burst of notifications (one per statement) into one re-read. */
const NOTIFY_COALESCE_MS = 25;

export class FleetFeed {
  readonly #store: Store;
  readonly #pollMs: number;
  readonly #listeningPollMs: number;
  readonly #keep: number;
  /** Changes a reconnecting tab cannot have seen come from another run of the dashboard. */
  readonly #run = randomBytes(4).toString('hex');
  #seq = 0;
  #instances = new Map<number, { view: InstanceView; json: string }>();
  #lastEventId = 0;
  readonly #history: NumberedChange[] = [];
  readonly #listeners = new Set<FeedListener>();
  #subscription: Subscription | undefined;
  #listening = false;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #closed = false;
  /** The last read's failure, null when it succeeded: tabs show it. */
  #error: string | null = null;

  constructor(store: Store, options: FeedOptions = {}) {
    this.#store = store;
    this.#pollMs = Math.max(1_000, options.pollMs ?? 1_000);
    this.#listeningPollMs = options.listeningPollMs ?? 5_000;
    this.#keep = options.keep ?? 1_000;
  }

  /** Reads the fleet once (so the first page has it), then follows the registry. */
  async start(): Promise<void> {
    this.#lastEventId = await lastEventId(this.#store);
    await this.#read();
    if (this.#store.listen !== undefined) {
      this.#subscription = this.#store.listen(FLEET_CHANGE_CHANNEL, {
        onNotify: () => this.#soon(NOTIFY_COALESCE_MS),
        onListening: () => {
          this.#listening = true;
          this.#soon(0); // what changed while the subscription was down
        },
        onUnsupported: () => {
          this.#listening = false;
        },
      });
    }
    this.#soon(this.#pollMs);
  }

  get registryError(): string | null {
    return this.#error;
  }

  /** The whole fleet now, and the id a tab resumes from. */
  snapshot(): { id: string; snapshot: SnapshotMessage } {
    return { id: this.#idOf(this.#seq), snapshot: { now: new Date().toISOString(), instances: this.instances() } };
  }

  instances(): InstanceView[] {
    return [...this.#instances.values()].map((e) => e.view).sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port);
  }

  /** The changes after `lastId`, or undefined when they are not all kept (a snapshot is due). */
  since(lastId: string): NumberedChange[] | undefined {
    const [run, seqText] = lastId.split('.');
    const seq = Number(seqText);
    if (run !== this.#run || !Number.isInteger(seq) || seq < 0 || seq > this.#seq) return undefined;
    if (seq === this.#seq) return [];
    const first = this.#history[0];
    if (first === undefined || this.#seqOf(first.id) > seq + 1) return undefined;
    return this.#history.filter((c) => this.#seqOf(c.id) > seq);
  }

  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads now (after an action, so its tab sees the result without waiting for a poll). */
  refresh(): Promise<void> {
    if (this.#refreshing !== undefined) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = this.#read().finally(() => {
      this.#refreshing = undefined;
      if (this.#again && !this.#closed) {
        this.#again = false;
        void this.refresh();
      }
    });
    return this.#refreshing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    await this.#subscription?.close();
    await this.#refreshing;
  }

  #soon(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.refresh().then(() => this.#soon(this.#listening ? this.#listeningPollMs : this.#pollMs));
    }, ms);
  }

  async #read(): Promise<void> {
    let rows: Instance[];
    let lost: Set<number>;
    let events: EventView[];
    const workers = new Map<number, WorkerView[]>();
    try {
      let workerRows: LiveClusterWorker[];
      [rows, lost, workerRows] = await Promise.all([listInstances(this.#store), listLostInstanceIds(this.#store), listCurrentClusterWorkers(this.#store)]);
      for (const w of workerRows) workers.set(w.instanceId, [...(workers.get(w.instanceId) ?? []), workerView(w)]);
      events = (await listEventsAfter(this.#store, this.#lastEventId, 1_000)).map((e) => ({
        id: e.id, instanceId: e.instanceId, generation: e.generation, type: e.eventType, at: e.timestamp.toISOString(), details: e.details,
      }));
      this.#error = null;
    } catch (err) {
      // Kept, not thrown: the tabs keep the last fleet and show since when it is stale.
      this.#error = err instanceof Error ? err.message : String(err);
      return;
    }
    const changed: InstanceView[] = [];
    const seen = new Set<number>();
    for (const row of rows) {
      const view = toView(row, lost.has(row.id), workers.get(row.id));
      const json = JSON.stringify(view);
      seen.add(view.id);
      if (this.#instances.get(view.id)?.json !== json) {
        this.#instances.set(view.id, { view, json });
        changed.push(view);
      }
    }
    const removed = [...this.#instances.keys()].filter((id) => !seen.has(id));
    for (const id of removed) this.#instances.delete(id);
    const last = events[events.length - 1];
    if (last !== undefined) this.#lastEventId = last.id;
    if (changed.length === 0 && removed.length === 0 && events.length === 0) return;
    this.#seq += 1;
    const numbered = { id: this.#idOf(this.#seq), change: { now: new Date().toISOString(), instances: changed, removed, events } };
    this.#history.push(numbered);
    if (this.#history.length > this.#keep) this.#history.shift();
    for (const listener of this.#listeners) listener(numbered);
  }

  #idOf(seq: number): string {
    return `${this.#run}.${seq}`;
  }

  #seqOf(id: string): number {
    return Number(id.split('.')[1]);
  }
}

function workerView(w: LiveClusterWorker): WorkerView {
  return { workerId: w.workerId, pid: w.pid, status: w.status, mode: w.mode, phase: w.phase, inflight: w.inflight, persistent: w.persistent, updatedAt: w.updatedAt.toISOString() };
}

export function toView(i: Instance, lost: boolean, workers: readonly WorkerView[] = []): InstanceView {
  return {
    id: i.id,
    host: i.host,
    port: i.port,
    status: lost ? 'lost' : i.status,
    phase: i.phase,
    inflight: i.inflightCount,
    persistent: i.persistentCount,
    pid: i.pid,
    version: i.version,
    labels: i.labels,
    generation: i.generation,
    drainStartedAt: i.drainStartedAt?.toISOString() ?? null,
    drainedAt: i.drainedAt?.toISOString() ?? null,
    drainBudgetMs: i.drainBudgetMs,
    lastHeartbeatAt: i.lastHeartbeatAt.toISOString(),
    workers,
  };
}
