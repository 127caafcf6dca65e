/**
 * The dashboard's two writes. Both are idempotent: a drain asked again for an instance already
 * draining is answered as done (the first request is the one that counts), and reaping twice
 * finds nothing the second time.
 */
import { getInstance, requestDrainKeepingGroups } from '../registry/fleet.js';
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

export async function drainAction(store: Store, a: DrainAction): Promise<ActionResult> {
  if (a.reason.trim() === '') return { ok: false, status: 400, message: 'a reason is required to drain an instance (it is recorded with who asked)' };
  if (a.reason.length > 1_000) return { ok: false, status: 400, message: `reason is ${a.reason.length} characters; accepted: at most 1000` };
  const instance = await getInstance(store, a.instanceId);
  if (instance === undefined) return { ok: false, status: 404, message: `no instance ${a.instanceId} in the registry` };
  const name = `${instance.host}:${instance.port}`;
  // The check (label groups, pending requests, status) and the insert are one locked
  // transaction: two drains of a group's last two instances, however close, see each other.
  const r = await requestDrainKeepingGroups(store, { instanceId: instance.id, generation: a.generation }, { requestedBy: a.requestedBy, reason: a.reason.trim(), force: a.force });
  switch (r.kind) {
    case 'requested':
      return { ok: true, status: 200, message: `drain of ${name} requested (request ${r.requestId}, by ${a.requestedBy})`, body: { instanceId: instance.id, requestId: r.requestId, generation: r.generation, requested: true } };
    case 'not-found':
      return { ok: false, status: 404, message: `no instance ${a.instanceId} in the registry` };
    case 'restarted':
      return { ok: false, status: 409, message: `${name} was restarted since this page was drawn (registration ${r.generation}, the page had ${a.generation ?? '?'}); nothing was drained: reload and decide again` };
    case 'not-active':
      return { ok: true, status: 200, message: `${name} is already ${r.status}; nothing more to do`, body: { instanceId: instance.id, status: r.status, requested: false } };
    case 'already-pending':
      // Asked again before the instance read the first request (PGlite: until its next
      // heartbeat): the pending request is the answer, not a second one.
      return { ok: true, status: 200, message: `a drain of ${name} is already requested (request ${r.requestId}, by ${r.requestedBy}); nothing more to do`, body: { instanceId: instance.id, requestId: r.requestId, requested: false } };
    case 'groups-left-empty':
      return { ok: false, status: 409, message: `draining ${name} (${labelText(instance.labels) || 'no labels'}) would leave no available instance in ${r.groups.join(', ')} (an instance draining or with a drain requested does not count); nothing was drained. Force it to drain anyway.` };
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
