/**
 * Time from the listener closing to process exit with many idle keep-alive connections open and
 * nothing in flight. The connections come from a separate child (raw TCP, one `GET /` each, then
 * idle at the server's parser); the server is `bench/children/idle-server.ts`.
 *
 * Measured, per run:
 * - `closingToExitEventMs`: inside the server, from the 'closing' phase (stamped right before
 *   the listener closes) to the process's own `exit` event: one clock, no IPC in between.
 * - `closingToExitMs`: from the same stamp to the `exit` event of the child in this process
 *   (epoch clocks of two processes on one host), i.e. including Node's teardown and the
 *   child-exit notification.
 * Three comparisons without drainkit run interleaved with it: `terminus` (the peer library),
 * `bare` (`server.close()` on SIGTERM
 * and a natural exit: the floor for Node closing that many sockets) and `kernel`
 * (`process.exit(0)` with the sockets open, so the kernel closes them: the floor for any
 * process on this host, since on loopback the kernel also does the peer's side of each close).
 */
import { performance } from 'node:perf_hooks';
import { exitWithin, listeningPort, spawnBenchChild, type Child } from './lib/children.js';
import { openFilesLimit } from './lib/machine.js';
import { round, summarize } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const VARIANTS = ['drainkit', 'bare', 'terminus', 'kernel'] as const;
type Variant = (typeof VARIANTS)[number];
const WANTED = 5_000;
/** File descriptors each process keeps for itself besides the connections. */
const FD_HEADROOM = 200;

interface Sample {
  readonly variant: Variant;
  readonly connections: number;
  readonly closingToExitEventMs: number;
  readonly closingToExitMs: number;
  /** drainkit: the 'closing' phase → `drained` (the drain's own end), ms. */
  readonly closingToDrainedMs: number | undefined;
}

async function once(variant: Variant, opener: Child, count: number): Promise<Sample> {
  const server = spawnBenchChild('idle-server', ['--variant', variant]);
  try {
    const port = await listeningPort(server);
    const opened = await opener.call<{ open: number; failed: number; ms: number }>({ cmd: 'open', port, count, concurrency: 200 });
    if (opened.open !== count) throw new Error(`opened ${opened.open} of ${count} connections (${opened.failed} failed)`);
    server.proc.kill('SIGTERM');
    const exit = await exitWithin(server, 30_000);
    if (!exit) throw new Error(`${variant}: no exit within 30 s of SIGTERM`);
    if (exit.code !== 0) throw new Error(`${variant}: exit code ${exit.code} signal ${exit.signal}`);
    const at = (event: string): number | undefined => {
      const v = server.lines.find((l) => l.data.event === event)?.data.at;
      return typeof v === 'number' ? v : undefined;
    };
    const closing = at('closing');
    const exitEvent = at('exit');
    if (closing === undefined || exitEvent === undefined) throw new Error(`${variant}: missing closing/exit lines`);
    const drained = at('drained');
    const closingLine = server.lines.find((l) => l.data.event === 'closing')!.data;
    if (variant === 'drainkit' && closingLine.connections !== count) throw new Error(`drainkit tracked ${String(closingLine.connections)} connections, expected ${count}`);
    // The opener sees every connection closed by the server; wait for it so runs do not overlap.
    for (let i = 0; i < 100 && (await opener.call<{ open: number }>({ cmd: 'status' })).open > 0; i += 1) await new Promise((r) => setTimeout(r, 50));
    return {
      variant,
      connections: count,
      closingToExitEventMs: exitEvent - closing,
      closingToExitMs: performance.timeOrigin + exit.at - closing,
      closingToDrainedMs: drained === undefined ? undefined : drained - closing,
    };
  } finally {
    await server.kill();
  }
}

export const idleClose: Benchmark = {
  name: 'idle-close',
  async run({ quick, log }): Promise<BenchResult> {
    const limit = openFilesLimit();
    const count = Math.min(quick ? 2_000 : WANTED, limit - FD_HEADROOM);
    if (count < WANTED) log(`idle-close: ulimit -n is ${limit}: ${count} connections instead of ${WANTED}`);
    const rounds = quick ? 2 : 5;
    const opener = spawnBenchChild('conns', [], { ipc: true });
    const samples: Sample[] = [];
    try {
      await opener.line('ready');
      for (let r = 0; r < rounds; r += 1) {
        // Rotate the order so no variant always follows the same neighbour.
        const order = VARIANTS.map((_, k) => VARIANTS[(r + k) % VARIANTS.length]!);
        for (const variant of order) {
          const s = await once(variant, opener, count);
          samples.push(s);
          log(`idle-close: round ${r + 1}/${rounds} ${variant}: closing → own exit event ${s.closingToExitEventMs.toFixed(1)} ms, → exit seen here ${s.closingToExitMs.toFixed(1)} ms`);
        }
      }
    } finally {
      await opener.kill();
    }
    const of = (v: Variant): Sample[] => samples.filter((s) => s.variant === v);
    const stats = (v: Variant): Record<string, unknown> => ({
      closingToExitMs: summarize(of(v).map((s) => s.closingToExitMs)),
      closingToExitEventMs: summarize(of(v).map((s) => s.closingToExitEventMs)),
      ...(v === 'drainkit' && { closingToDrainedMs: summarize(of(v).map((s) => s.closingToDrainedMs ?? Number.NaN)) }),
    });
    const drainkit = summarize(of('drainkit').map((s) => s.closingToExitMs));
    const bestPeer = Math.min(...(['bare', 'terminus'] as const).map((v) => summarize(of(v).map((s) => s.closingToExitMs)).median));
    return {
      benchmark: 'idle-close',
      target: 'exit after the listener closes, 5,000 idle keep-alive connections: median ≤ the best of server.close() and terminus',
      met: count >= WANTED ? drainkit.median <= bestPeer : null,
      headline: `median ${drainkit.median} ms, max ${drainkit.max} ms (${count} connections); best peer median ${round(bestPeer)} ms`,
      config: { connections: count, openFilesLimit: limit, rounds },
      drainkit: stats('drainkit'),
      bare: stats('bare'),
      terminus: stats('terminus'),
      kernel: stats('kernel'),
      samples: samples.map((s) => ({ ...s, closingToExitEventMs: round(s.closingToExitEventMs), closingToExitMs: round(s.closingToExitMs), closingToDrainedMs: s.closingToDrainedMs === undefined ? null : round(s.closingToDrainedMs) })),
    };
  },
};
