/**
 * The dashboard's two writes. Both are idempotent: a drain asked again for an instance already
 * draining is answered as done (the first request is the one that counts), and reaping twice
 * finds nothing the second time.
 */
import { RegistryError } from '../registry/errors.js';
import { getInstance, listInstances, requestDrain } from '../registry/fleet.js';
import { listDrainRequests } from '../registry/fleet-view.js';
import { reap } from '../registry/reaper.js';
import type { Store } from '../registry/driver.js';
import { labelText } from './browser/render.js';

export type ActionResult =
  | { readonly ok: true; readonly status: 200; readonly message: string; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly status: 400 | 404 | 409; readonly message: string };

export interface DrainAction {
  readonly instanceId: number;
  /** When given, the drain is only for this registration: a successor on the same host:port is not drained by a stale page. */
  readonly generation?: number | undefined;
  readonly reason: string;
  readonly requestedBy: string;
  /** Drain even when no other active instance is left in one of its label groups. */
  readonly force: boolean;
}

/**
 * The label groups (each of its key=value labels; "no labels" for an unlabelled instance) that
 * would have no active instance left if this one drained.
 */
export async function groupsLeftEmpty(store: Store, instanceId: number, labels: Readonly<Record<string, string>>): Promise<string[]> {
  const active = (await listInstances(store, { status: 'active' })).filter((i) => i.id !== instanceId);
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return active.some((i) => Object.keys(i.labels).length === 0) ? [] : ['(no labels)'];
  return pairs.filter(([k, v]) => !active.some((i) => i.labels[k] === v)).map(([k, v]) => `${k}=${v}`);
}

export async function drainAction(store: Store, a: DrainAction): Promise<ActionResult> {
  if (a.reason.trim() === '') return { ok: false, status: 400, message: 'a reason is required to drain an instance (it is recorded with who asked)' };
  if (a.reason.length > 1_000) return { ok: false, status: 400, message: `reason is ${a.reason.length} characters; accepted: at most 1000` };
  const instance = await getInstance(store, a.instanceId);
  if (instance === undefined) return { ok: false, status: 404, message: `no instance ${a.instanceId} in the registry` };
  const name = `${instance.host}:${instance.port}`;
  if (a.generation !== undefined && instance.generation !== a.generation) {
    return { ok: false, status: 409, message: `${name} was restarted since this page was drawn (registration ${instance.generation}, the page had ${a.generation}); nothing was drained: reload and decide again` };
  }
  if (instance.status !== 'active') {
    return { ok: true, status: 200, message: `${name} is already ${instance.status}; nothing more to do`, body: { instanceId: instance.id, status: instance.status, requested: false } };
  }
  // Asked again before the instance read the first request (PGlite: until its next heartbeat):
  // the pending request is the answer, not a second one.
  const pending = (await listDrainRequests(store, { instanceId: instance.id, limit: 20 })).find((r) => r.outcome === null && r.generation === instance.generation);
  if (pending !== undefined) {
    return { ok: true, status: 200, message: `a drain of ${name} is already requested (request ${pending.id}, by ${pending.requestedBy}); nothing more to do`, body: { instanceId: instance.id, requestId: pending.id, requested: false } };
  }
  if (!a.force) {
    const empty = await groupsLeftEmpty(store, instance.id, instance.labels);
    if (empty.length > 0) {
      return { ok: false, status: 409, message: `draining ${name} (${labelText(instance.labels) || 'no labels'}) would leave no active instance in ${empty.join(', ')}; nothing was drained. Force it to drain anyway.` };
    }
  }
  try {
    const r = await requestDrain(store, { instanceId: instance.id }, { requestedBy: a.requestedBy, reason: a.reason.trim() });
    // Another operator's request landed between the read above and this one: it is the answer.
    if (r.alreadyPending) {
      return { ok: true, status: 200, message: `a drain of ${name} is already requested (request ${r.requestId}, by ${r.requestedBy}); nothing more to do`, body: { instanceId: r.instanceId, requestId: r.requestId, requested: false } };
    }
    return { ok: true, status: 200, message: `drain of ${name} requested (request ${r.requestId}, by ${a.requestedBy})`, body: { instanceId: r.instanceId, requestId: r.requestId, generation: r.generation, requested: true } };
  } catch (err) {
    // It started draining between the read above and the request: the wish is fulfilled.
    if (err instanceof RegistryError && err.code === 'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE') {
      return { ok: true, status: 200, message: `${name} is already draining; nothing more to do`, body: { instanceId: instance.id, requested: false } };
    }
    throw err;
  }
}

export async function reapAction(store: Store, ttlMs: number, reapedBy: string): Promise<ActionResult> {
  const lost = await reap(store, { ttlMs, reapedBy });
  const names = lost.map((l) => `${l.host}:${l.port}`);
  return {
    ok: true,
    status: 200,
    message: lost.length === 0 ? `no instance missed its heartbeat for ${ttlMs} ms; nothing reaped` : `marked lost: ${names.join(', ')}`,
    body: { reaped: lost.map((l) => ({ id: l.id, host: l.host, port: l.port, previousStatus: l.previousStatus })) },
  };
}
