/**
 * The throughput benchmark's load generator, in its own process: one undici Pool per origin
 * (kept across rounds, so connections stay warm), `connections × pipelining` workers each
 * sending `GET /` back to back for a fixed time, or until `requests` requests were sent.
 *
 * IPC: `{ cmd: 'run', origin, durationMs, connections, pipelining, requests? }` → `{ requests, errors,
 * elapsedMs, cpuUserUs, cpuSystemUs }`; `{ cmd: 'close' }` closes the pools (the harness then ends the process).
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { announce, serveIpc } from './common.js';

/** Hard bound on one run, whatever the duration asked for. */
const MAX_REQUESTS_PER_RUN = 5_000_000;
const pools = new Map<string, Pool>();

function poolFor(origin: string, connections: number, pipelining: number): Pool {
  const key = `${origin} ${connections} ${pipelining}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new Pool(origin, { connections, pipelining, keepAliveTimeout: 60_000 });
    pools.set(key, pool);
  }
  return pool;
}

async function run(message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const origin = String(message.origin);
  const durationMs = Number(message.durationMs);
  const connections = Number(message.connections);
  const pipelining = Number(message.pipelining);
  // A fixed count (the cost benchmark) or a fixed time; the count is bounded either way.
  const limit = message.requests === undefined ? MAX_REQUESTS_PER_RUN : Math.min(MAX_REQUESTS_PER_RUN, Number(message.requests));
  const pool = poolFor(origin, connections, pipelining);
  let requests = 0;
  let errors = 0;
  let sent = 0;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;

  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && sent < limit) {
      sent += 1;
      try {
        const res = await pool.request({ path: '/', method: 'GET' });
        await res.body.dump();
        if (res.statusCode === 200) requests += 1;
        else errors += 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: connections * pipelining }, () => worker()));
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  return { requests, errors, elapsedMs, cpuUserUs: cpu.user, cpuSystemUs: cpu.system };
}

serveIpc({
  run,
  close: async () => {
    await Promise.all([...pools.values()].map((p) => p.close()));
    pools.clear();
    return {};
  },
});
announce({ event: 'ready', pid: process.pid });
