/**
 * Local cluster reloads: `pm2 reload` (cluster mode, default settings) with a worker that calls
 * `server.close()` on SIGINT (pm2's documented recipe) and with a worker that uses drainkit
 * (window 0), against `drainkit cluster` with the same drainkit worker, for 3 and 8 workers, in
 * one interleaved run. Paced keep-alive load through the cluster port that never retries (30 %
 * POST, every request 200 ms of work). Per run: failed requests, reload wall time (the `pm2
 * reload` command's duration; SIGHUP to `reload_complete` for drainkit), p99 latency of the
 * requests sent during the reload against the steady state before it.
 *
 * pm2 is not a dependency: install it for this benchmark only,
 *   npm install --prefix /tmp/pm2bench pm2        (or set PM2_BIN)
 * Without it the pm2 contenders are skipped and said so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { join } from 'node:path';
import { freePort, killTracked, signalAndWait } from '../test/helpers/processes.js';
import { spawnCluster, startPacedLoad, type PacedLoadStats } from '../test/cluster/harness.js';
import { ROOT } from './lib/children.js';
import { median, quantile, round } from './lib/stats.js';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.js';

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const PM2 = process.env.PM2_BIN ?? '/tmp/pm2bench/node_modules/.bin/pm2';
const RATE = 200;
const WORK_MS = 200;
const STEADY_MS = 3_000;

type Contender = 'pm2-close' | 'pm2-drainkit' | 'drainkit-cluster';

/** The worker every contender runs, as CommonJS (pm2's container requires it). */
function workerSource(withDrainkit: boolean): string {
  return `'use strict';
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-pid': String(process.pid) });
    res.end('ok\\n');
  }, ${WORK_MS}));
});
${withDrainkit
    ? `import(${JSON.stringify(join(ROOT, 'dist', 'index.js'))}).then(({ createDrainer }) => {
  createDrainer(server, { deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 10000 });
  server.listen(Number(process.env.PORT), '127.0.0.1');
});`
    : `process.on('SIGINT', () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT), '127.0.0.1');`}
`;
}

interface Run {
  readonly contender: Contender;
  readonly workers: number;
  readonly reloadWallMs: number;
  readonly requests: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly steadyP99Ms: number;
  readonly reloadP99Ms: number;
  readonly p99Ratio: number;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not end within ${timeoutMs} ms\n${out.slice(-2_000)}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Distinct pids answering fresh connections, until `n` are seen (bounded). */
async function waitForWorkers(port: number, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pids = new Set<string>();
  while (pids.size < n) {
    if (Date.now() > deadline) throw new Error(`only ${pids.size} of ${n} workers answered on port ${port} within ${timeoutMs} ms`);
    const pid = await new Promise<string | undefined>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.headers['x-pid'] as string | undefined);
      });
      req.once('error', () => setTimeout(() => resolve(undefined), 100));
    });
    if (pid !== undefined) pids.add(pid);
  }
}

function summarize(contender: Contender, workers: number, stats: PacedLoadStats, reloadStartedAt: number, reloadEndedAt: number): Run {
  const steady = stats.latencies.filter((l) => l.sentAt < reloadStartedAt).map((l) => l.ms);
  const during = stats.latencies.filter((l) => l.sentAt >= reloadStartedAt && l.sentAt <= reloadEndedAt).map((l) => l.ms);
  const steadyP99 = quantile(steady, 0.99);
  const reloadP99 = quantile(during, 0.99);
  return {
    contender,
    workers,
    reloadWallMs: round(reloadEndedAt - reloadStartedAt, 0),
    requests: stats.sent,
    failed: stats.failed,
    failures: stats.failures,
    steadyP99Ms: round(steadyP99, 1),
    reloadP99Ms: round(reloadP99, 1),
    p99Ratio: round(reloadP99 / steadyP99, 3),
  };
}

async function runOnce(contender: Contender, workers: number, dir: string, log: BenchOptions['log']): Promise<Run> {
  const port = await freePort();
  const script = join(dir, contender === 'pm2-close' ? 'close-worker.cjs' : 'drainkit-worker.cjs');
  const origin = `http://127.0.0.1:${port}`;
  const loadOptions = { origin, rate: RATE, postShare: 0.3, postPath: '/', slowEvery: 1_000_000, slowPath: '/', maxRequests: 100_000, maxDurationMs: 120_000, connections: 128 };
  if (contender === 'drainkit-cluster') {
    const cluster = await spawnCluster([CLI, 'cluster', '--workers', String(workers), '--port', String(port), '--log-level', 'warn', script], 60_000);
    try {
      const load = startPacedLoad(loadOptions);
      await new Promise((r) => setTimeout(r, STEADY_MS));
      const startedAt = Date.now();
      cluster.child.kill('SIGHUP');
      const line = await cluster.waitFor('reload_complete', 0, 120_000);
      const endedAt = Date.now();
      if (line.ok !== true) throw new Error(`drainkit cluster reload failed: ${JSON.stringify(line)}`);
      await new Promise((r) => setTimeout(r, 1_000));
      return summarize(contender, workers, await load.stop(), startedAt, endedAt);
    } finally {
      await signalAndWait(cluster, 'SIGTERM', 60_000);
    }
  }
  const home = mkdtempSync(join(os.tmpdir(), 'drainkit-pm2-'));
  const env = { ...process.env, PM2_HOME: home, PORT: String(port) };
  try {
    const started = await run(PM2, ['start', script, '-i', String(workers), '--name', 'bench'], env, 60_000);
    if (started.code !== 0) throw new Error(`pm2 start failed:\n${started.out.slice(-2_000)}`);
    await waitForWorkers(port, workers, 60_000);
    const load = startPacedLoad(loadOptions);
    await new Promise((r) => setTimeout(r, STEADY_MS));
    const startedAt = Date.now();
    const reloaded = await run(PM2, ['reload', 'bench'], env, 120_000);
    const endedAt = Date.now();
    if (reloaded.code !== 0) log(`pm2 reload exited ${reloaded.code}: ${reloaded.out.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 1_000));
    return summarize(contender, workers, await load.stop(), startedAt, endedAt);
  } finally {
    await run(PM2, ['kill'], env, 60_000).catch((err: unknown) => log(`pm2 kill: ${String(err)}`));
    rmSync(home, { recursive: true, force: true });
  }
}

export const clusterReload: Benchmark = {
  name: 'cluster-reload',
  async run({ quick, log }): Promise<BenchResult> {
    const havePm2 = existsSync(PM2);
    if (!havePm2) log(`pm2 not found at ${PM2} (npm install --prefix /tmp/pm2bench pm2, or PM2_BIN): pm2 contenders skipped`);
    const contenders: Contender[] = havePm2 ? ['pm2-close', 'pm2-drainkit', 'drainkit-cluster'] : ['drainkit-cluster'];
    const sizes = quick ? [3] : [3, 8];
    const rounds = quick ? 1 : 2;
    const dir = mkdtempSync(join(os.tmpdir(), 'drainkit-cluster-bench-'));
    writeFileSync(join(dir, 'close-worker.cjs'), workerSource(false));
    writeFileSync(join(dir, 'drainkit-worker.cjs'), workerSource(true));
    const runs: Run[] = [];
    try {
      for (let round_ = 0; round_ < rounds; round_ += 1) {
        for (const workers of sizes) {
          for (const contender of contenders) {
            const r = await runOnce(contender, workers, dir, log);
            log(`${contender} ×${workers}: ${r.failed}/${r.requests} failed ${JSON.stringify(r.failures)}, reload ${r.reloadWallMs} ms, p99 ${r.reloadP99Ms} ms vs steady ${r.steadyP99Ms} ms`);
            runs.push(r);
          }
        }
      }
    } finally {
      await killTracked();
      rmSync(dir, { recursive: true, force: true });
    }
    const by = (c: Contender, n: number): Run[] => runs.filter((r) => r.contender === c && r.workers === n);
    const table = sizes.flatMap((n) =>
      contenders.map((c) => ({
        contender: c,
        workers: n,
        failed: by(c, n).reduce((a, r) => a + r.failed, 0),
        requests: by(c, n).reduce((a, r) => a + r.requests, 0),
        reloadWallMedianMs: round(median(by(c, n).map((r) => r.reloadWallMs)), 0),
        p99RatioMedian: round(median(by(c, n).map((r) => r.p99Ratio)), 3),
      })),
    );
    const ours = table.filter((t) => t.contender === 'drainkit-cluster');
    const zeroFailed = ours.every((t) => t.failed === 0);
    const fasterThanPm2 = sizes.every((n) => {
      const pm2 = table.filter((t) => t.workers === n && t.contender !== 'drainkit-cluster').map((t) => t.reloadWallMedianMs);
      const mine = ours.find((t) => t.workers === n)!.reloadWallMedianMs;
      return pm2.length === 0 || pm2.every((p) => mine <= p);
    });
    const p99Ok = ours.every((t) => t.p99RatioMedian <= 1.5);
    return {
      benchmark: 'cluster-reload',
      target: 'drainkit cluster: 0 failed; reload wall ≤ pm2 reload for the same N; p99 during reload ≤ 1.5 × steady',
      met: havePm2 ? zeroFailed && fasterThanPm2 && p99Ok : null,
      headline: ours.map((t) => `${t.workers} workers: ${t.failed} failed, reload ${t.reloadWallMedianMs} ms, p99 ×${t.p99RatioMedian}`).join('; '),
      config: { rate: RATE, workMs: WORK_MS, postShare: 0.3, steadyMs: STEADY_MS, rounds, sizes, pm2: havePm2 ? PM2 : null, cores: os.availableParallelism() },
      table,
      runs,
    };
  },
};
