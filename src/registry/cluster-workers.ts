/**
 * The read side of cluster workers: the workers a `drainkit cluster` primary reported for its
 * host:port instance. The primary holds the `ServerInstance` row (status, phase, summed
 * in-flight and persistent counts); its workers are listed here.
 */
import type { Store } from './driver.js';
import { RegistryError, describe } from './errors.js';
import { LIST_WORKERS } from './cluster-statements.js';

export type ClusterWorkerStatus = 'starting' | 'ready' | 'draining' | 'exited';

/** One worker of a cluster, as its primary last wrote it. */
export interface ClusterWorkerRow {
  readonly instanceId: number;
  readonly generation: number;
  /** `node:cluster`'s worker id: unique within one primary (one generation). */
  readonly workerId: number;
  readonly pid: number;
  /**
   * As the primary last wrote it. A worker of an instance that is `stopped` without having
   * drained (reaped: its primary vanished) may still say `ready`: `instanceStatus` tells.
   */
  readonly status: ClusterWorkerStatus;
  readonly mode: 'drainkit' | 'disconnect';
  readonly phase: string | null;
  readonly inflight: number;
  readonly persistent: number;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  readonly exitedAt: Date | null;
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  /** The status of the cluster's instance row. */
  readonly instanceStatus: 'active' | 'draining' | 'stopped';
}

interface Row {
  instance_id: number;
  generation: number;
  worker_id: number;
  pid: number;
  status: ClusterWorkerStatus;
  mode: 'drainkit' | 'disconnect';
  phase: string | null;
  inflight_count: number;
  persistent_count: number;
  started_at: Date | string;
  updated_at: Date | string;
  exited_at: Date | string | null;
  exit_code: number | null;
  exit_signal: string | null;
  instance_status: 'active' | 'draining' | 'stopped';
}

/**
 * The workers of one cluster instance, oldest first: of its current registration unless
 * `generation` names an earlier one (a previous primary on the same host:port). Exited
 * workers are included (status `exited`, with their exit code or signal).
 */
export async function listClusterWorkers(store: Store, filter: { readonly instanceId: number; readonly generation?: number }): Promise<ClusterWorkerRow[]> {
  if (!Number.isInteger(filter?.instanceId)) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: listClusterWorkers instanceId got ${describe(filter?.instanceId)}; accepted: an instance id (integer)`);
  }
  if (filter.generation !== undefined && !Number.isInteger(filter.generation)) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: listClusterWorkers generation got ${describe(filter.generation)}; accepted: an integer, or none for the current one`);
  }
  const rows = await store.query<Row>(LIST_WORKERS, [filter.instanceId, filter.generation ?? null]);
  return rows.map((r) => ({
    instanceId: r.instance_id,
    generation: r.generation,
    workerId: r.worker_id,
    pid: r.pid,
    status: r.status,
    mode: r.mode,
    phase: r.phase,
    inflight: r.inflight_count,
    persistent: r.persistent_count,
    startedAt: new Date(r.started_at),
    updatedAt: new Date(r.updated_at),
    exitedAt: r.exited_at === null ? null : new Date(r.exited_at),
    exitCode: r.exit_code,
    exitSignal: r.exit_signal,
    instanceStatus: r.instance_status,
  }));
}
