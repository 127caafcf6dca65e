/**
 * Text for a cluster's workers in the registry, for `drainkit registry instances` (and anything
 * else that prints instances): a short summary for the instance's row, and a table of the
 * workers under it. A cluster's instance row is its primary; its workers are `ClusterWorker`
 * rows (see `listClusterWorkers`).
 */
import type { ClusterWorkerRow, ClusterWorkerStatus } from '../registry/cluster-workers.js';
import { formatAge, formatTable } from './format.js';

const ORDER: readonly ClusterWorkerStatus[] = ['ready', 'starting', 'draining', 'exited'];

/**
 * `3 ready, 1 draining` (exited workers left out: they are history); `-` for an instance that is
 * no cluster. When the instance is stopped the workers' last statuses are not current (a primary
 * that vanished could not write them): `stopped` then.
 */
export function workersSummary(workers: readonly ClusterWorkerRow[]): string {
  if (workers.length === 0) return '-';
  if (workers[0]!.instanceStatus === 'stopped') return `stopped (${workers.length} ran)`;
  const counts = new Map<ClusterWorkerStatus, number>();
  for (const w of workers) counts.set(w.status, (counts.get(w.status) ?? 0) + 1);
  const live = ORDER.filter((s) => s !== 'exited' && (counts.get(s) ?? 0) > 0).map((s) => `${counts.get(s)} ${s}`);
  return live.length > 0 ? live.join(', ') : 'none live';
}

/** The workers as an aligned table, oldest first; `includeExited: false` for what runs now. */
export function workersTable(workers: readonly ClusterWorkerRow[], now: Date, options: { readonly includeExited?: boolean } = {}): string {
  const shown = options.includeExited === false ? workers.filter((w) => w.status !== 'exited') : workers;
  return formatTable(
    ['WORKER', 'PID', 'STATUS', 'MODE', 'PHASE', 'INFLIGHT', 'PERSISTENT', 'STARTED', 'EXIT'],
    shown.map((w) => [
      String(w.workerId),
      String(w.pid),
      w.status,
      w.mode,
      w.phase ?? '-',
      String(w.inflight),
      String(w.persistent),
      `${formatAge(now.getTime() - w.startedAt.getTime())} ago`,
      w.status !== 'exited' ? '-' : w.exitSignal ?? (w.exitCode === null ? '?' : `code ${w.exitCode}`),
    ]),
  );
}
