/**
 * Reconnect storms (issue 12): three instances behind a real HAProxy, 3,000 WebSocket clients
 * through it that reconnect the moment their socket closes; one instance is drained (SIGTERM).
 * Measured on the survivors: the peak rate of reconnects landing on them (successful opens per
 * second, over a sliding 1 s window and over 100 ms buckets) and the p99 round trip of a paced
 * echo load sent straight to them (a probe process, not through the balancer) during the storm,
 * against the same probe's p99 before the drain in the same sample.
 *
 * Variants of the drained instance, interleaved round by round:
 * - `spread-<n>`: `drainkit example-server --persistent-spread-ms <n>`: 1001 close frames spread
 *   at random over n ms (the default, 0, 1,000 (the previous default), 2,500 and 5,000 ms);
 * - `destroy`: the peers' behaviour (bench/children/destroy-server.ts): readiness 503 at SIGTERM,
 *   then, once the balancer's first 503 probe is answered, every socket destroyed at once with
 *   no close frame.
 * The survivors are always `drainkit example-server` with the defaults. Each sample starts from
 * scratch (fresh servers, HAProxy and clients), so every drain starts from 1,000 clients per instance.
 *
 * BENCH_STORM_CLIENTS and BENCH_STORM_ROUNDS override the client count (3,000; 600 with --quick)
 * and the rounds (3; 1 with --quick).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findHaproxy, startHaproxy, type Haproxy } from '../test/helpers/haproxy.js';
import { freePort } from '../test/helpers/processes.js';
import { exitWithin, killAll, listeningPort, ROOT, spawnBenchChild, spawnNode, type Child } from './lib/children.js';
import { openFilesLimit } from './lib/machine.js';
import { quantile, round, summarize } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const CHECK_INTERVAL_MS = 500;
/** The survivors' (and drained instance's) window: adaptive, confirmed by HAProxy's first 503 probe (fall 1). */
const SERVER_FLAGS = ['--log-level', 'warn', '--log-format', 'json', '--deregister-mode', 'adaptive', '--deregister-delay-ms', '5000', '--probe-failure-threshold', '1'];
const PROBE_RATE_PER_SEC = 500;
const PROBE_SOCKETS_PER_PORT = 10;

interface Sample {
  readonly variant: string;
  readonly clients: number;
  readonly reconnects: number;
  readonly failedAttempts: Readonly<Record<string, number>>;
  /** Successful reconnects in the busiest sliding 1 s window. */
  readonly peakPerSecond: number;
  /** The busiest 100 ms bucket, × 10 (an instantaneous rate). */
  readonly peak100msPerSecond: number;
  /** First to last reconnect, ms. */
  readonly stormMs: number;
  /** SIGTERM to the drained instance's exit, ms. */
  readonly drainMs: number;
  readonly baselineP99Ms: number;
  readonly stormP99Ms: number;
  readonly stormP50Ms: number;
  readonly stormMaxMs: number;
  readonly stormProbeSamples: number;
  readonly probeLost: number;
  /** 503 answers HAProxy logged during the sample, by the server that gave them (`<NOSRV>`: no server up). */
  readonly balancer503By: Readonly<Record<string, number>>;
  /** Health-check DOWN transitions of the survivors (a survivor too busy to answer its check in time). */
  readonly survivorDownTransitions: number;
  /** HAProxy's "Server be_app/sN is DOWN" lines, in order (which server, and its reason). */
  readonly downEvents: readonly string[];
}

/** The core's default spread, read from the build so the label follows the code. */
async function defaultSpreadMs(): Promise<number> {
  const options = (await import(pathToFileURL(join(ROOT, 'dist', 'core', 'options.js')).href)) as { DEFAULTS: { persistentSpreadMs: number } };
  return options.DEFAULTS.persistentSpreadMs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** The largest number of timestamps within any `spanMs` window. */
function peakIn(times: readonly number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi += 1) {
    while (sorted[hi]! - sorted[lo]! >= spanMs) lo += 1;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function startServer(variant: string, port: number): Child {
  if (variant === 'destroy') return spawnBenchChild('destroy-server', ['--port', String(port)]);
  const spread = variant.startsWith('spread-') ? ['--persistent-spread-ms', variant.slice('spread-'.length)] : [];
  return spawnNode([CLI, 'example-server', '--port', String(port), ...SERVER_FLAGS, ...spread]);
}

async function once(variant: string, clientsWanted: number, baselineMs: number): Promise<Sample> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const servers: Child[] = [];
  const children: Child[] = [];
  let haproxy: Haproxy | undefined;
  try {
    servers.push(startServer(variant, ports[0]!), startServer('survivor', ports[1]!), startServer('survivor', ports[2]!));
    await Promise.all(servers.map((s) => listeningPort(s)));
    haproxy = await startHaproxy({ servers: ports.map((port, i) => ({ name: `s${i + 1}`, port })), checkIntervalMs: CHECK_INTERVAL_MS, maxconn: 8_000 });
    for (const s of ['s1', 's2', 's3']) await haproxy.waitUntil(s, 'UP', 30_000);

    const clients = spawnBenchChild('storm-clients', [], { ipc: true });
    const probe = spawnBenchChild('storm-clients', [], { ipc: true });
    children.push(clients, probe);
    await Promise.all([clients.line('ready'), probe.line('ready')]);
    const connected = await clients.call<{ open: number }>({ cmd: 'connect', port: haproxy.port, count: clientsWanted, concurrency: 100 });
    if (connected.open !== clientsWanted) throw new Error(`${variant}: ${connected.open} of ${clientsWanted} clients connected`);
    await probe.call({ cmd: 'probeStart', ports: ports.slice(1), socketsPerPort: PROBE_SOCKETS_PER_PORT, ratePerSec: PROBE_RATE_PER_SEC });
    await sleep(baselineMs);

    const drained = servers[0]!;
    const signalledAt = performanceEpoch();
    drained.proc.kill('SIGTERM');
    const exit = await exitWithin(drained, 30_000);
    if (!exit) throw new Error(`${variant}: the drained instance did not exit within 30 s`);
    const drainMs = performanceEpoch() - signalledAt;
    await waitUntil(`${variant}: every client reconnected`, async () => (await clients.call<{ open: number }>({ cmd: 'status' })).open === clientsWanted, 30_000);
    await sleep(500);
    const stats = await clients.call<{ reconnects: number[]; failures: Record<string, number> }>({ cmd: 'stats', since: signalledAt });
    const probed = await probe.call<{ samples: [number, number][]; lost: number }>({ cmd: 'probeStop' });

    const balancer503By: Record<string, number> = {};
    const downEvents: string[] = [];
    for (const { text } of haproxy.logs) {
      const down = /Server be_app\/(s\d) is DOWN, reason: ([^,]+)/.exec(text);
      if (down) downEvents.push(`${down[1]!}: ${down[2]!}`);
      const m = / be_app\/(\S+) \S+ 503 /.exec(text);
      if (m) balancer503By[m[1]!] = (balancer503By[m[1]!] ?? 0) + 1;
    }
    const survivorDownTransitions = (await haproxy.servers()).filter((sv) => sv.name !== 's1').reduce((n, sv) => n + sv.downTransitions, 0);
    const reconnects = stats.reconnects;
    if (reconnects.length < clientsWanted / 3) throw new Error(`${variant}: only ${reconnects.length} reconnects, expected about ${Math.round(clientsWanted / 3)}`);
    const first = Math.min(...reconnects);
    const last = Math.max(...reconnects);
    // "During the storm": from its first reconnect to 250 ms after its last (the survivors'
    // backlog of upgrades and what they delayed), at least 250 ms.
    const during = probed.samples.filter(([at]) => at >= first && at <= Math.max(last, first) + 250).map(([, rtt]) => rtt);
    const before = probed.samples.filter(([at]) => at >= signalledAt - baselineMs && at < signalledAt).map(([, rtt]) => rtt);
    return {
      variant,
      clients: clientsWanted,
      reconnects: reconnects.length,
      failedAttempts: stats.failures,
      peakPerSecond: peakIn(reconnects, 1_000),
      peak100msPerSecond: peakIn(reconnects, 100) * 10,
      stormMs: round(last - first, 1),
      drainMs: round(drainMs, 0),
      baselineP99Ms: round(quantile(before, 0.99)),
      stormP99Ms: round(quantile(during, 0.99)),
      stormP50Ms: round(quantile(during, 0.5)),
      stormMaxMs: round(Math.max(...during)),
      stormProbeSamples: during.length,
      probeLost: probed.lost,
      balancer503By,
      survivorDownTransitions,
      downEvents,
    };
  } finally {
    for (const c of children) await c.call({ cmd: 'closeAll' }, 5_000).catch(() => undefined);
    await killAll([...children, ...servers]);
    await haproxy?.stop();
  }
}

/** A positive integer from `name` in the environment (recorded in the saved command), else `fallback`. */
function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9]\d{0,5}$/.test(raw)) throw new Error(`${name} is ${JSON.stringify(raw)}; accepted: a positive integer`);
  return Number(raw);
}

function performanceEpoch(): number {
  return performance.timeOrigin + performance.now();
}

export const reconnectStorm: Benchmark = {
  name: 'reconnect-storm',
  async run({ quick, log }): Promise<BenchResult> {
    if (!findHaproxy()) throw new Error('reconnect-storm needs HAProxy (Debian package "haproxy", or set HAPROXY_BIN)');
    const spreadDefault = await defaultSpreadMs();
    // The default, none, the peers' all-at-once, and longer spreads to choose the default from.
    const variants = [...new Set([`spread-${spreadDefault}`, 'spread-0', 'spread-1000', 'spread-2500', 'spread-5000', 'destroy'])];
    const clients = envCount('BENCH_STORM_CLIENTS', quick ? 600 : 3_000);
    const rounds = envCount('BENCH_STORM_ROUNDS', quick ? 1 : 3);
    const baselineMs = quick ? 1_000 : 2_000;
    const limit = openFilesLimit();
    // HAProxy holds two descriptors per client; the client process one.
    if (limit < clients * 2 + 1_000) throw new Error(`ulimit -n is ${limit}; reconnect-storm with ${clients} clients needs at least ${clients * 2 + 1_000}`);
    const samples: Sample[] = [];
    for (let r = 0; r < rounds; r += 1) {
      const order = variants.map((_, k) => variants[(r + k) % variants.length]!);
      for (const variant of order) {
        const s = await once(variant, clients, baselineMs);
        samples.push(s);
        log(`reconnect-storm: round ${r + 1}/${rounds} ${variant}: ${s.reconnects} reconnects over ${s.stormMs} ms, peak ${s.peakPerSecond}/s (100 ms: ${s.peak100msPerSecond}/s), p99 ${s.baselineP99Ms} → ${s.stormP99Ms} ms, failed attempts ${JSON.stringify(s.failedAttempts)}, 503s by server ${JSON.stringify(s.balancer503By)}, survivor DOWN transitions ${s.survivorDownTransitions} ${JSON.stringify(s.downEvents)}, drain ${s.drainMs} ms`);
      }
    }
    const of = (v: string): Sample[] => samples.filter((s) => s.variant === v);
    const byVariant = Object.fromEntries(
      variants.map((v) => [
        v,
        {
          peakPerSecond: summarize(of(v).map((s) => s.peakPerSecond), 0),
          peak100msPerSecond: summarize(of(v).map((s) => s.peak100msPerSecond), 0),
          stormMs: summarize(of(v).map((s) => s.stormMs), 0),
          baselineP99Ms: summarize(of(v).map((s) => s.baselineP99Ms)),
          stormP99Ms: summarize(of(v).map((s) => s.stormP99Ms)),
          p99Ratio: summarize(of(v).map((s) => s.stormP99Ms / s.baselineP99Ms)),
          drainMs: summarize(of(v).map((s) => s.drainMs), 0),
          failedAttempts: of(v).reduce((n, s) => n + Object.values(s.failedAttempts).reduce((a, b) => a + b, 0), 0),
        },
      ]),
    );
    const med = (v: string, key: 'peakPerSecond' | 'stormP99Ms'): number => summarize(of(v).map((s) => s[key])).median;
    const d = `spread-${spreadDefault}`;
    return {
      benchmark: 'reconnect-storm',
      target: 'none (a measurement): the spread that keeps the survivors\' peak reconnect rate and p99 lowest without lengthening drains for nothing',
      met: null,
      headline: `default spread ${spreadDefault} ms: peak ${med(d, 'peakPerSecond')} reconnects/s, p99 ${med(d, 'stormP99Ms')} ms; spread 0: ${med('spread-0', 'peakPerSecond')}/s, ${med('spread-0', 'stormP99Ms')} ms; destroy: ${med('destroy', 'peakPerSecond')}/s, ${med('destroy', 'stormP99Ms')} ms (medians of ${rounds}, ${clients} clients)`,
      config: { clients, instances: 3, rounds, baselineMs, checkIntervalMs: CHECK_INTERVAL_MS, probeRatePerSec: PROBE_RATE_PER_SEC, probeSockets: PROBE_SOCKETS_PER_PORT * 2, defaultSpreadMs: spreadDefault, variants },
      byVariant,
      samples,
    };
  },
};
