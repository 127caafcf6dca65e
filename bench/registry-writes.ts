/**
 * Database writes caused by 10,000 requests through one instance with the registry reporter,
 * against the source document's sketch (two UPDATEs per request: 20,000). Counts the reporter's
 * statements (every one it sends) and, on Postgres, the rows written (pg_stat_user_tables), over a
 * window from just before the load until the statistics have settled after it.
 *
 *     node --import tsx bench/registry-writes.ts
 */
import * as http from 'node:http';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createDrainer } from '../src/index.js';
import { exampleHandler } from '../src/example/app.js';
import { startReporter, type SqlValue, type Store } from '../src/registry/index.js';
import { createDatabase, postgresSkip, type DatabaseKind } from '../test/registry/databases.js';

const REQUESTS = 10_000;
const CONCURRENCY = 8;

/** A store that counts the statements it is asked to run. */
function counting(store: Store): { store: Store; writes: () => number; reads: () => number } {
  let writes = 0;
  let reads = 0;
  const wrapped: Store = {
    driver: store.driver,
    query<R extends object>(sql: string, params?: readonly SqlValue[], options?: { timeoutMs?: number }): Promise<R[]> {
      if (/^\s*(WITH|INSERT|UPDATE|DELETE)/i.test(sql) && !/^\s*SELECT/i.test(sql)) writes += 1;
      else reads += 1;
      return store.query<R>(sql, params, options);
    },
    script: (sql, options) => store.script(sql, options),
    close: () => Promise.resolve(),
  };
  return { store: wrapped, writes: () => writes, reads: () => reads };
}

async function tupleWrites(store: Store): Promise<number> {
  const rows = await store.query<{ n: number }>(
    `SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int AS n FROM pg_stat_user_tables
     WHERE relname IN ('serverinstance', 'drainevent', 'drainrequest')`,
  );
  return rows[0]?.n ?? 0;
}

async function load(port: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/work?ms=1', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      next += 1;
      await one();
    }
  }));
  agent.destroy();
  return performance.now() - start;
}

async function run(kind: DatabaseKind): Promise<Record<string, unknown>> {
  const db = await createDatabase(kind);
  try {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false, exitOnDrain: false, deregister: { mode: 'fixed', delayMs: 0 } });
    server.on('request', exampleHandler(drainer));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const counter = counting(db.store);
    const reporter = startReporter(drainer, { store: counter.store, host: '127.0.0.1', port, reapTtlMs: false });
    await reporter.whenRegistered();
    // Postgres backends publish their table statistics at most once a second and, when idle,
    // within about ten seconds: settle before each reading. The window then spans the load and
    // the settle time, and the statement count uses the same window.
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, kind === 'postgres' ? 11_000 : 1_200));
    await settle();
    const rowsBefore = kind === 'postgres' ? await tupleWrites(db.store) : 0;
    const writesBefore = counter.writes();
    const readsBefore = counter.reads();
    const windowStart = performance.now();
    const durationMs = await load(port);
    await settle();
    const windowMs = performance.now() - windowStart;
    const statements = counter.writes() - writesBefore;
    const reads = counter.reads() - readsBefore;
    const rows = kind === 'postgres' ? (await tupleWrites(db.store)) - rowsBefore : undefined;
    await drainer.drain('bench');
    await reporter.flush(5_000);
    await reporter.stop();
    server.close();
    return {
      database: kind,
      requests: REQUESTS,
      loadDurationMs: Math.round(durationMs),
      windowMs: Math.round(windowMs),
      writeStatements: statements,
      readStatements: reads,
      rowsWritten: rows ?? 'n/a (table statistics not read on PGlite)',
      seedSketchWrites: 2 * REQUESTS,
      ratioToSeed: Number((statements / (2 * REQUESTS)).toFixed(5)),
      writeStatementsPerSecond: Number((statements / (windowMs / 1_000)).toFixed(2)),
    };
  } finally {
    await db.close();
  }
}

const results: Record<string, unknown>[] = [];
for (const kind of ['postgres', 'pglite'] as const) {
  if (kind === 'postgres' && (await postgresSkip()) !== false) continue;
  results.push(await run(kind));
}
process.stdout.write(`${JSON.stringify({ bench: 'registry-writes', node: process.version, nproc: os.availableParallelism(), results }, null, 2)}\n`);
