/**
 * A bounded, steady load generator for end-to-end drains: N workers over one keep-alive undici
 * Pool, each sending one request at a time until told to stop, never past a request count or a
 * duration. Every request is sent exactly once: a failure is counted, never retried, because
 * counting failures is the whole point.
 */
import { Pool } from 'undici';

export interface LoadOptions {
  /** Origin of the balancer, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string;
  /** Concurrent workers (and pooled connections). Default 16. */
  readonly concurrency?: number;
  /** Every `slowEvery`-th request is `GET /work?ms=<slowMs>`, the rest `GET /`. Defaults 10 and 200. */
  readonly slowEvery?: number;
  readonly slowMs?: number;
  /** Hard bounds: the load ends by itself at whichever comes first. Defaults 1 000 000 and 170 s. */
  readonly maxRequests?: number;
  readonly maxDurationMs?: number;
  /** How many failures are kept individually (with times, for the timeline). Default 5000. */
  readonly maxSamples?: number;
}

export interface FailureSample {
  /** When the failure was seen (ms since the epoch), to line it up with the harness's events. */
  readonly at: number;
  /** When the request was sent (ms since the epoch). */
  readonly sentAt: number;
  readonly path: string;
  /** `status:<code>` or `error:<code>`. */
  readonly kind: string;
  /** The response body (truncated) or the error message. */
  readonly detail: string;
}

export interface LoadStats {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  /** Failure counts by kind: `status:502`, `status:503`, `error:ECONNRESET`, `error:UND_ERR_SOCKET`… */
  readonly failuresByKind: Readonly<Record<string, number>>;
  readonly samples: readonly FailureSample[];
  readonly startedAt: number;
  readonly durationMs: number;
  readonly endedBy: 'stop' | 'maxRequests' | 'maxDuration';
}

export interface Load {
  /** Live counters (the same shape as the final result). */
  snapshot(): LoadStats;
  /** Lets every in-flight request finish (aborting one would be a failure of our own making), then resolves. */
  stop(): Promise<LoadStats>;
  /** Resolves when the load ended, by `stop()` or by one of its bounds. */
  readonly done: Promise<LoadStats>;
}

export function startLoad(options: LoadOptions): Load {
  const concurrency = options.concurrency ?? 16;
  const slowEvery = options.slowEvery ?? 10;
  const slowPath = `/work?ms=${options.slowMs ?? 200}`;
  const maxRequests = options.maxRequests ?? 1_000_000;
  const maxDurationMs = options.maxDurationMs ?? 170_000;
  const maxSamples = options.maxSamples ?? 5_000;

  // keepAliveTimeout below HAProxy's `timeout http-keep-alive`, so the client side never races
  // the balancer closing an idle connection (that would be the harness's failure, not a drain's).
  const pool = new Pool(options.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 4_000 });
  const startedAt = Date.now();
  const failuresByKind: Record<string, number> = {};
  const samples: FailureSample[] = [];
  let sent = 0;
  let total = 0;
  let ok = 0;
  let endedBy: LoadStats['endedBy'] | undefined;

  const snapshot = (): LoadStats => ({
    total,
    ok,
    failed: total - ok,
    failuresByKind: { ...failuresByKind },
    samples: [...samples],
    startedAt,
    durationMs: Date.now() - startedAt,
    endedBy: endedBy ?? 'stop',
  });

  function fail(sentAt: number, path: string, kind: string, detail: string): void {
    failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1;
    if (samples.length < maxSamples) samples.push({ at: Date.now(), sentAt, path, kind, detail: detail.slice(0, 160) });
  }

  /** Claims the next request slot, or says why the load is over. */
  function next(): string | undefined {
    if (endedBy) return undefined;
    if (sent >= maxRequests) endedBy = 'maxRequests';
    else if (Date.now() - startedAt >= maxDurationMs) endedBy = 'maxDuration';
    if (endedBy) return undefined;
    sent += 1;
    return sent % slowEvery === 0 ? slowPath : '/';
  }

  async function once(path: string): Promise<void> {
    const sentAt = Date.now();
    try {
      const res = await pool.request({ path, method: 'GET', headersTimeout: 30_000, bodyTimeout: 30_000 });
      const body = await res.body.text();
      if (res.statusCode === 200) ok += 1;
      else fail(sentAt, path, `status:${res.statusCode}`, body);
    } catch (err) {
      const e = err as Error & { code?: string };
      fail(sentAt, path, `error:${e.code ?? e.name}`, e.message);
    } finally {
      total += 1;
    }
  }

  async function worker(): Promise<void> {
    for (let path = next(); path !== undefined; path = next()) await once(path);
  }

  const done = (async (): Promise<LoadStats> => {
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
    await pool.close();
    return snapshot();
  })();

  return {
    snapshot,
    done,
    async stop() {
      endedBy ??= 'stop';
      return done;
    },
  };
}
