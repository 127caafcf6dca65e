/**
 * Public types of `drainkit/cluster`: the options of {@link startCluster}, what a reload and a
 * stop report, and the events of a running cluster.
 */
import type { DrainPhase, DrainResult, Logger } from '../core/types.js';

/** Options of `startCluster`. Validated once; a bad value throws a `DrainkitError` naming it. */
export interface ClusterOptions {
  /** The script every worker runs (a path; resolved against the current directory). */
  readonly script: string;
  /** Arguments passed to the script. Default none. */
  readonly args?: readonly string[];
  /** How many workers serve. Default `os.availableParallelism()`. Range 1 … 256. */
  readonly workers?: number;
  /** The port every worker listens on (given to them as `PORT`). 0 picks a free one. Default 0. */
  readonly port?: number;
  /** The address given to workers as `HOST`. Default `'127.0.0.1'`. */
  readonly host?: string;
  /** How many replacements a reload starts at a time. Default 1. Range 1 … `workers`. */
  readonly maxSurge?: number;
  /**
   * How long a new worker may take to become ready (listening on `PORT`, readiness true) before
   * it is counted as failed: a reload aborts, a crash replacement is retried. Default 30 000 ms.
   */
  readonly readyTimeoutMs?: number;
  /**
   * How long one worker's drain may take after the primary ordered it before the primary forces
   * it (a force order, then SIGKILL {@link KILL_GRACE_MS} later). Default 30 000 ms.
   */
  readonly drainTimeoutMs?: number;
  /**
   * Replacing workers that die on their own: the first restart waits `baseDelayMs`, each further
   * fast crash (a worker that lived less than `fastCrashMs`) doubles it up to `maxDelayMs`, and
   * after `maxFastCrashes` fast crashes in a row the cluster stops replacing and reports a crash
   * loop. Defaults 100 ms, 10 000 ms, 10 000 ms, 5.
   */
  readonly restart?: Partial<RestartPolicy>;
  /** Human-readable progress (pino-shaped). Default: nothing is logged. */
  readonly logger?: Logger;
  /** Extra environment for workers, on top of the primary's own. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Report the cluster to the fleet registry at this `postgres://` URL: the primary is the
   * `ServerInstance` of the cluster's host:port, its workers are rows of `ClusterWorker`, and
   * reloads are events. Needs the `pg` package. Default: no registry.
   */
  readonly databaseUrl?: string;
  /** How the cluster reports to the registry (with `databaseUrl`). */
  readonly registry?: ClusterRegistryOptions;
  /** Aborting it while the workers start stops them and rejects `startCluster` (a signal during start-up). */
  readonly signal?: AbortSignal;
}

/** Registry reporting of a cluster; each default as for an instance reporter. */
export interface ClusterRegistryOptions {
  /** The host part of the cluster's host:port identity. Default `DRAINKIT_INSTANCE_HOST`, else `os.hostname()`. */
  readonly host?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly version?: string;
  /** How often worker states and counts are written when they changed. Default 1000 ms. */
  readonly heartbeatMs?: number;
  /** The instance row's heartbeat is refreshed at least this often. Default 10 000 ms. */
  readonly livenessWriteMs?: number;
  /** Bound of the final writes after every worker stopped. Default 3000 ms. */
  readonly shutdownFlushMs?: number;
}

/** One worker as `Cluster.workers()` describes it. */
export interface WorkerInfo {
  /** `node:cluster`'s worker id: unique for the life of the primary. */
  readonly id: number;
  readonly pid: number;
  readonly state: 'starting' | 'ready' | 'draining' | 'exited';
  readonly mode: WorkerMode;
  /** The worker's current drain phase while it drains (drainkit mode). */
  readonly phase: DrainPhase | undefined;
  /** As last reported by the worker (drainkit mode; 0 in the weaker mode). */
  readonly inflight: number;
  readonly persistent: number;
}

export interface RestartPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly fastCrashMs: number;
  readonly maxFastCrashes: number;
}

/** How long after a force order (or a disconnect that did not end in time) SIGKILL follows. */
export const KILL_GRACE_MS = 5_000;

/**
 * How a worker tells the primary it is ready and drains:
 * - `drainkit`: the worker created a drainer; readiness, drain orders and the drain report go
 *   over IPC, and the drain is drainkit's sequence.
 * - `disconnect`: a worker without drainkit (the weaker mode): ready on `'listening'`, drained
 *   with `worker.disconnect()` (Node closes its servers and waits for their connections to end).
 */
export type WorkerMode = 'drainkit' | 'disconnect';

/** How one worker's drain ended, as the primary saw it. */
export interface WorkerDrain {
  readonly pid: number;
  readonly mode: WorkerMode;
  /** True when the drain completed on its own; false when it was forced or the worker was killed. */
  readonly success: boolean;
  /** What forced it: the worker's own drain timeout, the primary's bound, a second signal, or none. */
  readonly forcedBy?: 'worker-timeout' | 'primary-timeout' | 'force';
  readonly durationMs: number;
  readonly exit: { readonly code: number | null; readonly signal: string | null };
  /** The worker's drain report (drainkit mode, when it got to send it). */
  readonly result?: DrainResult;
}

/** One old worker replaced by a reload. */
export interface Replacement {
  readonly oldPid: number;
  readonly newPid: number;
  readonly drain: WorkerDrain;
}

/** What a reload did. */
export interface ReloadResult {
  /** True when every worker that served at the start was replaced. */
  readonly ok: boolean;
  /** Why it was aborted (with `ok: false`): the replacement that failed and how. */
  readonly reason?: string;
  /** What asked for it: `'SIGHUP'`, `'api'` or the caller's reason. */
  readonly trigger: string;
  readonly durationMs: number;
  readonly replaced: readonly Replacement[];
  /** Replacements started that never became ready (killed if they never listened, else drained). */
  readonly failedPids: readonly number[];
}

/** What stopping the cluster did. */
export interface StopResult {
  /** True when every worker's drain completed; false when any was forced (exit code 70). */
  readonly ok: boolean;
  readonly reason: string;
  readonly durationMs: number;
  readonly workers: readonly WorkerDrain[];
}

/** Events of a running cluster. */
export interface ClusterEvents {
  /** All workers are ready for the first time. */
  listening: [info: { readonly host: string; readonly port: number; readonly pid: number; readonly workers: readonly number[] }];
  /** The stop began: every worker is being drained. */
  stopping: [info: { readonly reason: string; readonly workers: readonly number[] }];
  /** A worker process exited, for whatever reason (`role`: what the supervisor had it for). */
  workerExit: [info: { readonly id: number; readonly pid: number; readonly mode: WorkerMode; readonly code: number | null; readonly signal: string | null; readonly role: 'serving' | 'surge' | 'retiring' | undefined }];
  /** A worker became ready. */
  workerReady: [info: { readonly pid: number; readonly mode: WorkerMode }];
  /** A worker died on its own (not drained by the primary) and a replacement is scheduled. */
  workerRestart: [info: { readonly pid: number; readonly code: number | null; readonly signal: string | null; readonly delayMs: number; readonly fastCrashes: number }];
  /** A replacement for a dead worker became ready. */
  workerReplaced: [info: { readonly oldPid: number; readonly newPid: number }];
  /** Workers crashed `maxFastCrashes` times in a row: no more replacements. */
  crashLoop: [info: { readonly fastCrashes: number; readonly lastPid: number; readonly code: number | null; readonly signal: string | null; readonly workersLeft: number }];
  reloadStart: [info: { readonly trigger: string; readonly workers: readonly number[] }];
  /** After each reload, and for each reload request refused (during a stop, before start-up ended). */
  reloadComplete: [result: ReloadResult];
  /** Every worker drained and exited. */
  stopped: [result: StopResult];
}
