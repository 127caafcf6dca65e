/**
 * Remote-drain latency: from `requestDrain()` returning to the instance's row showing
 * `draining`, on Postgres (NOTIFY) and on PGlite served over pglite-socket (heartbeat, 1 s).
 * Each run is a fresh server, drainer and reporter with default heartbeat settings.
 *
 *     node --import tsx bench/registry-remote-drain.ts
 */
import * as http from 'node:http';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createDrainer } from '../src/index.js';
import { getInstance, requestDrain, startReporter } from '../src/registry/index.js';
import { createDatabase, postgresSkip, type DatabaseKind } from '../test/registry/databases.js';

const RUNS = 10;

async function once(kind: DatabaseKind, url: string, store: Parameters<typeof getInstance>[0]): Promise<number> {
  const server = http.createServer((_, res) => res.end('ok'));
  const drainer = createDrainer(server, { signals: false, exitOnDrain: false, deregister: { mode: 'fixed', delayMs: 0 } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const reporter = startReporter(drainer, { databaseUrl: url, host: '127.0.0.1', port, reapTtlMs: false });
  const id = await reporter.whenRegistered();
  if (kind === 'postgres') {
    // Wait for the LISTEN connection, as a long-running instance would have it.
    for (;;) {
      const rows = await store.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
      if ((rows[0]?.n ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  } else {
    // Land the request at a random point of the heartbeat period.
    await new Promise((r) => setTimeout(r, Math.random() * 1_000));
  }
  const start = performance.now();
  await requestDrain(store, { instanceId: id }, { requestedBy: 'bench', reason: 'latency' });
  for (;;) {
    if ((await getInstance(store, id))?.status === 'draining') break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - start;
  await drainer.drain();
  await reporter.flush(5_000);
  await reporter.stop();
  server.close();
  return ms;
}

function summary(samples: number[]): Record<string, number> {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0).toFixed(1));
  return { runs: s.length, minMs: q(0), medianMs: q(0.5), p90Ms: q(0.9), maxMs: q(1) };
}

const results: Record<string, unknown>[] = [];
for (const kind of ['postgres', 'pglite'] as const) {
  if (kind === 'postgres' && (await postgresSkip()) !== false) continue;
  const db = await createDatabase(kind);
  try {
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(await once(kind, db.url, db.store));
    results.push({ database: kind, delivery: kind === 'postgres' ? 'LISTEN/NOTIFY' : 'heartbeat poll (1000 ms)', ...summary(samples) });
  } finally {
    await db.close();
  }
}
process.stdout.write(`${JSON.stringify({ bench: 'registry-remote-drain', node: process.version, nproc: os.availableParallelism(), results }, null, 2)}\n`);
