/**
 * Throughput of a hello-world keep-alive server with drainkit attached, over the same server
 * bare. Each variant runs in its own child process; the load comes from a third process (undici
 * Pool). Rounds interleave the variants (the order alternates every round) so that whatever
 * else runs on the machine hits every side alike, and each round's ratio compares neighbours in
 * time. The headline is the median of the per-round ratios.
 *
 * Every round starts fresh server processes (and warms each one up): with one long-lived
 * process per variant, whatever is particular to that process (where the JIT landed, memory
 * layout, which core it shares) would be confounded with the variant for the whole run.
 *
 * Besides requests per second (which a saturated client could cap at the same value for both
 * sides), the server's own CPU time per request is measured (process.cpuUsage over IPC before
 * and after each run): that ratio is sensitive to drainkit's per-request cost even when the
 * client is the bottleneck.
 */
import { killAll, listeningPort, spawnBenchChild, type Child } from './lib/children.js';
import { median, round } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const VARIANTS = ['bare', 'drainkit', 'drainkit-health'] as const;
type Variant = (typeof VARIANTS)[number];

interface Run {
  readonly round: number;
  readonly variant: Variant;
  readonly rps: number;
  readonly errors: number;
  /** Server CPU (user + system) per request, microseconds. */
  readonly serverCpuUsPerRequest: number;
  /** Client CPU share of the wall time (1 = one full core). */
  readonly clientCpuShare: number;
  /** Server CPU share of the wall time. */
  readonly serverCpuShare: number;
}

export const throughput: Benchmark = {
  name: 'throughput',
  async run({ quick, log }): Promise<BenchResult> {
    const config = {
      rounds: quick ? 2 : 10,
      durationMs: quick ? 1_000 : 2_000,
      warmupMs: quick ? 300 : 1_000,
      connections: 50,
      pipelining: 1,
    };
    const servers = new Map<Variant, { child: Child; origin: string }>();
    const startServers = async (): Promise<void> => {
      await killAll([...servers.values()].map((s) => s.child));
      for (const variant of VARIANTS) {
        const child = spawnBenchChild('hello-server', ['--variant', variant], { ipc: true });
        servers.set(variant, { child, origin: `http://127.0.0.1:${await listeningPort(child)}` });
      }
    };
    let load: Child | undefined;
    try {
      load = spawnBenchChild('load', [], { ipc: true });
      await load.line('ready');
      const client = load;

      const measure = async (variant: Variant, durationMs: number, roundNo: number): Promise<Run> => {
        const server = servers.get(variant)!;
        const cpu0 = await server.child.call<{ user: number; system: number }>({ cmd: 'cpu' });
        const r = await client.call<{ requests: number; errors: number; elapsedMs: number; cpuUserUs: number; cpuSystemUs: number }>({
          cmd: 'run',
          origin: server.origin,
          durationMs,
          connections: config.connections,
          pipelining: config.pipelining,
        });
        const cpu1 = await server.child.call<{ user: number; system: number }>({ cmd: 'cpu' });
        const serverCpuUs = cpu1.user - cpu0.user + (cpu1.system - cpu0.system);
        return {
          round: roundNo,
          variant,
          rps: (r.requests / r.elapsedMs) * 1_000,
          errors: r.errors,
          serverCpuUsPerRequest: serverCpuUs / Math.max(1, r.requests),
          clientCpuShare: (r.cpuUserUs + r.cpuSystemUs) / 1_000 / r.elapsedMs,
          serverCpuShare: serverCpuUs / 1_000 / r.elapsedMs,
        };
      };

      const runs: Run[] = [];
      for (let roundNo = 1; roundNo <= config.rounds; roundNo += 1) {
        await client.call({ cmd: 'close' }); // the previous round's pools (their servers are gone)
        await startServers();
        for (const variant of VARIANTS) await measure(variant, config.warmupMs, roundNo);
        const order = roundNo % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
        for (const variant of order) {
          const run = await measure(variant, config.durationMs, roundNo);
          runs.push(run);
          log(`throughput: round ${roundNo} ${variant}: ${Math.round(run.rps)} req/s, server ${run.serverCpuUsPerRequest.toFixed(1)} µs CPU/req (server ${run.serverCpuShare.toFixed(2)} core, client ${run.clientCpuShare.toFixed(2)} core)`);
        }
      }
      await client.call({ cmd: 'close' });

      const byRound = (variant: Variant): Run[] => runs.filter((r) => r.variant === variant).sort((a, b) => a.round - b.round);
      const bare = byRound('bare');
      const compare = (variant: Exclude<Variant, 'bare'>): Record<string, unknown> => {
        const runsOf = byRound(variant);
        const rpsRatios = runsOf.map((r, i) => r.rps / bare[i]!.rps);
        const cpuRatios = runsOf.map((r, i) => r.serverCpuUsPerRequest / bare[i]!.serverCpuUsPerRequest);
        return {
          rpsRatioMedian: round(median(rpsRatios), 3),
          rpsRatiosPerRound: rpsRatios.map((x) => round(x, 3)),
          serverCpuPerRequestRatioMedian: round(median(cpuRatios), 3),
          serverCpuPerRequestRatiosPerRound: cpuRatios.map((x) => round(x, 3)),
        };
      };
      const perVariant = Object.fromEntries(VARIANTS.map((v) => {
        const rs = byRound(v);
        return [v, {
          rpsMedian: Math.round(median(rs.map((r) => r.rps))),
          serverCpuUsPerRequestMedian: round(median(rs.map((r) => r.serverCpuUsPerRequest)), 2),
          serverCpuShareMedian: round(median(rs.map((r) => r.serverCpuShare)), 2),
          clientCpuShareMedian: round(median(rs.map((r) => r.clientCpuShare)), 2),
          errors: rs.reduce((n, r) => n + r.errors, 0),
        }];
      }));
      const drainkit = compare('drainkit');
      const withHealth = compare('drainkit-health');
      const ratio = drainkit.rpsRatioMedian as number;
      return {
        benchmark: 'throughput',
        target: 'drainkit / bare req/s ≥ 0.98',
        met: ratio >= 0.98,
        headline: `ratio ${ratio.toFixed(3)}`,
        config,
        perVariant,
        drainkitVsBare: drainkit,
        drainkitHealthVsBare: withHealth,
        runs: runs.map((r) => ({ ...r, rps: Math.round(r.rps), serverCpuUsPerRequest: round(r.serverCpuUsPerRequest, 2), clientCpuShare: round(r.clientCpuShare, 2), serverCpuShare: round(r.serverCpuShare, 2) })),
      };
    } finally {
      await killAll([load, ...[...servers.values()].map((s) => s.child)]);
    }
  },
};
