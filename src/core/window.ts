/**
 * The deregistration window as pure decisions over injected time, so the policy can be tested
 * without waiting: the engine feeds it events (probe answered 503, balancer state seen, request
 * arrived, connection opened or closed) and asks when the window ends.
 */
import type { ResolvedDeregisterOptions, WindowEnd } from './types.js';

export interface WindowState {
  readonly startedAt: number;
  /** When the last request that was not a health probe arrived (or the window start). */
  lastActivityAt: number;
  /** How many readiness probes were answered 503 during this drain. */
  failedProbes: number;
  /** When and how the balancer confirmed it stopped routing here. */
  confirmedAt: number | undefined;
  confirmedBy: 'balancer-state' | 'probe-threshold' | undefined;
  /**
   * Connections accepted during the window that have not been seen to be a health probe and are
   * still open, each with when it was accepted. Until its first request shows what it is, a new
   * connection may be traffic the balancer dispatched just before it stopped routing here; one
   * that closes, or turns out to carry a probe, was not.
   */
  readonly openedConnections: Map<object, number>;
}

export function openWindow(now: number): WindowState {
  return { startedAt: now, lastActivityAt: now, failedProbes: 0, confirmedAt: undefined, confirmedBy: undefined, openedConnections: new Map() };
}

/** The latest sign of traffic: the last request, or the newest connection still unexplained. */
function lastTrafficAt(s: WindowState): number {
  let last = s.lastActivityAt;
  for (const at of s.openedConnections.values()) if (at > last) last = at;
  return last;
}

/** Either the window is over (and why), or the earliest time it could be over. */
export type WindowDecision = { readonly done: true; readonly endedBy: WindowEnd } | { readonly done: false; readonly recheckAt: number };

export function decideWindow(opts: ResolvedDeregisterOptions, s: WindowState, now: number): WindowDecision {
  if (opts.mode === 'fixed') {
    const end = s.startedAt + opts.delayMs;
    return now >= end ? { done: true, endedBy: opts.delayMs === 0 ? 'skipped' : 'fixed' } : { done: false, recheckAt: end };
  }
  const max = s.startedAt + opts.maxMs;
  const min = s.startedAt + opts.minMs;
  const lastTraffic = lastTrafficAt(s);
  if (s.confirmedAt !== undefined && s.confirmedBy !== undefined) {
    // The quiet period runs from whichever came last, the confirmation or the last request:
    // a request dispatched just before the balancer flipped may still be on the wire.
    const end = Math.max(min, Math.max(s.confirmedAt, lastTraffic) + opts.quietMs);
    if (now >= end && end <= max) return { done: true, endedBy: s.confirmedBy };
    if (end < max) return { done: false, recheckAt: end };
  } else if (opts.confirm === 'traffic') {
    // No confirmation to read: the traffic is the confirmation. Before minMs (the balancer's
    // slowest reaction) a quiet spell proves nothing; after it, quietMs without a new request or
    // connection means the balancer has stopped sending.
    const end = Math.max(min, lastTraffic + opts.quietMs);
    if (now >= end && end <= max) return { done: true, endedBy: opts.maxMs === 0 ? 'skipped' : 'traffic-quiet' };
    if (end < max) return { done: false, recheckAt: end };
  }
  if (now >= max) return { done: true, endedBy: opts.maxMs === 0 ? 'skipped' : 'max' };
  return { done: false, recheckAt: max };
}

/** Records a readiness probe answered 503; returns true if it confirmed the window. */
export function recordFailedProbe(opts: ResolvedDeregisterOptions, s: WindowState, now: number): boolean {
  s.failedProbes += 1;
  if (opts.mode !== 'adaptive' || opts.probeFailureThreshold === undefined || s.confirmedAt !== undefined) return false;
  if (s.failedProbes < opts.probeFailureThreshold) return false;
  s.confirmedAt = now;
  s.confirmedBy = 'probe-threshold';
  return true;
}

/**
 * HAProxy's `http-check send-state` header, e.g. `X-Haproxy-Server-State: DOWN 1/2; name=be/s1; ...`.
 * Its first word is the server's state as HAProxy saw it *before* this check: anything but UP
 * (DOWN, NOLB, MAINT, DRAIN, with or without a transition counter) means no new traffic is routed here.
 * Returns undefined when the header is absent or unreadable.
 */
export function balancerSaysNotRouting(header: string | string[] | undefined): boolean | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const word = /^\s*([A-Za-z]+)/.exec(value)?.[1]?.toUpperCase();
  if (word === undefined) return undefined;
  if (word === 'UP') return false;
  return word === 'DOWN' || word === 'NOLB' || word === 'MAINT' || word === 'DRAIN' ? true : undefined;
}

/** Records a balancer-state header seen on a probe; returns true if it confirmed the window. */
export function recordBalancerState(opts: ResolvedDeregisterOptions, s: WindowState, header: string | string[] | undefined, now: number): boolean {
  if (opts.mode !== 'adaptive' || s.confirmedAt !== undefined) return false;
  if (balancerSaysNotRouting(header) !== true) return false;
  s.confirmedAt = now;
  s.confirmedBy = 'balancer-state';
  return true;
}

/** Records a request that is not a health probe. */
export function recordActivity(s: WindowState, now: number): void {
  s.lastActivityAt = now;
}

/** Records a connection accepted during the window (`key` identifies it until it is explained). */
export function recordConnectionOpened(s: WindowState, key: object, now: number): void {
  s.openedConnections.set(key, now);
}

/**
 * The connection closed, or its request was a health probe: it was not traffic. (A connection
 * that carried a request needs no call: the request itself was recorded as activity.) Returns
 * whether it was still counted, i.e. whether the window may end earlier now.
 */
export function recordConnectionExplained(s: WindowState, key: object): boolean {
  return s.openedConnections.delete(key);
}
