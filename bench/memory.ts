/**
 * Memory per tracked connection: N idle keep-alive connections to a hello-world server with
 * drainkit attached and to the same server bare. Each measurement uses a fresh server process
 * (`--expose-gc`), warmed with a few hundred connections opened and closed (code compiled, pools
 * and lazy state created), measured after full GCs, then again with N connections open; the
 * difference over N is the cost of one idle connection. Variants are interleaved, rounds repeat,
 * medians are reported.
 *
 * heapUsed is precise for JS objects (drainkit's Set entries, listeners, the symbol property on
 * the socket); rss also counts native memory (libuv handles, the HTTP parser, kernel-facing
 * buffers) but moves in pages and with the allocator, so it is noisier.
 */
import { listeningPort, spawnBenchChild, type Child } from './lib/children.js';
import { median, round } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const VARIANTS = ['bare', 'drainkit'] as const;
type Variant = (typeof VARIANTS)[number];
const WARMUP_CONNECTIONS = 500;
const IDLE_MS = Math.max(0, Number(process.env.BENCH_MEMORY_IDLE_MS ?? 1_500) || 0);

interface Memory {
  readonly heapUsed: number;
  readonly rss: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly tracked?: number;
}

interface Sample {
  readonly variant: Variant;
  readonly heapPerConnection: number;
  readonly rssPerConnection: number;
  readonly externalPerConnection: number;
}

async function once(variant: Variant, opener: Child, count: number): Promise<Sample> {
  const server = spawnBenchChild('hello-server', ['--variant', variant], { ipc: true, execArgv: ['--expose-gc'] });
  try {
    const port = await listeningPort(server);
    const open = async (n: number): Promise<void> => {
      const r = await opener.call<{ open: number; failed: number }>({ cmd: 'open', port, count: n, concurrency: 100 });
      if (r.open !== n) throw new Error(`opened ${r.open} of ${n} connections (${r.failed} failed)`);
    };
    await open(WARMUP_CONNECTIONS);
    await opener.call({ cmd: 'closeAll' });
    const before = await server.call<Memory>({ cmd: 'memory' });
    await open(count);
    // Idle connections as they are between requests: measured once drainkit's slot sweep (1 s,
    // src/core/tracker.ts SLOT_SWEEP_MS) has had its turn; BENCH_MEMORY_IDLE_MS=0 measures at once.
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const after = await server.call<Memory>({ cmd: 'memory' });
    if (variant === 'drainkit' && after.tracked !== count) throw new Error(`drainkit tracks ${after.tracked} connections, expected ${count}`);
    await opener.call({ cmd: 'closeAll' });
    return {
      variant,
      heapPerConnection: (after.heapUsed - before.heapUsed) / count,
      rssPerConnection: (after.rss - before.rss) / count,
      externalPerConnection: (after.external - before.external) / count,
    };
  } finally {
    await server.kill();
  }
}

export const memory: Benchmark = {
  name: 'memory',
  async run({ quick, log }): Promise<BenchResult> {
    const count = quick ? 1_000 : 5_000;
    const rounds = quick ? 1 : 4;
    const opener = spawnBenchChild('conns', [], { ipc: true });
    const samples: Sample[] = [];
    try {
      await opener.line('ready');
      for (let r = 0; r < rounds; r += 1) {
        const order = r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
        for (const variant of order) {
          const s = await once(variant, opener, count);
          samples.push(s);
          log(`memory: round ${r + 1}/${rounds} ${variant}: heap ${Math.round(s.heapPerConnection)} B/conn, rss ${Math.round(s.rssPerConnection)} B/conn`);
        }
      }
    } finally {
      await opener.kill();
    }
    const med = (v: Variant, key: 'heapPerConnection' | 'rssPerConnection' | 'externalPerConnection'): number =>
      Math.round(median(samples.filter((s) => s.variant === v).map((s) => s[key])));
    const perVariant = Object.fromEntries(VARIANTS.map((v) => [v, {
      heapBytesPerConnection: med(v, 'heapPerConnection'),
      rssBytesPerConnection: med(v, 'rssPerConnection'),
      externalBytesPerConnection: med(v, 'externalPerConnection'),
    }]));
    const heapDiff = med('drainkit', 'heapPerConnection') - med('bare', 'heapPerConnection');
    const rssDiff = med('drainkit', 'rssPerConnection') - med('bare', 'rssPerConnection');
    return {
      benchmark: 'memory',
      target: 'none (reported)',
      met: null,
      headline: `drainkit adds ${heapDiff} B heap per idle connection (${med('bare', 'heapPerConnection')} → ${med('drainkit', 'heapPerConnection')} B)`,
      config: { connections: count, rounds, warmupConnections: WARMUP_CONNECTIONS, idleMs: IDLE_MS },
      perVariant,
      drainkitMinusBare: { heapBytesPerConnection: heapDiff, rssBytesPerConnection: rssDiff },
      samples: samples.map((s) => ({ variant: s.variant, heapPerConnection: round(s.heapPerConnection, 1), rssPerConnection: round(s.rssPerConnection, 1), externalPerConnection: round(s.externalPerConnection, 1) })),
    };
  },
};
