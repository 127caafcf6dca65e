/**
 * The demo's load in a thread of its own (node:worker_threads): the embedded registry (PGlite)
 * and the dashboard run on the demo's main event loop, and a client sharing that loop would
 * measure the registry's pauses as the servers' latency. Here the clients have a loop to
 * themselves; what they measure is the servers plus the client's own, reported, delay.
 *
 * Messages: the thread posts a `snapshot` every {@link SNAPSHOT_MS}; on `stop` it stops the
 * clients, posts `stopped` with the final counts and ends.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { startHttpLoad, type HttpLoadStats } from './http-load.js';
import { startPersistentLoad, type PersistentStats } from './persistent-load.js';

export const SNAPSHOT_MS = 250;

export interface LoadThreadConfig {
  readonly host: string;
  readonly port: number;
  readonly rate: number;
  readonly websockets: number;
  readonly sse: number;
}

export interface LoadCounts {
  readonly http: HttpLoadStats;
  readonly persistent: PersistentStats;
  /** How late the load's own event loop ran, in ms. */
  readonly loopDelayMs: { readonly p99: number; readonly max: number };
}

export type LoadThreadMessage = { readonly type: 'snapshot'; readonly counts: LoadCounts } | { readonly type: 'stopped'; readonly counts: LoadCounts };

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('drainkit demo: load-thread.js runs as a worker thread of the demo only');
  const config = workerData as LoadThreadConfig;
  const ws = await import('ws');
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const loopDelayMs = (): LoadCounts['loopDelayMs'] => ({ p99: Math.round(delay.percentile(99) / 1e5) / 10, max: Math.round(delay.max / 1e5) / 10 });
  const http = startHttpLoad({ host: config.host, port: config.port, rate: config.rate });
  const persistent = startPersistentLoad({ host: config.host, port: config.port, websockets: config.websockets, sse: config.sse, ws });
  const post = (message: LoadThreadMessage): void => port.postMessage(message);
  const timer = setInterval(() => post({ type: 'snapshot', counts: { http: http.snapshot(), persistent: persistent.snapshot(), loopDelayMs: loopDelayMs() } }), SNAPSHOT_MS);
  port.once('message', () => {
    clearInterval(timer);
    void Promise.all([http.stop(), persistent.stop()]).then(([h, p]) => {
      delay.disable();
      post({ type: 'stopped', counts: { http: h, persistent: p, loopDelayMs: loopDelayMs() } });
      port.close();
    });
  });
}

await main();
