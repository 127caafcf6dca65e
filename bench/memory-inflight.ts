/**
 * Memory per in-flight request: N keep-alive connections, first idle (one request answered on
 * each), then each with one `GET /hold` the server has not answered. The difference over N is
 * what one in-flight request costs on top of an idle connection, bare and with drainkit; the
 * drainkit − bare difference is drainkit's share. Fresh server per measurement (`--expose-gc`),
 * variants interleaved, medians reported.
 */
import * as net from 'node:net';
import { listeningPort, spawnBenchChild } from './lib/children.js';
import { median, round } from './lib/stats.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const VARIANTS = ['bare', 'drainkit'] as const;
type Variant = (typeof VARIANTS)[number];

interface Mem {
  heapUsed: number;
  rss: number;
  held: number;
  inflight?: number;
}

/** Opens `n` connections and waits (bounded) until each has read one `ok` response. */
async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    sockets.push(s);
    const timer = setTimeout(() => reject(new Error('no response to GET / within 20 s')), 20_000);
    s.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    s.once('error', reject);
  })));
  return sockets;
}

async function once(variant: Variant, n: number): Promise<{ heapPerRequest: number; rssPerRequest: number }> {
  const server = spawnBenchChild('hold-server', ['--variant', variant], { ipc: true, execArgv: ['--expose-gc'] });
  let sockets: net.Socket[] = [];
  try {
    const port = await listeningPort(server);
    sockets = await openIdle(port, n);
    const idle = await server.call<Mem>({ cmd: 'memory' });
    for (const s of sockets) s.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    const deadline = Date.now() + 20_000;
    let busy = await server.call<Mem>({ cmd: 'memory' });
    while (busy.held < n) {
      if (Date.now() > deadline) throw new Error(`only ${busy.held} of ${n} requests held after 20 s`);
      await new Promise((r) => setTimeout(r, 100));
      busy = await server.call<Mem>({ cmd: 'memory' });
    }
    if (variant === 'drainkit' && busy.inflight !== n) throw new Error(`drainkit counts ${busy.inflight} in flight, expected ${n}`);
    await server.call({ cmd: 'release' });
    return { heapPerRequest: (busy.heapUsed - idle.heapUsed) / n, rssPerRequest: (busy.rss - idle.rss) / n };
  } finally {
    for (const s of sockets) s.destroy();
    await server.kill();
  }
}

export const memoryInflight: Benchmark = {
  name: 'memory-inflight',
  async run({ quick, log }): Promise<BenchResult> {
    const n = quick ? 500 : 2_000;
    const rounds = quick ? 2 : 4;
    const samples: { variant: Variant; heapPerRequest: number; rssPerRequest: number }[] = [];
    for (let r = 0; r < rounds; r += 1) {
      for (const variant of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const s = await once(variant, n);
        samples.push({ variant, ...s });
        log(`memory-inflight: round ${r + 1}/${rounds} ${variant}: heap ${Math.round(s.heapPerRequest)} B/request, rss ${Math.round(s.rssPerRequest)} B/request`);
      }
    }
    const med = (v: Variant, k: 'heapPerRequest' | 'rssPerRequest'): number => Math.round(median(samples.filter((s) => s.variant === v).map((s) => s[k])));
    const extra = med('drainkit', 'heapPerRequest') - med('bare', 'heapPerRequest');
    return {
      benchmark: 'memory-inflight',
      target: 'none (reported)',
      met: null,
      headline: `drainkit adds ${extra} B heap per in-flight request (${med('bare', 'heapPerRequest')} → ${med('drainkit', 'heapPerRequest')} B)`,
      config: { inflightRequests: n, rounds },
      perVariant: Object.fromEntries(VARIANTS.map((v) => [v, { heapBytesPerRequest: med(v, 'heapPerRequest'), rssBytesPerRequest: med(v, 'rssPerRequest') }])),
      samples: samples.map((s) => ({ ...s, heapPerRequest: round(s.heapPerRequest, 1), rssPerRequest: round(s.rssPerRequest, 1) })),
    };
  },
};
