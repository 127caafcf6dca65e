/**
 * `drainkit/metrics`: Prometheus metrics of a drainer through `prom-client` (an optional peer
 * dependency, loaded only when this is called).
 *
 *     import { createDrainMetrics } from 'drainkit/metrics';
 *     const metrics = await createDrainMetrics(drainer, { webSockets: [sockets] });
 *     // GET /metrics: res.end(await metrics.registry.metrics())
 *
 * Nothing here touches the request path: live values (in flight, persistent, connections, state,
 * phase, the running drain's duration) are read when the registry is collected, and the drain's
 * totals are set from the drainer's `phase` and `drained` events.
 *
 * Metrics (prefix `drainkit_` by default):
 * - `inflight_requests`, `persistent_connections`, `open_connections` (gauges)
 * - `state{state}` and `drain_phase{phase}`: 1 for the current one, 0 for the others
 * - `drain_duration_seconds`: the running drain's age, then the finished drain's duration
 * - `drain_phase_duration_seconds{phase}`: each finished phase of the current or last drain
 * - `drain_requests_completed`, `drain_requests_forced`, `drain_persistent_forced`,
 *   `drain_connections_forced`: the last drain's counts (set when it finishes)
 * - `drains_total{outcome}`: drains finished, `completed` or `forced`
 * - `websocket_open`, `websocket_closes_total{outcome="clean"|"terminated"}`,
 *   `websocket_upgrades_refused_total`: summed over the `webSockets` given
 */
import { performance } from 'node:perf_hooks';
import type * as PromClient from 'prom-client';
import type { Drainer, DrainPhase, DrainResult, DrainState } from '../core/types.js';
import { knownKeys, singleLine } from './options.js';
import { phaseDurations } from '../core/report.js';
import type { WebSocketDrainStats } from './ws.js';

export { drainReport, formatDrainReport, phaseDurations, type DrainHint, type DrainHintCode, type DrainReport, type PhaseDuration } from '../core/report.js';

type PromClientModule = typeof PromClient;

export interface DrainMetricsOptions {
  /** The `prom-client` module. Default: imported on first use. Pass yours if the app bundles it. */
  readonly promClient?: PromClientModule;
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  readonly registry?: PromClient.Registry;
  /** Metric name prefix. Default `'drainkit_'`. */
  readonly prefix?: string;
  /** WebSocket drains (from `drainkit/ws`) whose counts are exported. */
  readonly webSockets?: readonly { readonly stats: WebSocketDrainStats }[];
}

export interface DrainMetrics {
  /** The registry the metrics live in (serve `await registry.metrics()` with `registry.contentType`). */
  readonly registry: PromClient.Registry;
  /** Removes the metrics from the registry and the listeners from the drainer. */
  detach(): void;
}

const STATES: readonly DrainState[] = ['active', 'draining', 'stopped'];
const PHASES: readonly DrainPhase[] = ['deregistering', 'closing', 'persistent', 'waiting', 'forcing', 'cleanup'];

/** Registers the metrics of `drainer`. Throws if a metric of the same name is already registered. */
export async function createDrainMetrics(drainer: Drainer, options?: DrainMetricsOptions): Promise<DrainMetrics> {
  knownKeys('createDrainMetrics', options, ['promClient', 'registry', 'prefix', 'webSockets']);
  const prefix = singleLine('prefix', options?.prefix, 'drainkit_');
  const client: PromClientModule = options?.promClient ?? (await import('prom-client'));
  const registry = options?.registry ?? client.register;
  const registers = [registry];
  const webSockets = options?.webSockets ?? [];
  const names: string[] = [];
  const name = (n: string): string => {
    names.push(prefix + n);
    return prefix + n;
  };

  // Times of the running (or last) drain, from the drainer's events.
  let drainStartedAt: number | undefined;
  let lastResult: DrainResult | undefined;
  const phaseStarts: { phase: DrainPhase; at: number }[] = [];

  new client.Gauge({ name: name('inflight_requests'), help: 'Requests (and HTTP/2 streams) in flight.', registers, collect() {
    this.set(drainer.inflight);
  } });
  new client.Gauge({ name: name('persistent_connections'), help: 'Open persistent connections (WebSocket, SSE, long-poll).', registers, collect() {
    this.set(drainer.persistent.size);
  } });
  new client.Gauge({ name: name('open_connections'), help: 'Open client connections (sockets and HTTP/2 sessions).', registers, collect() {
    this.set(drainer.connections);
  } });
  new client.Gauge({ name: name('state'), help: 'Lifecycle state: 1 for the current one.', labelNames: ['state'], registers, collect() {
    for (const s of STATES) this.set({ state: s }, drainer.state === s ? 1 : 0);
  } });
  new client.Gauge({ name: name('drain_phase'), help: 'Drain phase: 1 for the current one.', labelNames: ['phase'], registers, collect() {
    for (const p of PHASES) this.set({ phase: p }, drainer.phase === p ? 1 : 0);
  } });
  new client.Gauge({ name: name('drain_duration_seconds'), help: 'Age of the running drain, or duration of the last one.', registers, collect() {
    if (lastResult) this.set(lastResult.durationMs / 1000);
    else if (drainStartedAt !== undefined) this.set((performance.now() - drainStartedAt) / 1000);
    else this.set(0);
  } });
  const phaseDuration = new client.Gauge({ name: name('drain_phase_duration_seconds'), help: 'Duration of each finished phase of the current or last drain.', labelNames: ['phase'], registers });
  const completed = new client.Gauge({ name: name('drain_requests_completed'), help: 'Requests completed during the last drain.', registers });
  const requestsForced = new client.Gauge({ name: name('drain_requests_forced'), help: 'Requests still in flight when the last drain was forced.', registers });
  const persistentForced = new client.Gauge({ name: name('drain_persistent_forced'), help: 'Persistent connections still open when the last drain was forced.', registers });
  const connectionsForced = new client.Gauge({ name: name('drain_connections_forced'), help: 'Sockets and HTTP/2 sessions destroyed when the last drain was forced.', registers });
  const upgradesClosed = new client.Gauge({ name: name('drain_upgrades_closed'), help: 'Upgraded connections no drainkit integration managed, closed at the end of the last drain.', registers });
  const drains = new client.Counter({ name: name('drains_total'), help: 'Drains finished, by outcome.', labelNames: ['outcome'], registers });
  drains.inc({ outcome: 'completed' }, 0);
  drains.inc({ outcome: 'forced' }, 0);

  const sum = (pick: (s: WebSocketDrainStats) => number): number => webSockets.reduce((n, w) => n + pick(w.stats), 0);
  new client.Gauge({ name: name('websocket_open'), help: 'Open WebSocket connections of the drained ws servers.', registers, collect() {
    this.set(sum((s) => s.open));
  } });
  new client.Counter({ name: name('websocket_closes_total'), help: 'WebSockets closed by a drain: clean handshake or terminated.', labelNames: ['outcome'], registers, collect() {
    this.reset();
    this.inc({ outcome: 'clean' }, sum((s) => s.closedClean));
    this.inc({ outcome: 'terminated' }, sum((s) => s.terminated));
  } });
  new client.Counter({ name: name('websocket_upgrades_refused_total'), help: 'WebSocket upgrades refused with 503 during a drain.', registers, collect() {
    this.reset();
    this.inc(sum((s) => s.refused));
  } });

  const onPhase = (phase: DrainPhase): void => {
    const t = performance.now();
    const previous = phaseStarts.at(-1);
    if (previous) phaseDuration.set({ phase: previous.phase }, (t - previous.at) / 1000);
    phaseStarts.push({ phase, at: t });
  };
  const onState = (state: DrainState): void => {
    if (state !== 'draining') return;
    drainStartedAt = performance.now();
    lastResult = undefined;
    phaseStarts.length = 0;
    phaseDuration.reset();
  };
  const onDrained = (result: DrainResult): void => {
    lastResult = result;
    for (const p of phaseDurations(result)) phaseDuration.set({ phase: p.phase }, p.durationMs / 1000);
    completed.set(result.requestsCompleted);
    requestsForced.set(result.requestsRemaining);
    persistentForced.set(result.persistentRemaining);
    connectionsForced.set(result.connectionsForced);
    upgradesClosed.set(result.upgradesClosed);
    drains.inc({ outcome: result.outcome });
  };
  drainer.on('state', onState);
  drainer.on('phase', onPhase);
  drainer.on('drained', onDrained);
  // Attached after a drain began: its age counts from now, the best we know.
  if (drainer.state === 'draining') drainStartedAt = performance.now();

  return {
    registry,
    detach(): void {
      drainer.off('state', onState);
      drainer.off('phase', onPhase);
      drainer.off('drained', onDrained);
      for (const n of names.splice(0)) registry.removeSingleMetric(n);
    },
  };
}
