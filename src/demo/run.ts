/**
 * `drainkit demo`'s engine: an embedded registry (PGlite, hosted for the cluster's reporter),
 * a local cluster of example servers reporting to it, the dashboard on the same registry, a
 * paced load (HTTP GET and POST, WebSocket and SSE clients), and a rolling reload every few
 * seconds, until stopped. Resolves with the report: what the load saw and what the registry
 * recorded of every drain. The CLI (src/cli/demo.ts) parses flags, shows progress and prints.
 *
 * Optional peer dependencies it needs: `ws` (the WebSocket clients and the workers' `/ws`),
 * `@electric-sql/pglite` and `@electric-sql/pglite-socket` (the registry), `pg` (the cluster's
 * reporter speaks to the hosted registry over the Postgres protocol). A missing one rejects
 * with a {@link DemoError} `ERR_DRAINKIT_DEMO_PACKAGE_MISSING` naming it, before anything starts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Cluster, ReloadResult } from '../cluster/index.js';
import { startCluster } from '../cluster/supervisor.js';
import type { Logger } from '../core/types.js';
import type { Store } from '../registry/driver.js';
import { readDrainHistory, type DrainHistory } from './drains.js';
import type { HttpLoadStats } from './http-load.js';
import { startLoad } from './load.js';
import type { PersistentStats } from './persistent-load.js';
import { DRAIN_TIMEOUT_ENV, EXIT_WITHOUT_DRAINING_ENV } from './worker-env.js';

export const DEMO_DEFAULTS = {
  workers: 3,
  rate: 50,
  reloadEverySec: 10,
  websockets: 4,
  sse: 4,
  /** Each worker's drain timeout: the example routes finish well within it. */
  drainTimeoutMs: 10_000,
} as const;

export type DemoErrorCode = 'ERR_DRAINKIT_DEMO_PACKAGE_MISSING' | 'ERR_DRAINKIT_DEMO_START';

export class DemoError extends Error {
  override readonly name = 'DemoError';
  constructor(
    readonly code: DemoErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface DemoOptions {
  readonly workers: number;
  /** HTTP requests per second. */
  readonly rate: number;
  /** Seconds from one reload's start to the next one's (later when a reload takes longer). */
  readonly reloadEverySec: number;
  /** Seconds to run; undefined runs until `signal` aborts. */
  readonly durationSec?: number | undefined;
  readonly websockets: number;
  readonly sse: number;
  /** The registry's PGlite directory, kept; undefined uses a temporary one removed at the end. */
  readonly dataDir?: string | undefined;
  /** The cluster's port (0 picks one). */
  readonly port: number;
  readonly dashboardPort: number;
  /** The negative control: workers exit the instant a drain starts (see src/demo/worker.ts). */
  readonly exitWithoutDraining?: boolean;
  /** Ends the run (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Warnings of the cluster supervisor; default none. */
  readonly logger?: Logger;
}

export interface DemoStarted {
  readonly dashboardUrl: string;
  readonly origin: string;
  readonly registryUrl: string;
  readonly dataDir: string;
  readonly dataDirKept: boolean;
  readonly workers: readonly number[];
}

export interface DemoStatus {
  readonly elapsedMs: number;
  readonly http: HttpLoadStats;
  readonly persistent: PersistentStats;
  readonly reloads: number;
  readonly reloading: boolean;
  readonly failed: number;
}

export interface DemoReport {
  readonly ok: boolean;
  readonly durationMs: number;
  readonly endedBy: 'duration' | 'signal';
  readonly workers: number;
  readonly rate: number;
  readonly dashboardUrl: string;
  readonly dataDir: string | undefined;
  /** Every client-side failure: HTTP, WebSocket, SSE. The demo's point is that this is 0. */
  readonly failed: number;
  readonly http: HttpLoadStats;
  readonly persistent: PersistentStats;
  /** Read back from the registry's events. */
  readonly history: DrainHistory;
  readonly forcedDrains: number;
  readonly failedReloads: number;
  /**
   * How late the load's own event loop ran (p99 and max, ms): a latency tail no longer than
   * this is the client's delay (two shared cores), not the servers'.
   */
  readonly clientLoopDelayMs: { readonly p99: number; readonly max: number };
}

export interface DemoHooks {
  onStarted?(info: DemoStarted): void;
  onReload?(result: ReloadResult, status: DemoStatus): void;
  /** The run is ending: the load stopped sending and the cluster is draining. */
  onStopping?(): void;
}

export interface Demo {
  /** Live counters, for a status line. */
  status(): DemoStatus;
  /** Skips what is left of the workers' drains (a second Ctrl-C). */
  force(): void;
  readonly report: Promise<DemoReport>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.js', import.meta.url));

/** The optional peer dependencies the demo runs on, each with the import that proves it is there. */
const DEMO_PACKAGES: readonly (readonly [string, () => Promise<unknown>])[] = [
  ['ws', () => import('ws')],
  ['pg', () => import('pg')],
  ['@electric-sql/pglite', () => import('@electric-sql/pglite')],
  ['@electric-sql/pglite-socket', () => import('@electric-sql/pglite-socket')],
];

/**
 * Checks every package the demo needs before anything starts, and names all the missing ones in
 * one message: a newcomer after `npm install drainkit` should need one install, not four runs.
 */
async function needPackages(): Promise<void> {
  const missing: string[] = [];
  let cause: unknown;
  for (const [pkg, load] of DEMO_PACKAGES) {
    try {
      await load();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      missing.push(pkg);
      cause ??= err;
    }
  }
  if (missing.length === 0) return;
  const names = missing.map((p) => `"${p}"`).join(', ');
  throw new DemoError(
    'ERR_DRAINKIT_DEMO_PACKAGE_MISSING',
    `drainkit demo needs ${missing.length === 1 ? 'the package' : 'the packages'} ${names}, not installed here; install ${missing.length === 1 ? 'it' : 'them'} with: npm install ${missing.join(' ')}`,
    { cause },
  );
}

/** Starts the demo; resolves once everything runs (the report settles when it ends). */
export async function startDemo(options: DemoOptions, hooks: DemoHooks = {}): Promise<Demo> {
  // The load thread and the workers import ws themselves; checked here so a missing one stops the demo before anything starts.
  await needPackages();
  const registry = await import('../registry/index.js');
  const { listInstances } = await import('../registry/fleet.js');
  const { startDashboard } = await import('../dashboard/server.js');

  // A port in use would otherwise show as a crash loop of workers, each with a stack trace.
  for (const [port, what] of [[options.port, 'the cluster'], [options.dashboardPort, 'the dashboard']] as const) await checkPortFree(port, what);
  const cleanup: (() => Promise<unknown>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'drainkit-demo-')));
    if (options.dataDir === undefined) cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const hosted = await registry.hostPglite({ dataDir });
    cleanup.push(() => hosted.stop());
    const dashboard = await startDashboard({ store: hosted.store, host: '127.0.0.1', port: options.dashboardPort });
    cleanup.push(() => dashboard.close());
    const startup = new AbortController();
    const abortStartup = (): void => startup.abort();
    if (options.signal?.aborted === true) startup.abort();
    options.signal?.addEventListener('abort', abortStartup, { once: true });
    const cluster = await startCluster({
      script: WORKER_SCRIPT,
      workers: options.workers,
      port: options.port,
      host: '127.0.0.1',
      maxSurge: 1,
      // Each worker bounds its own drain; the primary forces only past that.
      drainTimeoutMs: DEMO_DEFAULTS.drainTimeoutMs + 5_000,
      env: { [DRAIN_TIMEOUT_ENV]: String(DEMO_DEFAULTS.drainTimeoutMs), ...(options.exitWithoutDraining === true && { [EXIT_WITHOUT_DRAINING_ENV]: '1' }) },
      databaseUrl: hosted.url,
      registry: { labels: { app: 'drainkit-demo' } },
      ...(options.logger !== undefined && { logger: options.logger }),
      // Only a signal during start-up stops the workers at once; later, the run ends in order (below).
      signal: startup.signal,
    });
    options.signal?.removeEventListener('abort', abortStartup);
    cleanup.push(() => cluster.stop('demo-aborted'));
    const instance = await registeredInstance(hosted.store, listInstances, cluster);
    return running({ options, hooks, cluster, store: hosted.store, instance, dashboardUrl: dashboard.url, registryUrl: hosted.url, dataDir, unwind });
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function checkPortFree(port: number, what: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new DemoError('ERR_DRAINKIT_DEMO_START', `drainkit demo: port ${port} for ${what} cannot be used on 127.0.0.1 (${err.code === 'EADDRINUSE' ? 'in use' : err.message}); pick another, or 0 for a free one`, { cause: err })),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/** The cluster's row (this process's pid on the cluster's port), once its reporter registered it: bounded. */
async function registeredInstance(store: Store, list: (s: Store) => Promise<readonly { id: number; port: number; pid: number | null; generation: number }[]>, cluster: Cluster): Promise<{ id: number; generation: number }> {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const row = (await list(store)).find((i) => i.port === cluster.port && i.pid === cluster.pid);
    if (row) return { id: row.id, generation: row.generation };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DemoError('ERR_DRAINKIT_DEMO_START', `drainkit demo: the cluster (pid ${cluster.pid}, port ${cluster.port}) did not register in the embedded registry within 15 s`);
}

function running(ctx: {
  readonly options: DemoOptions;
  readonly hooks: DemoHooks;
  readonly cluster: Cluster;
  readonly store: Store;
  readonly instance: { readonly id: number; readonly generation: number };
  readonly dashboardUrl: string;
  readonly registryUrl: string;
  readonly dataDir: string;
  readonly unwind: () => Promise<void>;
}): Demo {
  const { options, hooks, cluster } = ctx;
  const started = performance.now();
  const load = startLoad({ host: cluster.host, port: cluster.port, rate: options.rate, websockets: options.websockets, sse: options.sse });
  let reloads = 0;
  let reloading: Promise<ReloadResult> | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  let ending = false;

  const status = (): DemoStatus => {
    const { http: h, persistent: p } = load.snapshot();
    return { elapsedMs: performance.now() - started, http: h, persistent: p, reloads, reloading: reloading !== undefined, failed: h.failed + p.websocket.failed + p.sse.failed };
  };

  // Start to start every reloadEverySec; a reload that takes longer is followed at once.
  const scheduleReload = (sinceStartMs: number): void => {
    if (ending) return;
    reloadTimer = setTimeout(() => {
      const t0 = performance.now();
      reloading = cluster.reload('demo');
      void reloading.then((result) => {
        reloading = undefined;
        if (result.ok) reloads += 1;
        hooks.onReload?.(result, status());
        scheduleReload(performance.now() - t0);
      });
    }, Math.max(0, options.reloadEverySec * 1_000 - sinceStartMs));
  };

  hooks.onStarted?.({ dashboardUrl: ctx.dashboardUrl, origin: `http://${cluster.host}:${cluster.port}`, registryUrl: ctx.registryUrl, dataDir: ctx.dataDir, dataDirKept: options.dataDir !== undefined, workers: cluster.workers().map((w) => w.pid) });
  scheduleReload(0);

  const ended = new Promise<'duration' | 'signal'>((resolve) => {
    const timer = options.durationSec === undefined ? undefined : setTimeout(() => resolve('duration'), options.durationSec * 1_000);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve('signal');
    };
    if (options.signal?.aborted === true) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // A cluster that stopped on its own (a crash loop) ends the demo too.
    void cluster.stopped.then(() => {
      clearTimeout(timer);
      resolve('signal');
    });
  });

  const report = (async (): Promise<DemoReport> => {
    const endedBy = await ended;
    ending = true;
    clearTimeout(reloadTimer);
    hooks.onStopping?.();
    // The reload under way finishes first: its drains are part of the story, and the load keeps
    // running through it so they are drains under load like the others.
    await reloading;
    const { http: h, persistent: p, loopDelayMs: clientLoopDelayMs } = await load.stop();
    const durationMs = performance.now() - started;
    const stop = await cluster.stop('demo ended');
    let history: DrainHistory;
    try {
      history = await readDrainHistory(ctx.store, ctx.instance.id, ctx.instance.generation);
    } finally {
      await ctx.unwind();
    }
    const failed = h.failed + p.websocket.failed + p.sse.failed;
    // The final stop's drains are in the registry's drain_complete; counted from the stop itself
    // too, in case that last write did not land.
    const forcedDrains = history.drains.filter((d) => d.during !== 'stop' && !d.success).length + stop.workers.filter((w) => !w.success || w.result === undefined).length;
    const failedReloads = history.reloads.filter((r) => !r.ok).length;
    return {
      ok: failed === 0 && forcedDrains === 0 && failedReloads === 0,
      durationMs,
      endedBy,
      workers: options.workers,
      rate: options.rate,
      dashboardUrl: ctx.dashboardUrl,
      dataDir: options.dataDir,
      failed,
      http: h,
      persistent: p,
      history,
      forcedDrains,
      failedReloads,
      clientLoopDelayMs,
    };
  })();

  return { status, force: () => void cluster.force(), report };
}
