/**
 * The registration both reporters write: the instance reporter for one server, the cluster
 * reporter for a cluster's primary. One row per host:port; a new process on it takes the next
 * generation, and a copy of this very attempt that landed with its answer lost is recognised by
 * `since` (one timestamp for every attempt of one registration), not counted as a new one.
 */
import type { Store } from './driver.js';
import { RegistryError } from './errors.js';
import * as sql from './statements.js';
import type { Registration } from './writer.js';

export interface RegistrationRow {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly version: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly inflight: number;
  readonly persistent: number;
  /** The `registered` event's details. */
  readonly details: object;
  /** When this registration was first attempted; the same for every retry of it. */
  readonly since: Date;
  /** The reporter's `livenessWriteMs`: the reaper takes the row for lost only after twice this. */
  readonly livenessWriteMs: number;
}

export async function registerRow(store: Store, r: RegistrationRow, timeoutMs: number): Promise<Registration> {
  const rows = await store.query<{ id: number; generation: number }>(
    sql.REGISTER,
    [r.host, r.port, r.pid, r.version, JSON.stringify(r.labels), r.inflight, r.persistent, JSON.stringify(r.details), r.since, r.livenessWriteMs],
    { timeoutMs },
  );
  const row = rows[0];
  if (typeof row?.id !== 'number' || typeof row.generation !== 'number') throw new RegistryError('ERR_DRAINKIT_REGISTRY_NOT_FOUND', 'drainkit registry: registration returned no id');
  return { id: row.id, generation: row.generation };
}
