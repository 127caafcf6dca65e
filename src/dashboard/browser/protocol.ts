/**
 * What the dashboard server sends its pages, as JSON: dates are ISO strings, so the same types
 * describe the server's rendering and the browser's.
 */

/** An instance as the dashboard shows it. `lost`: stopped by the reaper, not by a drain. */
export type InstanceStatus = 'active' | 'draining' | 'stopped' | 'lost';

export interface InstanceView {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly status: InstanceStatus;
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  readonly pid: number | null;
  readonly version: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly generation: number;
  readonly drainStartedAt: string | null;
  readonly drainedAt: string | null;
  /** The current drain's budget in ms (window maximum + drain timeout), as the instance wrote it at drain start; null if it did not. */
  readonly drainBudgetMs: number | null;
  readonly lastHeartbeatAt: string;
  /**
   * A `drainkit cluster`'s workers (one registry instance, the primary, holds the row): running
   * ones and those that exited in the last seconds. Empty for a single process.
   */
  readonly workers: readonly WorkerView[];
}

/** One worker of a cluster instance. */
export interface WorkerView {
  readonly workerId: number;
  readonly pid: number;
  readonly status: 'starting' | 'ready' | 'draining' | 'exited';
  /** `drainkit`: the worker reports phases and counts; `disconnect`: Node's own drain, no phases. */
  readonly mode: 'drainkit' | 'disconnect';
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  readonly updatedAt: string;
}

export interface EventView {
  readonly id: number;
  readonly instanceId: number | null;
  readonly generation: number | null;
  readonly type: string;
  readonly at: string;
  readonly details: Record<string, unknown> | null;
}

/** The first message a tab gets, and again whenever it could not be brought up to date. */
export interface SnapshotMessage {
  /** The server's clock, so ages are computed against it and not the browser's. */
  readonly now: string;
  readonly instances: readonly InstanceView[];
}

/** What changed since the previous message. */
export interface ChangeMessage {
  readonly now: string;
  /** Instances new or changed, whole. */
  readonly instances: readonly InstanceView[];
  /** Ids of instances no longer in the registry (pruned). */
  readonly removed: readonly number[];
  readonly events: readonly EventView[];
}

/** Settings the page needs, read from data-* attributes of `<body>`. */
export interface PageSettings {
  readonly readOnly: boolean;
  /** A heartbeat older than this is flagged stale. */
  readonly staleAfterMs: number;
}
