/**
 * Time from the last response to process exit. The example server (`drainkit example-server`,
 * zero fixed window) gets one in-flight `GET /work?ms=300`, then SIGTERM while it is in flight;
 * we measure from the moment the client has read the end of the response to the child's `exit`
 * event in this process.
 *
 * That span includes costs that are not drainkit's: the client's FIN reaching the server (the
 * server half-closes after a `Connection: close` response and waits for it, so the tail of the
 * response cannot be lost to an RST), Node's own teardown, and the kernel's SIGCHLD plus libuv's
 * child-exit notification here. Two baselines without drainkit, interleaved with it, show that
 * floor: `process.exit(0)` in the response's 'finish' handler, and a natural exit after a
 * `Connection: close` response.
 *
 * The client is a raw TCP socket that ends its side as soon as the response is complete, which
 * is what undici and browsers do with a `Connection: close` response.
 *
 * The server runs pinned to one core and this process (the client) to the other. Unpinned, the
 * kernel often woke the client on the server's own core, where it preempted the server in the
 * middle of writing the response: the server's `writev` then lasted as long as the client took
 * to read and send its FIN, and the server read that FIN only after. Which runs it happened to
 * depended on the variant, not on what the server did after the response (2026-12-03, 20 runs
 * each, the CPU read from /proc/thread-self/stat: the client on the server's core in 75–85 % of
 * drainkit's runs and 10–20 % of terminus's; the response's `writev` 0.58–0.66 ms when it
 * was, 0.23–0.35 ms when not; runs on different cores were level, 2.96 ms to the exit event
 * against 2.97). In production the client is a balancer on another host, so the pinned figure
 * is the one that says what the server costs.
 *
 * Each round runs every variant once, so the comparisons are paired: the benchmark reports the
 * median of the per-round differences with a 95 % interval for it (the sign test's, which
 * assumes nothing of the noise's shape). On a shared two-core guest one run's spread is several
 * milliseconds while the differences that matter are tenths; only the interval says whether a
 * difference was resolved.
 *
 * `BENCH_EXIT_BASELINE_DIST=<dir>` adds a variant: the small server with drainkit loaded from
 * another build's `dist/` (a worktree of an earlier commit, say), paired with this build's in
 * every round, to see whether a change moved the exit. `BENCH_EXIT_ROUNDS` sets the number of
 * rounds (default 20).
 *
 * While pinned, an idle-priority busy loop runs on each core (`startIdleSpinners`): it keeps the
 * guest's vCPUs from halting, whose wake-ups by the hypervisor were most of the run-to-run noise
 * here. `BENCH_IDLE_SPINNERS=0` leaves them out.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { benchChildPath, exitWithin, listeningPort, pinToCore, spawnBenchChild, spawnNode, startIdleSpinners, type Child } from './lib/children.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { positiveIntEnv, switchEnv } from './lib/env.js';
import { median, medianInterval, round, summarize } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const STANDARD_VARIANTS = ['drainkit', 'drainkit-small', 'terminus', 'baseline-process-exit', 'baseline-natural'] as const;
/** The small server on another build of drainkit (`BENCH_EXIT_BASELINE_DIST`). */
const BASELINE_BUILD = 'drainkit-small-baseline-build';
type Variant = (typeof STANDARD_VARIANTS)[number] | typeof BASELINE_BUILD;

const WORK_MS = 300;
/** The signal goes out this long after the request (well inside the 300 ms of work). */
const SIGNAL_AFTER_MS = 100;

/** The server's core and the client's (this process's), when there are two to pin to. */
const SERVER_CORE = '0';
const CLIENT_CORE = '1';

const EXAMPLE_SERVER_ARGS = ['dist/cli/main.js', 'example-server', '--port', '0', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0', '--log-level', 'silent'];

/** The other build's `dist/` from `BENCH_EXIT_BASELINE_DIST`, checked, or undefined when unset. */
function baselineDist(): string | undefined {
  const raw = process.env.BENCH_EXIT_BASELINE_DIST;
  if (raw === undefined || raw === '') return undefined;
  const dir = resolve(raw);
  if (!existsSync(join(dir, 'index.js'))) throw new Error(`BENCH_EXIT_BASELINE_DIST must be a built drainkit dist/ directory (holding index.js); ${dir} has none`);
  return dir;
}

function start(variant: Variant, otherDist: string | undefined): Child {
  const execArgv = ['--import', benchChildPath('exit-stamp')];
  if (variant === 'drainkit') return spawnNode(EXAMPLE_SERVER_ARGS, { execArgv });
  if (variant === BASELINE_BUILD) return spawnBenchChild('exit-baseline', ['--exit', 'drainkit', '--dist', otherDist!], { execArgv });
  // drainkit-small: drainkit on the same small server as terminus and the baselines.
  const mode = variant === 'terminus' ? 'terminus' : variant === 'drainkit-small' ? 'drainkit' : variant === 'baseline-process-exit' ? 'process-exit' : 'natural';
  return spawnBenchChild('exit-baseline', ['--exit', mode], { execArgv });
}

interface Response {
  readonly status: number;
  readonly connectionClose: boolean;
  /** performance.now() when the last byte of the body was read. */
  readonly endAt: number;
}

/** Sends one request on a fresh connection; resolves when the whole response has been read. */
function request(port: number, path: string, timeoutMs: number): { sent: Promise<void>; response: Promise<Response> } {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const sent = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, () => resolve()));
    socket.once('error', reject);
  });
  const response = new Promise<Response>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const head = buffered.indexOf('\r\n\r\n');
      if (head === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, head))?.[1] ?? Number.NaN);
      if (!(buffered.length >= head + 4 + length)) return;
      const endAt = performance.now();
      clearTimeout(timer);
      socket.end(); // our FIN, as a client does after `Connection: close`
      resolve({
        status: Number(buffered.slice(9, 12)),
        connectionClose: /\r\nconnection: *close/i.test(buffered.slice(0, head)),
        endAt,
      });
    });
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('connection closed before the response was complete')));
  });
  return { sent, response };
}

interface Sample {
  readonly variant: Variant;
  /** The round it ran in: samples of one round are paired. */
  readonly round: number;
  /** Last byte of the response read → child's `exit` event, ms. */
  readonly exitMs: number;
  /** Last byte of the response read → `drain_complete` line read (drainkit only), ms. */
  readonly drainCompleteMs: number | undefined;
  /** Last byte of the response read → the child's own `exit` event (its clock, epoch ms), ms. */
  readonly exitEventMs: number;
}

async function once(variant: Variant, roundIndex: number, pinned: boolean, otherDist: string | undefined): Promise<Sample> {
  const child = start(variant, otherDist);
  try {
    const port = await listeningPort(child);
    if (pinned) pinToCore(child.proc.pid!, SERVER_CORE);
    const { sent, response } = request(port, `/work?ms=${WORK_MS}`, 10_000);
    await sent;
    await new Promise((r) => setTimeout(r, SIGNAL_AFTER_MS));
    child.proc.kill('SIGTERM');
    const res = await response;
    if (res.status !== 200) throw new Error(`${variant}: status ${res.status}`);
    if ((variant === 'drainkit' || variant === 'drainkit-small' || variant === BASELINE_BUILD) && !res.connectionClose) throw new Error('drainkit: the in-flight response during the drain lacks Connection: close');
    const exit = await exitWithin(child, 10_000);
    if (!exit) throw new Error(`${variant}: no exit within 10 s of the last response`);
    if (exit.code !== 0) throw new Error(`${variant}: exit code ${exit.code} signal ${exit.signal}`);
    const drainComplete = child.lines.find((l) => l.data.event === 'drain_complete');
    const exitEvent = child.lines.find((l) => l.data.event === 'exit-event');
    if (typeof exitEvent?.data.at !== 'number') throw new Error(`${variant}: no exit-event line`);
    return {
      variant,
      round: roundIndex,
      exitMs: exit.at - res.endAt,
      drainCompleteMs: drainComplete ? drainComplete.at - res.endAt : undefined,
      exitEventMs: exitEvent.data.at - (performance.timeOrigin + res.endAt),
    };
  } finally {
    await child.kill();
  }
}

export const exitLatency: Benchmark = {
  name: 'exit-latency',
  async run({ quick, log }): Promise<BenchResult> {
    const iterations = quick ? 4 : positiveIntEnv('BENCH_EXIT_ROUNDS', 20);
    const otherDist = baselineDist();
    const variants: readonly Variant[] = otherDist ? [...STANDARD_VARIANTS, BASELINE_BUILD] : STANDARD_VARIANTS;
    const samples: Sample[] = [];
    const pinned = availableParallelism() >= 2;
    const spinning = pinned && switchEnv('BENCH_IDLE_SPINNERS', true, '1 runs an idle-priority busy loop on each core, 0 none');
    const stopSpinners = spinning ? startIdleSpinners([SERVER_CORE, CLIENT_CORE]) : () => undefined;
    if (pinned) pinToCore(process.pid, CLIENT_CORE);
    try {
      // One warm-up of each (page cache, first spawn), not counted.
      for (const variant of variants) await once(variant, -1, pinned, otherDist);
      for (let i = 0; i < iterations; i += 1) {
        // Rotate the order so no variant always runs right after the same neighbour.
        const order = variants.map((_, k) => variants[(i + k) % variants.length]!);
        for (const variant of order) samples.push(await once(variant, i, pinned, otherDist));
        log(`exit-latency: iteration ${i + 1}/${iterations}: ${samples.slice(-variants.length).map((s) => `${s.variant} ${s.exitMs.toFixed(2)} ms (own exit event at ${s.exitEventMs.toFixed(2)})`).join(', ')}`);
      }
    } finally {
      stopSpinners();
      if (pinned) pinToCore(process.pid, `0-${availableParallelism() - 1}`);
    }
    const of = (variant: Variant): Sample[] => samples.filter((s) => s.variant === variant);
    const perVariant = Object.fromEntries(variants.map((v) => [v, summarize(of(v).map((s) => s.exitMs))]));
    const exitEventPerVariant = Object.fromEntries(variants.map((v) => [v, summarize(of(v).map((s) => s.exitEventMs))]));
    const drainkit = perVariant.drainkit!;
    const drainCompleteMs = summarize(of('drainkit').map((s) => s.drainCompleteMs ?? Number.NaN));
    const sampleOf = new Map(samples.map((s) => [`${s.variant}@${s.round}`, s]));
    /** Per round, `a`'s figure minus `b`'s: the median difference and its 95 % interval. */
    const paired = (a: Variant, b: Variant, pick: (s: Sample) => number): { median: number; low: number | null; high: number | null } => {
      const diffs: number[] = [];
      for (let r = 0; r < iterations; r += 1) {
        const sa = sampleOf.get(`${a}@${r}`);
        const sb = sampleOf.get(`${b}@${r}`);
        if (sa && sb) diffs.push(pick(sa) - pick(sb));
      }
      const interval = medianInterval(diffs);
      return { median: round(median(diffs)), low: interval ? round(interval.low) : null, high: interval ? round(interval.high) : null };
    };
    const pairs: Array<[Variant, Variant]> = [['drainkit-small', 'terminus'], ['drainkit', 'terminus']];
    if (otherDist) pairs.push(['drainkit-small', BASELINE_BUILD], [BASELINE_BUILD, 'terminus']);
    const pairedDifferenceMs = Object.fromEntries(pairs.map(([a, b]) => [`${a} − ${b}`, { exit: paired(a, b, (s) => s.exitMs), ownExitEvent: paired(a, b, (s) => s.exitEventMs) }]));
    const small = pairedDifferenceMs['drainkit-small − terminus']!.exit;
    return {
      benchmark: 'exit-latency',
      target: 'median from the last response to exit ≤ terminus',
      met: Math.min(drainkit.median, perVariant['drainkit-small']!.median) <= perVariant.terminus!.median,
      headline: `median ${drainkit.median} ms (example server), ${perVariant['drainkit-small']!.median} ms (small server); terminus ${perVariant.terminus!.median} ms; small server − terminus per round ${small.median} ms (95 % ${small.low ?? '?'} to ${small.high ?? '?'})`,
      config: { iterations, baselineDist: otherDist ?? null, workMs: WORK_MS, signalAfterMs: SIGNAL_AFTER_MS, serverCore: pinned ? SERVER_CORE : null, clientCore: pinned ? CLIENT_CORE : null, idleSpinners: spinning, server: `node ${EXAMPLE_SERVER_ARGS.join(' ')}` },
      exitMs: perVariant,
      /** The part of exitMs spent before the child's own `exit` event (inside its event loop). */
      exitEventMs: exitEventPerVariant,
      drainkitLastResponseToDrainCompleteLineMs: drainCompleteMs,
      /** Paired by round: the median of a − b and the sign test's 95 % interval for it. */
      pairedDifferenceMs,
      medianOverBaselineMs: {
        smallOverTerminus: round(perVariant['drainkit-small']!.median - perVariant.terminus!.median),
        terminus: round(drainkit.median - perVariant.terminus!.median),
        processExit: round(drainkit.median - perVariant['baseline-process-exit']!.median),
        natural: round(drainkit.median - perVariant['baseline-natural']!.median),
      },
      samples: samples.map((s) => ({ variant: s.variant, round: s.round, exitMs: round(s.exitMs, 3), exitEventMs: round(s.exitEventMs, 3), drainCompleteMs: s.drainCompleteMs === undefined ? null : round(s.drainCompleteMs, 3) })),
    };
  },
};
