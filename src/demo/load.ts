/**
 * The demo's side of its load thread (load-thread.ts): starts it, keeps its latest counts for
 * the status line, and stops it for the final counts.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HttpLoadStats } from './http-load.js';
import type { LoadCounts, LoadThreadConfig, LoadThreadMessage } from './load-thread.js';
import type { PersistentStats } from './persistent-load.js';

const THREAD = fileURLToPath(new URL('./load-thread.js', import.meta.url));

export interface DemoLoad {
  /** The latest counts the thread sent (at most a quarter of a second old). */
  snapshot(): LoadCounts;
  /** Stops the clients (the requests in flight finish) and resolves with the final counts. */
  stop(): Promise<LoadCounts>;
}

const NOTHING_YET: LoadCounts = {
  http: { sent: 0, ok: 0, failed: 0, failures: {}, skipped: 0, latencyMs: { p50: undefined, p99: undefined, samples: 0 } } satisfies HttpLoadStats,
  persistent: {
    websocket: { clients: 0, opened: 0, closedProperly: 0, echoes: 0, failed: 0, failures: {} },
    sse: { clients: 0, opened: 0, closedProperly: 0, events: 0, failed: 0, failures: {} },
  } satisfies PersistentStats,
  loopDelayMs: { p99: 0, max: 0 },
};

export function startLoad(config: LoadThreadConfig): DemoLoad {
  const thread = new Worker(THREAD, { workerData: config });
  let latest = NOTHING_YET;
  let failure: Error | undefined;
  const stopped = new Promise<LoadCounts>((resolve, reject) => {
    thread.on('message', (m: LoadThreadMessage) => {
      latest = m.counts;
      if (m.type === 'stopped') resolve(m.counts);
    });
    thread.once('error', (err) => {
      failure = err;
      reject(new Error(`drainkit demo: the load thread failed: ${err.message}`, { cause: err }));
    });
    thread.once('exit', (code) => reject(new Error(`drainkit demo: the load thread exited (code ${code}) before it reported its counts`)));
  });
  // Rejections are handled by stop(); until then a failed thread shows in the counts' absence.
  stopped.catch(() => undefined);
  return {
    snapshot: () => latest,
    async stop() {
      if (failure === undefined) thread.postMessage('stop');
      return stopped;
    },
  };
}
