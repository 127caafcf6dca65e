/**
 * The drain contract every documented framework recipe is held to, seen by a keep-alive client
 * (an undici Pool, like a balancer's pooled connections): readiness 200 before the drain and 503
 * from the instant `drain()` starts, liveness 200 throughout, a request made during the
 * deregistration window served with `Connection: close`, and a request in flight when the drain
 * starts completed with `Connection: close` and counted by the result.
 *
 * The app under test serves `/` (noting the drain phase it arrived in) and `/slow` (held until
 * `release()`), and its health paths on `healthOrigin` (its own origin, or a health port).
 */
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import { Pool } from 'undici';
import type { Drainer, DrainResult } from '../../src/core/types.js';
import { poolGet as get, until, within } from './clients.js';

export interface RecipeApp {
  readonly origin: string;
  readonly healthOrigin: string;
  readonly drainer: Drainer;
  readonly server: http.Server;
  /** What each request to `/` saw on arrival, in order: the drain phase, or `active`. */
  readonly phasesSeen: readonly string[];
  /** How many `/slow` requests are waiting. */
  waiting(): number;
  /** Ends the pending `/slow` requests. */
  release(): void;
}

export interface ContractSteps {
  /** Right after `drain()` was called, with its promise. */
  readonly drainStarted?: (drained: Promise<DrainResult>) => void;
  /** Once the drain waits for `/slow` alone, before it is released. */
  readonly beforeRelease?: () => void;
}

/** Runs the contract and returns the drain's result for the caller's own checks; closes its pools. */
export async function assertRecipeContract(app: RecipeApp, steps: ContractSteps = {}): Promise<DrainResult> {
  const client = new Pool(app.origin);
  const health = app.healthOrigin === app.origin ? client : new Pool(app.healthOrigin);
  try {
    // Before the drain: ready, alive, serving keep-alive.
    assert.equal((await get(health, '/readyz')).status, 200);
    assert.equal((await get(health, '/healthz')).status, 200);
    const before = await get(client, '/');
    assert.deepEqual([before.status, before.body], [200, 'ok']);
    assert.notEqual(before.connection, 'close');

    const slow = get(client, '/slow');
    slow.catch(() => undefined); // awaited below; a failure before that must not surface as unhandled
    await until('/slow in flight', () => app.waiting() === 1);
    assert.equal(app.drainer.inflight, 1);

    const drained = app.drainer.drain();
    steps.drainStarted?.(drained);
    assert.equal(app.drainer.state, 'draining');

    // The deregistration window: not ready, alive, and the app still serves, closing connections.
    const notReady = await get(health, '/readyz');
    assert.equal(notReady.status, 503);
    // On the app's own server the probe is a request like any other, and closes its connection too.
    if (health === client) assert.equal(notReady.connection, 'close');
    assert.equal((await get(health, '/healthz')).status, 200);
    const during = await get(client, '/');
    assert.deepEqual([during.status, during.body, during.connection], [200, 'ok', 'close']);
    assert.deepEqual(app.phasesSeen, ['active', 'deregistering']);

    // The window is over and the listener closed; the drain waits for /slow.
    await until('drain waiting for /slow', () => app.drainer.phase === 'waiting');
    assert.equal(app.server.listening, false);
    if (health !== client) {
      assert.equal((await get(health, '/readyz')).status, 503);
      assert.equal((await get(health, '/healthz')).status, 200);
    }
    steps.beforeRelease?.();
    app.release();
    const res = await within(slow, 10_000, 'the /slow response');
    assert.deepEqual([res.status, res.body, res.connection], [200, 'slow done', 'close']);

    const result = await within(drained, 10_000, 'drain');
    assert.equal(result.success, true);
    assert.equal(result.outcome, 'completed');
    assert.equal(result.requestsAtStart, 1);
    // Exactly what the contract sent to the app's server during the drain: /slow and the window's
    // `/`, plus the window's two health probes when they share the app's server.
    assert.equal(result.requestsCompleted, health === client ? 4 : 2);
    assert.equal(result.requestsRemaining, 0);
    assert.equal(result.connectionsForced, 0);
    return result;
  } finally {
    for (const pool of new Set([client, health])) await pool.destroy().catch(() => undefined);
  }
}
