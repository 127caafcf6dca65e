/**
 * Local cluster reloads: `pm2 reload` (cluster mode, default settings) with a worker that calls
 * `server.close()` on SIGINT (pm2's documented recipe) and with a worker that uses drainkit
 * (window 0), against `drainkit cluster` with the same drainkit worker, for 3 and 8 workers, in
 * one interleaved run (the contenders' order rotates from round to round, so none always runs
 * first on a machine whose load drifts). The issue's load through the cluster port: paced
 * keep-alive requests that are never retried (300 req/s, 30 % POST, every request 200 ms of
 * work), 5 WebSocket clients on `/ws` and 5 SSE clients on `/sse` that reconnect whenever their
 * connection ends, and 3 reloads in a row per run. Per run: failed requests, reload wall time
 * (the `pm2 reload` command's duration; SIGHUP to `reload_complete` for drainkit), p99 latency of
 * the requests sent during the reloads against the steady state before the first, and how the
 * persistent connections were closed (WebSocket close code 1001; SSE stream ended after a
 * `retry:` hint, not cut). Latencies are of successful requests only: a contender that fails
 * requests (pm2) has its p99 taken over the requests that succeeded.
 *
 *   BENCH_CLUSTER_ROUNDS   rounds (default 3; 1 with --quick)
 *   BENCH_CLUSTER_SIZES    worker counts, comma-separated (default 3,8; 3 with --quick)
 *
 * pm2 is not a dependency: install it for this benchmark only,
 *   npm install --prefix /tmp/pm2bench pm2        (or set PM2_BIN)
 * Without it the pm2 contenders are skipped and said so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, killTracked, signalAndWait } from '../test/helpers/processes.js';
import { spawnCluster, startPacedLoad, startSseClients, type PacedLoadStats, type SseStats } from '../test/cluster/harness.js';
import { startPersistentClients, type PersistentStats } from '../test/helpers/persistent-clients.js';
import { ROOT } from './lib/children.js';
import { median, quantile, round } from './lib/stats.js';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.js';

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const PM2 = process.env.PM2_BIN ?? '/tmp/pm2bench/node_modules/.bin/pm2';
const RATE = 300;
const WORK_MS = 200;
const STEADY_MS = 3_000;
const RELOADS = 3;
/** Pause after each reload, so the next one starts on a settled cluster. */
const GAP_MS = 1_000;
const WEBSOCKETS = 5;
const SSE_CLIENTS = 5;
const SSE_INTERVAL_MS = 200;
const SSE_RECONNECT_MS = 300;

type Contender = 'pm2-close' | 'pm2-drainkit' | 'drainkit-cluster';

/**
 * The worker every contender runs, as CommonJS (pm2's container requires it): `/` answers after
 * WORK_MS, `/ws` is a WebSocket echo, `/sse` sends an event every SSE_INTERVAL_MS. With drainkit
 * the WebSockets and event streams are handed to its integrations (1001, `retry:`); without it
 * SIGINT calls `server.close()`, which waits for them until pm2 kills the worker.
 */
function workerSource(withDrainkit: boolean): string {
  const dist = (path: string): string => JSON.stringify(join(ROOT, 'dist', path));
  return `'use strict';
const http = require('node:http');
const { WebSocketServer } = require(require.resolve('ws', { paths: [${JSON.stringify(ROOT)}] }));
let sse = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  return { send: (data) => res.write('data: ' + data + '\\n\\n') };
};
const server = http.createServer((req, res) => {
  if (req.url === '/sse') {
    const stream = sse(req, res);
    let n = 0;
    const tick = () => stream.send(JSON.stringify({ pid: process.pid, n: n++ }));
    tick();
    const timer = setInterval(tick, ${SSE_INTERVAL_MS});
    res.once('close', () => clearInterval(timer));
    return;
  }
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-pid': String(process.pid) });
    res.end('ok\\n');
  }, ${WORK_MS}));
});
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req)));
${withDrainkit
    ? `Promise.all([import(${dist('index.js')}), import(${dist('integrations/ws.js')}), import(${dist('integrations/sse.js')})]).then(([{ createDrainer }, { drainWebSockets }, { openEventStream }]) => {
  const drainer = createDrainer(server, { deregister: { mode: 'fixed', delayMs: 0 }, drainTimeoutMs: 10000 });
  drainWebSockets(drainer, wss);
  sse = (req, res) => openEventStream(drainer, req, res, { reconnectMs: ${SSE_RECONNECT_MS} });
  server.listen(Number(process.env.PORT), '127.0.0.1');
});`
    : `process.on('SIGINT', () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT), '127.0.0.1');`}
`;
}

/** How the persistent clients' connections ended over a run. */
interface Persistent {
  /** WebSocket closes seen by the clients, and of those the ones with 1001 ("going away"). */
  readonly wsCloses: number;
  readonly wsCloses1001: number;
  readonly wsCloseCodes: Readonly<Record<string, number>>;
  /** SSE streams that ended (by the server or cut), and of those the ones ended after `retry:`. */
  readonly sseEnds: number;
  readonly sseEndsAfterRetry: number;
  readonly sseCut: number;
}

interface Run {
  readonly round: number;
  readonly contender: Contender;
  readonly workers: number;
  /** Each reload's wall time, ms. */
  readonly reloadWallMs: readonly number[];
  readonly requests: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly samples: readonly string[];
  /** p99 of the successful requests sent before the first reload. */
  readonly steadyP99Ms: number;
  /** p99 of the successful requests sent while a reload ran. */
  readonly reloadP99Ms: number;
  readonly p99Ratio: number;
  readonly persistent: Persistent;
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

type Window = readonly [startedAt: number, endedAt: number];

function persistentSummary(ws: PersistentStats, sse: SseStats): Persistent {
  const codes = ws.websocket.closeCodes;
  return {
    wsCloses: Object.values(codes).reduce((a, n) => a + n, 0),
    wsCloses1001: codes['1001'] ?? 0,
    wsCloseCodes: codes,
    sseEnds: sse.ends,
    sseEndsAfterRetry: sse.endsAfterRetry,
    sseCut: sse.cut,
  };
}

function summarize(round_: number, contender: Contender, workers: number, stats: PacedLoadStats, windows: readonly Window[], persistent: Persistent): Run {
  const inReload = (t: number): boolean => windows.some(([a, b]) => t >= a && t <= b);
  const steady = stats.latencies.filter((l) => l.sentAt < windows[0]![0]).map((l) => l.ms);
  const during = stats.latencies.filter((l) => inReload(l.sentAt)).map((l) => l.ms);
  const steadyP99 = quantile(steady, 0.99);
  const reloadP99 = quantile(during, 0.99);
  return {
    round: round_,
    contender,
    workers,
    reloadWallMs: windows.map(([a, b]) => round(b - a, 0)),
    requests: stats.sent,
    failed: stats.failed,
    failures: stats.failures,
    samples: stats.samples.slice(0, 5),
    steadyP99Ms: round(steadyP99, 1),
    reloadP99Ms: round(reloadP99, 1),
    p99Ratio: round(reloadP99 / steadyP99, 3),
    persistent,
  };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Steady load, then RELOADS reloads in a row (each by `reload`, which resolves when it is
 * complete), with the WebSocket and SSE clients connected throughout.
 */
async function underLoad(port: number, reload: (i: number) => Promise<void>): Promise<{ stats: PacedLoadStats; windows: Window[]; persistent: Persistent }> {
  const origin = `http://127.0.0.1:${port}`;
  const load = startPacedLoad({ origin, rate: RATE, postShare: 0.3, postPath: '/', slowEvery: 1_000_000, slowPath: '/', maxRequests: 200_000, maxDurationMs: 300_000, connections: 128 });
  const ws = startPersistentClients({ origin, websockets: WEBSOCKETS, eventSources: 0 });
  const sse = startSseClients(origin, SSE_CLIENTS);
  const windows: Window[] = [];
  const stopAll = (): Promise<[PacedLoadStats, PersistentStats, SseStats]> => Promise.all([load.stop(), ws.stop(5_000), sse.stop(5_000)]);
  try {
    await delay(STEADY_MS);
    for (let i = 0; i < RELOADS; i += 1) {
      const startedAt = Date.now();
      await reload(i);
      windows.push([startedAt, Date.now()]);
      await delay(GAP_MS);
    }
  } catch (err) {
    // Stopped in every case, so a failed reload leaves no client running.
    await stopAll();
    throw err;
  }
  const [stats, wsStats, sseStats] = await stopAll();
  return { stats, windows, persistent: persistentSummary(wsStats, sseStats) };
}

async function runOnce(round_: number, contender: Contender, workers: number, dir: string, log: BenchOptions['log']): Promise<Run> {
  const port = await freePort();
  const script = join(dir, contender === 'pm2-close' ? 'close-worker.cjs' : 'drainkit-worker.cjs');
  if (contender === 'drainkit-cluster') {
    const cluster = await spawnCluster([CLI, 'cluster', '--workers', String(workers), '--port', String(port), '--log-level', 'warn', script], 60_000);
    try {
      const r = await underLoad(port, async (i) => {
        cluster.child.kill('SIGHUP');
        const line = await cluster.waitFor('reload_complete', i, 120_000);
        if (line.ok !== true) throw new Error(`drainkit cluster reload ${i + 1} failed: ${JSON.stringify(line)}`);
      });
      return summarize(round_, contender, workers, r.stats, r.windows, r.persistent);
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
    const r = await underLoad(port, async (i) => {
      const reloaded = await run(PM2, ['reload', 'bench'], env, 120_000);
      if (reloaded.code !== 0) log(`pm2 reload ${i + 1} exited ${reloaded.code}: ${reloaded.out.slice(-500)}`);
    });
    return summarize(round_, contender, workers, r.stats, r.windows, r.persistent);
  } finally {
    await run(PM2, ['kill'], env, 60_000).catch((err: unknown) => log(`pm2 kill: ${String(err)}`));
    rmSync(home, { recursive: true, force: true });
  }
}

/** pm2's version, from its package.json next to the binary `PM2` resolves to (no daemon started). */
function pm2Version(): string {
  try {
    return (JSON.parse(readFileSync(join(dirname(realpathSync(PM2)), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** A positive integer from the environment, or `fallback`; anything else is an error naming it. */
function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9]\d{0,2}$/.test(raw)) throw new Error(`${name} must be a whole number from 1 to 999, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function envSizes(name: string, fallback: readonly number[]): readonly number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const sizes = raw.split(',').map((x) => x.trim());
  if (!sizes.every((x) => /^[1-9]\d?$/.test(x))) throw new Error(`${name} must be worker counts from 1 to 99, comma-separated (e.g. 3,8), got ${JSON.stringify(raw)}`);
  return sizes.map(Number);
}

/** The contenders in round `r`'s order: rotated by one each round. */
function rotated<T>(items: readonly T[], r: number): T[] {
  const k = r % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export const clusterReload: Benchmark = {
  name: 'cluster-reload',
  async run({ quick, log }): Promise<BenchResult> {
    const havePm2 = existsSync(PM2);
    if (!havePm2) log(`pm2 not found at ${PM2} (npm install --prefix /tmp/pm2bench pm2, or PM2_BIN): pm2 contenders skipped`);
    const contenders: Contender[] = havePm2 ? ['pm2-close', 'pm2-drainkit', 'drainkit-cluster'] : ['drainkit-cluster'];
    const sizes = envSizes('BENCH_CLUSTER_SIZES', quick ? [3] : [3, 8]);
    const rounds = envCount('BENCH_CLUSTER_ROUNDS', quick ? 1 : 3);
    const dir = mkdtempSync(join(os.tmpdir(), 'drainkit-cluster-bench-'));
    writeFileSync(join(dir, 'close-worker.cjs'), workerSource(false));
    writeFileSync(join(dir, 'drainkit-worker.cjs'), workerSource(true));
    const runs: Run[] = [];
    try {
      for (let round_ = 0; round_ < rounds; round_ += 1) {
        for (const workers of sizes) {
          for (const contender of rotated(contenders, round_)) {
            const r = await runOnce(round_, contender, workers, dir, log);
            const p = r.persistent;
            log(`round ${round_ + 1} ${contender} ×${workers}: ${r.failed}/${r.requests} failed ${JSON.stringify(r.failures)}, reloads ${r.reloadWallMs.join(', ')} ms, p99 ${r.reloadP99Ms} ms vs steady ${r.steadyP99Ms} ms; WS ${p.wsCloses1001}/${p.wsCloses} closed 1001 ${JSON.stringify(p.wsCloseCodes)}, SSE ${p.sseEndsAfterRetry}/${p.sseEnds} ended after retry: (${p.sseCut} cut)`);
            runs.push(r);
          }
        }
      }
    } finally {
      await killTracked();
      rmSync(dir, { recursive: true, force: true });
    }
    const by = (c: Contender, n: number): Run[] => runs.filter((r) => r.contender === c && r.workers === n);
    const sum = (rs: readonly Run[], f: (r: Run) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const table = sizes.flatMap((n) =>
      contenders.map((c) => {
        const rs = by(c, n);
        return {
          contender: c,
          workers: n,
          reloads: sum(rs, (r) => r.reloadWallMs.length),
          failed: sum(rs, (r) => r.failed),
          requests: sum(rs, (r) => r.requests),
          reloadWallMedianMs: round(median(rs.flatMap((r) => r.reloadWallMs)), 0),
          reloadWallMinMs: Math.min(...rs.flatMap((r) => r.reloadWallMs)),
          reloadWallMaxMs: Math.max(...rs.flatMap((r) => r.reloadWallMs)),
          steadyP99MedianMs: round(median(rs.map((r) => r.steadyP99Ms)), 1),
          reloadP99MedianMs: round(median(rs.map((r) => r.reloadP99Ms)), 1),
          p99RatioMedian: round(median(rs.map((r) => r.p99Ratio)), 3),
          p99RatioMax: Math.max(...rs.map((r) => r.p99Ratio)),
          wsCloses: sum(rs, (r) => r.persistent.wsCloses),
          wsCloses1001: sum(rs, (r) => r.persistent.wsCloses1001),
          sseEnds: sum(rs, (r) => r.persistent.sseEnds),
          sseEndsAfterRetry: sum(rs, (r) => r.persistent.sseEndsAfterRetry),
        };
      }),
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
      headline: ours.map((t) => `${t.workers} workers: ${t.failed} failed, reload ${t.reloadWallMedianMs} ms, p99 ×${t.p99RatioMedian}, WS 1001 ${t.wsCloses1001}/${t.wsCloses}, SSE retry: ${t.sseEndsAfterRetry}/${t.sseEnds}`).join('; '),
      config: { rate: RATE, workMs: WORK_MS, postShare: 0.3, steadyMs: STEADY_MS, reloadsPerRun: RELOADS, gapMs: GAP_MS, websockets: WEBSOCKETS, sseClients: SSE_CLIENTS, sseIntervalMs: SSE_INTERVAL_MS, rounds, sizes, contenders, pm2: havePm2 ? PM2 : null, pm2Version: havePm2 ? pm2Version() : null, cores: os.availableParallelism() },
      table,
      runs,
    };
  },
};
