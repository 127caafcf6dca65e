/**
 * drainkit's per-request cost: requests served per server CPU-second, with drainkit attached,
 * over the same server bare.
 *
 * Method (why each part is there):
 * - Two server processes are compared in a pair, both pinned to one core (`taskset`), loaded AT
 *   THE SAME TIME by two load generators pinned to the other core. Whatever else the shared
 *   machine does hits both sides of a pair alike; measured one after the other, the ratio swung
 *   by several percent between runs here.
 * - Each generator sends a fixed count of requests (20 connections, pipelining 1) with an undici
 *   Pool in its own process: undici is already a devDependency, its keep-alive client is the
 *   cheapest Node client available, and a fixed count (not a fixed time) makes both sides do the
 *   same work. Which generator starts first alternates by round.
 * - Server CPU is the kernel's accounting (all threads), read before and after each run: in
 *   nanoseconds from a cgroup of its own where the machine allows it, else in clock ticks from
 *   `/proc/<pid>/stat` (./lib/cpu-clock.ts says why and which). The figure compared is requests
 *   per server CPU-second, which does not depend on which client was faster.
 * - An A/A control (bare against bare) runs in the same rounds: its spread is the noise floor.
 * - Every round starts fresh server processes and warms each one up, so that what is particular
 *   to one process (where the JIT landed, memory layout) is not confounded with the variant.
 * - The headline is the median of the per-round ratios, with min and max.
 */
import { killAll, listeningPort, pinToCore, spawnBenchChild, type Child } from './lib/children.js';
import { openCpuClock } from './lib/cpu-clock.js';
import { positiveIntEnv } from './lib/env.js';
import { median, round } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

type Variant = 'bare' | 'drainkit' | 'drainkit-health' | 'express-bare' | 'express-drainkit' | 'express-drainkit-routes' | 'express-drainkit-core' | 'express-own-middleware' | 'express-own-routes' | 'fastify-bare' | 'fastify-drainkit' | 'fastify-own-routes';

/** One comparison: `b` measured against `a` (the baseline) in the same concurrent run. */
interface Pair {
  readonly name: string;
  readonly a: Variant;
  readonly b: Variant;
}

const PAIRS: readonly Pair[] = [
  { name: 'A/A control (bare vs bare)', a: 'bare', b: 'bare' },
  { name: 'drainkit vs bare', a: 'bare', b: 'drainkit' },
  { name: 'drainkit + handleHealth vs bare', a: 'bare', b: 'drainkit-health' },
  { name: 'Express 5: drainkit (app.use(healthRoutes)) vs bare', a: 'express-bare', b: 'express-drainkit' },
  { name: 'Express 5: drainkit (app.all(healthPaths, healthRoutes)) vs bare', a: 'express-bare', b: 'express-drainkit-routes' },
  { name: 'Express 5: drainkit without health routes vs bare', a: 'express-bare', b: 'express-drainkit-core' },
  { name: 'Fastify 5: drainkit vs bare', a: 'fastify-bare', b: 'fastify-drainkit' },
  // What the framework itself charges for what drainkit's health adds to it, with no drainkit:
  // one pass-through middleware, or two more routes (the costs drainkit's forms above include).
  { name: 'Express 5: a middleware of its own (no drainkit) vs bare', a: 'express-bare', b: 'express-own-middleware' },
  { name: 'Express 5: two routes of its own (no drainkit) vs bare', a: 'express-bare', b: 'express-own-routes' },
  { name: 'Fastify 5: two routes of its own (no drainkit) vs bare', a: 'fastify-bare', b: 'fastify-own-routes' },
];

/**
 * BENCH_THROUGHPUT_PAIRS (comma-separated words) keeps the pairs whose name contains one of
 * them, for a quick look at a few (the A/A control always runs: it is what the ratios are read
 * against). A word starting with `^` must start the name: `^drainkit` keeps the two node:http
 * pairs of the target, not the Fastify one.
 */
function selectedPairs(): readonly Pair[] {
  const words = (process.env.BENCH_THROUGHPUT_PAIRS ?? '').split(',').map((w) => w.trim().toLowerCase()).filter((w) => w !== '');
  if (words.length === 0) return PAIRS;
  const matches = (name: string, w: string): boolean => (w.startsWith('^') ? name.startsWith(w.slice(1)) : name.includes(w));
  return PAIRS.filter((p) => p.a === 'bare' && p.b === 'bare' || words.some((w) => matches(p.name.toLowerCase(), w)));
}

const SERVER_CORE = '0';
const LOAD_CORE = '1';

interface LoadResult {
  requests: number;
  errors: number;
  elapsedMs: number;
}

interface Side {
  readonly variant: Variant;
  readonly requests: number;
  readonly errors: number;
  readonly cpuS: number;
  readonly requestsPerCpuS: number;
}

interface PairRun {
  readonly round: number;
  readonly pair: string;
  readonly firstStarted: 'a' | 'b';
  readonly a: Side;
  readonly b: Side;
  /** b's requests per CPU-second over a's. */
  readonly ratio: number;
}

export const throughput: Benchmark = {
  name: 'throughput',
  async run({ quick, log }): Promise<BenchResult> {
    // BENCH_THROUGHPUT_REQUESTS lowers the count per side on a busy machine (the run's JSON says
    // what was used); Express pairs run a fifth of it, since Express serves ~6× fewer requests
    // per CPU-second and the pair would otherwise dominate the run.
    const requestsPerSide = quick ? 10_000 : positiveIntEnv('BENCH_THROUGHPUT_REQUESTS', 100_000);
    const clock = openCpuClock();
    const config = {
      rounds: quick ? 2 : positiveIntEnv('BENCH_THROUGHPUT_ROUNDS', 10),
      requestsPerSide,
      expressRequestsPerSide: Math.max(2_000, Math.round(requestsPerSide / 5)),
      warmupRequests: quick ? 2_000 : Math.min(10_000, requestsPerSide),
      connections: 20,
      pipelining: 1,
      serverCore: SERVER_CORE,
      loadCore: LOAD_CORE,
      loader: 'undici Pool (one process per side)',
      cpuSource: clock.source,
    };
    const runBound = 300_000;
    const loads: Child[] = [];
    const servers: Child[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const load = spawnBenchChild('load', [], { ipc: true });
        loads.push(load);
        await load.line('ready');
        pinToCore(load.pid, LOAD_CORE);
      }
      const [loadA, loadB] = loads as [Child, Child];
      const startServer = async (variant: Variant): Promise<{ child: Child; origin: string }> => {
        const child = spawnBenchChild('hello-server', ['--variant', variant], { ipc: true });
        servers.push(child);
        const port = await listeningPort(child);
        pinToCore(child.pid, SERVER_CORE);
        clock.track(child.pid);
        return { child, origin: `http://127.0.0.1:${port}` };
      };
      const drive = (load: Child, origin: string, requests: number): Promise<LoadResult> =>
        load.call<LoadResult>({ cmd: 'run', origin, durationMs: runBound, requests, connections: config.connections, pipelining: config.pipelining }, runBound + 10_000);

      const runs: PairRun[] = [];
      for (let roundNo = 1; roundNo <= config.rounds; roundNo += 1) {
        for (const pair of selectedPairs()) {
          const count = pair.a.startsWith('express-') ? config.expressRequestsPerSide : config.requestsPerSide;
          const a = await startServer(pair.a);
          const b = await startServer(pair.b);
          await Promise.all([drive(loadA, a.origin, config.warmupRequests), drive(loadB, b.origin, config.warmupRequests)]);
          const firstStarted = roundNo % 2 === 1 ? 'a' : 'b';
          const cpuA0 = clock.seconds(a.child.pid);
          const cpuB0 = clock.seconds(b.child.pid);
          const [ra, rb] = firstStarted === 'a'
            ? await (async () => { const pa = drive(loadA, a.origin, count); const pb = drive(loadB, b.origin, count); return Promise.all([pa, pb]); })()
            : await (async () => { const pb = drive(loadB, b.origin, count); const pa = drive(loadA, a.origin, count); return Promise.all([pa, pb]); })();
          const side = (variant: Variant, r: LoadResult, cpuS: number): Side => ({ variant, requests: r.requests, errors: r.errors, cpuS: round(cpuS, 4), requestsPerCpuS: Math.round(r.requests / cpuS) });
          const sa = side(pair.a, ra, clock.seconds(a.child.pid) - cpuA0);
          const sb = side(pair.b, rb, clock.seconds(b.child.pid) - cpuB0);
          const run: PairRun = { round: roundNo, pair: pair.name, firstStarted, a: sa, b: sb, ratio: round(sb.requestsPerCpuS / sa.requestsPerCpuS, 4) };
          runs.push(run);
          log(`throughput: round ${roundNo} ${pair.name}: ${sb.requestsPerCpuS} / ${sa.requestsPerCpuS} req per CPU-s = ${run.ratio.toFixed(3)} (errors ${sa.errors + sb.errors})`);
          await killAll([a.child, b.child]);
          clock.untrack(a.child.pid);
          clock.untrack(b.child.pid);
          await loadA.call({ cmd: 'close' });
          await loadB.call({ cmd: 'close' });
        }
      }

      const summary = Object.fromEntries(selectedPairs().map((pair) => {
        const ratios = runs.filter((r) => r.pair === pair.name).map((r) => r.ratio);
        const of = (pick: (r: PairRun) => number): number => median(runs.filter((r) => r.pair === pair.name).map(pick));
        return [pair.name, {
          a: pair.a,
          b: pair.b,
          ratioMedian: round(median(ratios), 3),
          ratioMin: round(Math.min(...ratios), 3),
          ratioMax: round(Math.max(...ratios), 3),
          ratiosPerRound: ratios.map((x) => round(x, 3)),
          aRequestsPerCpuSMedian: Math.round(of((r) => r.a.requestsPerCpuS)),
          bRequestsPerCpuSMedian: Math.round(of((r) => r.b.requestsPerCpuS)),
          errors: runs.filter((r) => r.pair === pair.name).reduce((n, r) => n + r.a.errors + r.b.errors, 0),
        }];
      })) as Record<string, { ratioMedian: number; ratioMin: number; ratioMax: number }>;
      const dk = summary['drainkit vs bare'];
      const dh = summary['drainkit + handleHealth vs bare'];
      const aa = summary['A/A control (bare vs bare)']!;
      const range = (p: { ratioMedian: number; ratioMin: number; ratioMax: number }): string => `${p.ratioMedian.toFixed(3)} (${p.ratioMin.toFixed(3)}–${p.ratioMax.toFixed(3)})`;
      // BENCH_THROUGHPUT_PAIRS may leave the target's pairs out: then say what ran, judge nothing.
      const verdict = dk && dh
        ? { met: dk.ratioMedian >= 0.98 && dh.ratioMedian >= 0.98, headline: `ratio ${range(dk)}, with handleHealth ${dh.ratioMedian.toFixed(3)}, A/A ${range(aa)}` }
        : { met: null, headline: `partial run: ${Object.entries(summary).map(([name, p]) => `${name} ${range(p)}`).join('; ')}` };
      return {
        benchmark: 'throughput',
        target: 'requests per server CPU-second, drainkit / bare ≥ 0.98 (defaults and with handleHealth)',
        ...verdict,
        node: process.version,
        config,
        pairs: summary,
        runs,
      };
    } finally {
      await killAll([...loads, ...servers]);
      for (const server of servers) clock.untrack(server.pid);
    }
  },
};
