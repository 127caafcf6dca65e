/**
 * A rolling restart behind a real HAProxy under steady load: the end-to-end proof that drains
 * lose no request, and the measurement the benchmarks reuse (wall time of the restart phase).
 *
 * One step per server per round: SIGTERM it, wait for it to exit, start a replacement on the
 * same port (HAProxy's config names the ports), wait until HAProxy reports it UP again.
 */
import { startHaproxy, type Haproxy, type HaproxyOptions, type ServerStat } from './haproxy.js';
import { startLoad, type FailureSample, type Load, type LoadOptions, type LoadStats } from './load.js';
import { startPersistentClients, type PersistentClients, type PersistentStats } from './persistent-clients.js';
import { freePort, killAll, signalAndWait, spawnServer, type ExitStatus, type ServerProcess, type TimedLine } from './processes.js';

export interface RollingOptions {
  /** Servers behind HAProxy. Default 3. */
  readonly servers?: number;
  /** How many times every server is restarted. Default 1. */
  readonly rounds?: number;
  /** The server's arguments after `process.execPath`, for a given port. */
  readonly serverCommand: (port: number) => string[];
  readonly cwd?: string;
  /** Load settings (the origin is HAProxy's frontend). */
  readonly load?: Omit<LoadOptions, 'origin'>;
  /** HAProxy settings other than the servers. */
  readonly haproxy?: Omit<HaproxyOptions, 'servers'>;
  /** Hang guard for one server's SIGTERM → exit. Default 60 s. */
  readonly exitTimeoutMs?: number;
  /** Hang guard for a server to be reported UP. Default 30 s. */
  readonly upTimeoutMs?: number;
  /**
   * Aborting (e.g. a test's `t.signal` on timeout) kills the servers and HAProxy at once and
   * ends the load, so the pending steps fail fast and nothing outlives the test.
   */
  readonly signal?: AbortSignal;
  /**
   * Long-lived clients carried through the restarts (WebSocket on `/ws`, EventSource on `/sse`);
   * their stats are in the result. Default: none.
   */
  readonly persistent?: { readonly websockets: number; readonly eventSources: number };
  /** Progress lines (e.g. `console.error` while debugging). Default: silent. */
  readonly progress?: (line: string) => void;
}

/** One server process's end, from the signal to the close of its stdio. */
export interface DrainRecord {
  readonly server: string;
  readonly port: number;
  readonly pid: number;
  /** `rolling` for the restarts under load, `teardown` for the final stop once the load ended. */
  readonly stage: 'rolling' | 'teardown';
  readonly round: number | undefined;
  readonly signalledAt: number;
  readonly exitedAt: number;
  readonly exit: ExitStatus;
  /** The `{"event":"drain_complete",...}` line, when the server printed one. */
  readonly drainComplete: Record<string, unknown> | undefined;
}

/** One restart step's timeline (ms since the epoch). */
export interface StepRecord {
  readonly server: string;
  readonly round: number;
  readonly signalledAt: number;
  readonly exitedAt: number;
  readonly replacementListeningAt: number;
  readonly upAt: number;
  /** Whether HAProxy counted an UP→DOWN transition for this server during the step. */
  readonly wentDown: boolean;
}

export interface RollingResult {
  readonly load: LoadStats;
  /** The persistent clients' stats, when `persistent` was given. */
  readonly persistent: PersistentStats | undefined;
  /** From the first SIGTERM to the last replacement reported UP. */
  readonly restartWallMs: number;
  readonly restartStartedAt: number;
  readonly steps: readonly StepRecord[];
  readonly drains: readonly DrainRecord[];
  /** HAProxy's per-server counters at the end of the restart phase. */
  readonly haproxyStats: readonly ServerStat[];
  /** HAProxy's logs (errors and health-check transitions only). */
  readonly haproxyLogs: readonly TimedLine[];
  readonly haproxyConfig: string;
}

/** Runs the whole scenario and tears everything down, whatever happens. */
export async function rollingRestart(options: RollingOptions): Promise<RollingResult> {
  const count = options.servers ?? 3;
  const rounds = options.rounds ?? 1;
  const exitTimeoutMs = options.exitTimeoutMs ?? 60_000;
  const upTimeoutMs = options.upTimeoutMs ?? 30_000;
  const progress = options.progress ?? (() => undefined);
  const names = Array.from({ length: count }, (_, i) => `s${i + 1}`);

  const spawned: ServerProcess[] = [];
  const steps: StepRecord[] = [];
  const drains: DrainRecord[] = [];
  let haproxy: Haproxy | undefined;
  let load: Load | undefined;
  let persistentClients: PersistentClients | undefined;

  const start = async (port: number): Promise<ServerProcess> => {
    const proc = await spawnServer({ args: options.serverCommand(port), ...(options.cwd !== undefined && { cwd: options.cwd }) });
    spawned.push(proc);
    if (proc.port !== port) throw new Error(`server asked for port ${port} but listens on ${proc.port}`);
    return proc;
  };

  const stopServer = async (name: string, proc: ServerProcess, stage: DrainRecord['stage'], round?: number): Promise<DrainRecord> => {
    const signalledAt = Date.now();
    const exit = await signalAndWait(proc, 'SIGTERM', exitTimeoutMs);
    const record: DrainRecord = {
      server: name,
      port: proc.port,
      pid: proc.pid,
      stage,
      round,
      signalledAt,
      exitedAt: Date.now(),
      exit,
      drainComplete: proc.events.find((e) => e.event === 'drain_complete'),
    };
    drains.push(record);
    return record;
  };

  const abort = (): void => {
    void load?.stop();
    for (const proc of spawned) proc.child.kill('SIGKILL');
    haproxy?.child.kill('SIGKILL');
  };
  options.signal?.addEventListener('abort', abort, { once: true });

  try {
    options.signal?.throwIfAborted();
    const ports = await distinctFreePorts(count);
    // allSettled, not all: every started server must be in `spawned` before a failure unwinds.
    const started = await Promise.allSettled(ports.map((port) => start(port)));
    const current = started.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    haproxy = await startHaproxy({ ...options.haproxy, servers: names.map((name, i) => ({ name, port: ports[i]! })) });
    for (const name of names) await haproxy.waitUntil(name, 'UP', upTimeoutMs);
    progress(`haproxy on :${haproxy.port}, servers ${names.map((n, i) => `${n}=:${ports[i]}`).join(' ')} all UP`);

    load = startLoad({ ...options.load, origin: `http://127.0.0.1:${haproxy.port}` });
    if (options.persistent) persistentClients = startPersistentClients({ origin: `http://127.0.0.1:${haproxy.port}`, ...options.persistent });
    const restartStartedAt = Date.now();
    for (let round = 1; round <= rounds; round += 1) {
      for (const [i, name] of names.entries()) {
        const before = await downTransitions(haproxy, name);
        const drain = await stopServer(name, current[i]!, 'rolling', round);
        const replacement = await start(ports[i]!);
        const replacementListeningAt = Date.now();
        const up = await haproxy.waitUntil(name, 'UP', upTimeoutMs);
        const step: StepRecord = {
          server: name,
          round,
          signalledAt: drain.signalledAt,
          exitedAt: drain.exitedAt,
          replacementListeningAt,
          upAt: Date.now(),
          wentDown: up.downTransitions > before,
        };
        steps.push(step);
        current[i] = replacement;
        progress(`round ${round} ${name}: exit ${drain.exit.code ?? drain.exit.signal} after ${step.exitedAt - step.signalledAt} ms, UP again after ${step.upAt - step.exitedAt} ms`);
      }
    }
    const restartWallMs = Date.now() - restartStartedAt;
    const loadStats = await load.stop();
    const persistentStats = await persistentClients?.stop();
    persistentClients = undefined;
    const haproxyStats = await haproxy.servers();
    progress(`load: ${loadStats.total} requests, ${loadStats.failed} failed`);

    // Stop the survivors while HAProxy still probes them, so an adaptive window can end early.
    await Promise.all(names.map((name, i) => stopServer(name, current[i]!, 'teardown')));
    return {
      load: loadStats,
      persistent: persistentStats,
      restartWallMs,
      restartStartedAt,
      steps,
      drains,
      haproxyStats,
      haproxyLogs: [...haproxy.logs],
      haproxyConfig: haproxy.configText,
    };
  } catch (err) {
    const timeline = describeTimeline(steps, drains, haproxy?.logs ?? []);
    const why = options.signal?.aborted ? `aborted (${String(options.signal.reason)}); then ` : '';
    throw new Error(`rolling restart failed: ${why}${(err as Error).message}\n${timeline}`, { cause: err });
  } finally {
    options.signal?.removeEventListener('abort', abort);
    await load?.stop().catch(() => undefined);
    await persistentClients?.stop(0).catch(() => undefined);
    await killAll(spawned);
    await haproxy?.stop().catch(() => undefined);
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  // Bounded: the kernel hands out ephemeral ports in turn, so repeats are rare, not endless.
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt >= count * 20) throw new Error(`could not find ${count} distinct free ports in ${attempt} attempts (got ${[...ports].join(', ')})`);
    ports.add(await freePort());
  }
  return [...ports];
}

async function downTransitions(haproxy: Haproxy, name: string): Promise<number> {
  return (await haproxy.servers()).find((s) => s.name === name)?.downTransitions ?? 0;
}

/** Which part of the restart phase an instant falls in, for failure reports. */
export function phaseAt(at: number, steps: readonly StepRecord[]): string {
  for (const s of steps) {
    const tag = `round ${s.round} ${s.server}`;
    if (at >= s.signalledAt && at < s.exitedAt) return `${tag}: between SIGTERM and exit (draining)`;
    if (at >= s.exitedAt && at < s.replacementListeningAt) return `${tag}: exited, replacement starting`;
    if (at >= s.replacementListeningAt && at <= s.upAt) return `${tag}: replacement listening, not yet UP`;
  }
  return 'between steps (all servers expected UP)';
}

/** A readable account of failures: counts per phase, samples on the timeline, HAProxy's view. */
export function describeFailures(result: RollingResult, maxSamples = 30): string {
  const t0 = result.restartStartedAt;
  const rel = (at: number): string => `${at - t0 >= 0 ? '+' : ''}${at - t0} ms`;
  const byPhase = new Map<string, number>();
  for (const f of result.load.samples) {
    const key = `${phaseAt(f.sentAt, result.steps)} / ${f.kind} ${f.path}`;
    byPhase.set(key, (byPhase.get(key) ?? 0) + 1);
  }
  return [
    `load: ${result.load.total} requests, ${result.load.ok} ok, ${result.load.failed} failed ${JSON.stringify(result.load.failuresByKind)}`,
    `failures by phase the request was sent in (${result.load.samples.length} recorded):`,
    ...[...byPhase].map(([key, n]) => `  ${n} × ${key}`),
    `first ${Math.min(maxSamples, result.load.samples.length)} failures (times relative to the first SIGTERM):`,
    ...result.load.samples.slice(0, maxSamples).map((f: FailureSample) =>
      `  seen ${rel(f.at)}, sent ${rel(f.sentAt)}: ${f.kind} ${f.path} [${phaseAt(f.sentAt, result.steps)}] ${JSON.stringify(f.detail)}`),
    describeTimeline(result.steps, result.drains, result.haproxyLogs, t0),
  ].join('\n');
}

/** HAProxy httplog line: `... <status> <bytes> <req cookie> <res cookie> <termination state> ...`. */
const HTTPLOG = /"? (\d{3}) \d+ \S+ \S+ (\S{4}) /;

function describeTimeline(steps: readonly StepRecord[], drains: readonly DrainRecord[], logs: readonly TimedLine[], t0?: number): string {
  const origin = t0 ?? steps[0]?.signalledAt ?? drains[0]?.signalledAt ?? Date.now();
  const rel = (at: number): string => `${at - origin >= 0 ? '+' : ''}${at - origin} ms`;
  const lines = ['timeline (relative to the first SIGTERM):'];
  for (const s of steps) {
    lines.push(`  round ${s.round} ${s.server}: SIGTERM ${rel(s.signalledAt)}, exit ${rel(s.exitedAt)}, replacement listening ${rel(s.replacementListeningAt)}, UP ${rel(s.upAt)}${s.wentDown ? '' : ' (HAProxy never marked it DOWN)'}`);
  }
  for (const d of drains) {
    const dc = d.drainComplete;
    const summary = dc ? JSON.stringify({ success: dc.success, outcome: dc.outcome, durationMs: dc.durationMs, window: dc.window, requestsCompleted: dc.requestsCompleted, connectionsForced: dc.connectionsForced }) : 'no drain_complete line';
    lines.push(`  drain ${d.stage}${d.round !== undefined ? ` round ${d.round}` : ''} ${d.server} pid ${d.pid}: exit code ${d.exit.code} signal ${d.exit.signal}; ${summary}`);
  }
  // HAProxy logs only abnormal requests and check transitions; group the requests by the
  // termination state (SC = connection refused, SH = server closed before headers, ...).
  const requestErrors = new Map<string, number>();
  const other: TimedLine[] = [];
  for (const line of logs) {
    const m = HTTPLOG.exec(line.text);
    if (m) {
      const key = `${m[1]} ${m[2]}`;
      requestErrors.set(key, (requestErrors.get(key) ?? 0) + 1);
    } else if (!/^\[(WARNING|NOTICE)\]/.test(line.text)) {
      // HAProxy prints each warning twice: on stderr (tagged) and through the log (plain).
      other.push(line);
    }
  }
  if (requestErrors.size > 0) lines.push(`haproxy request errors by status and termination state: ${JSON.stringify(Object.fromEntries(requestErrors))}`);
  const firstErrors = logs.filter((l) => HTTPLOG.test(l.text)).slice(0, 15);
  if (firstErrors.length > 0) lines.push('haproxy first request errors:', ...firstErrors.map((l) => `  ${rel(l.at)} ${l.text}`));
  if (other.length > 0) lines.push('haproxy health checks and alerts:', ...other.slice(-60).map((l) => `  ${rel(l.at)} ${l.text}`));
  return lines.join('\n');
}
