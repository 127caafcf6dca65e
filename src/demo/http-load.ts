/**
 * The demo's paced HTTP load: keep-alive requests at a steady rate over a small pool, a mix of
 * quick GETs, POSTs with a body, and slow GETs that are still in flight when a worker drains.
 * Every request is sent once and never retried: a failure is counted, since counting failures
 * is what the demo is for. Bounded: at most {@link MAX_OUTSTANDING} requests at a time (a
 * request that would exceed it is not sent and counted as `skipped`, not as a failure of the
 * server), and the load ends when it is stopped.
 */
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { LatencySamples } from './latency.js';

/** Requests waiting for an answer at most; beyond it the pacer skips (the client, not the server, is behind). */
export const MAX_OUTSTANDING = 256;
/** Every n-th request is a slow one (`GET /work?ms=SLOW_MS`), kept in flight across drains. */
const SLOW_EVERY = 10;
export const SLOW_MS = 100;
/** Every n-th request (that is not slow) is a POST with a body. */
const POST_EVERY = 3;
const TICK_MS = 20;
/** A request unanswered this long is a failure (the slowest route answers in 100 ms). */
const REQUEST_TIMEOUT_MS = 10_000;

export interface HttpLoadStats {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  /** Failures by kind: `status:503`, `error:ECONNRESET`… */
  readonly failures: Readonly<Record<string, number>>;
  /** Requests not sent because {@link MAX_OUTSTANDING} were already waiting. */
  readonly skipped: number;
  /** Quick requests only (GET / and POST): the slow ones wait on purpose. */
  readonly latencyMs: { readonly p50: number | undefined; readonly p99: number | undefined; readonly samples: number };
}

export interface HttpLoad {
  snapshot(): HttpLoadStats;
  /** Stops sending and waits (bounded by `timeoutMs`) for the requests in flight to end. */
  stop(timeoutMs?: number): Promise<HttpLoadStats>;
}

export function startHttpLoad(options: { readonly host: string; readonly port: number; readonly rate: number }): HttpLoad {
  // fifo: every pooled connection is used in turn, so during a drain's window each one gets its
  // `Connection: close` answer rather than sitting idle until the worker closes it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8, scheduling: 'fifo' });
  const latency = new LatencySamples();
  const failures: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  let stopping = false;
  const started = performance.now();

  const fail = (kind: string): void => {
    failed += 1;
    failures[kind] = (failures[kind] ?? 0) + 1;
  };

  const once = (n: number): Promise<void> => {
    const slow = n % SLOW_EVERY === 0;
    const post = !slow && n % POST_EVERY === 0;
    const body = post ? JSON.stringify({ demo: n, at: Date.now() }) : undefined;
    const t0 = performance.now();
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = (kind?: string): void => {
        if (settled) return;
        settled = true;
        if (kind === undefined) {
          ok += 1;
          if (!slow) latency.add(performance.now() - t0);
        } else fail(kind);
        resolve();
      };
      const req = http.request(
        {
          agent,
          host: options.host,
          port: options.port,
          method: post ? 'POST' : 'GET',
          path: slow ? `/work?ms=${SLOW_MS}` : post ? '/publish' : '/',
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          res.resume();
          res.once('end', () => done(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? undefined : `status:${res.statusCode ?? 'none'}`));
          res.once('error', (err: NodeJS.ErrnoException) => done(`error:${err.code ?? err.name}`));
        },
      );
      req.once('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`), { code: 'TIMEOUT' })));
      req.once('error', (err: NodeJS.ErrnoException) => done(`error:${err.code ?? err.name}`));
      req.end(body);
    });
  };

  const send = (): void => {
    sent += 1;
    if (pending.size >= MAX_OUTSTANDING) {
      skipped += 1;
      return;
    }
    const p = once(sent).finally(() => pending.delete(p));
    pending.add(p);
  };

  // Paced by the clock, not by answers: the number due so far minus the number sent, each tick.
  const timer = setInterval(() => {
    if (stopping) return;
    const due = Math.floor(((performance.now() - started) / 1_000) * options.rate);
    while (sent < due) send();
  }, TICK_MS);

  const snapshot = (): HttpLoadStats => ({
    sent: sent - skipped,
    ok,
    failed,
    failures: { ...failures },
    skipped,
    latencyMs: { p50: latency.percentile(50), p99: latency.percentile(99), samples: latency.count },
  });

  return {
    snapshot,
    async stop(timeoutMs = REQUEST_TIMEOUT_MS + 1_000) {
      stopping = true;
      clearInterval(timer);
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending), new Promise((r) => (bound = setTimeout(r, timeoutMs)))]);
      clearTimeout(bound);
      agent.destroy();
      return snapshot();
    },
  };
}
