/**
 * `drainkit cluster [options] <script> [args…]`: a thin shell over `drainkit/cluster`. Parses
 * flags, wires signals (SIGHUP reloads; SIGTERM / SIGINT stop, a second one forces), prints
 * one JSON line per event on stdout and human logs on stderr, and picks the exit code.
 *
 * stdout lines: `listening` once every worker is ready; `reload_complete` after each reload;
 * `worker_restarted` and `crash_loop` when workers die on their own; `drain_complete` at exit.
 */
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CLUSTER_DEFAULTS, MAX_WORKERS } from '../cluster/options.js';
import { ClusterStartError, startCluster } from '../cluster/supervisor.js';
import type { Cluster, ReloadResult, StopResult } from '../cluster/index.js';
import { DrainkitError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { integer, keyValue } from './args.js';
import { openRegistry } from './registry-commands.js';

/** Exit code when the cluster could not start or stopped because of a crash loop. */
export const EXIT_CLUSTER_FAILED = 1;
/** Exit code after a stop in which some worker's drain had to be forced. */
export const EXIT_FORCED = 70;

type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface ClusterFlags {
  workers?: number;
  port: number;
  host: string;
  maxSurge: number;
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  logLevel: LogLevel;
  databaseUrl?: string;
  label?: Record<string, string>;
  heartbeatMs?: number;
  livenessWriteMs?: number;
}

/** Registry reporting of the cluster (`--database-url` and the flags that go with it). */
export interface ClusterRegistryFlags {
  readonly databaseUrl: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly heartbeatMs: number | undefined;
  readonly livenessWriteMs: number | undefined;
}

/** `--host`: anything the resolver may take, but not empty (which Node would read as "every address"). */
function hostArgument(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('--host must not be empty; give a host name or an address (127.0.0.1, 0.0.0.0, ::, localhost).');
  return value;
}

/** Registers `drainkit cluster`. */
export function addClusterCommand(program: Command): void {
  const command = program
    .command('cluster')
    .description('Run <script> as N workers on one port. SIGHUP: rolling reload with zero failed requests. SIGTERM / Ctrl-C: drain every worker, then exit 0 (70 if a drain was forced); a second signal forces.')
    .argument('<script>', 'the script every worker runs (node:cluster; it reads PORT and HOST from its environment)')
    .argument('[args...]', 'arguments for the script (everything after <script> is passed on)')
    .passThroughOptions()
    .option('--workers <n>', `worker processes (default: available CPUs, ${os.availableParallelism()} here)`, integer(1, MAX_WORKERS))
    .option('--port <n>', 'port every worker listens on, given to them as PORT (0 picks a free one)', integer(0, 65_535), CLUSTER_DEFAULTS.port)
    .option('--host <addr>', 'address the cluster listens on, given to workers as HOST (a name or an address; not empty)', hostArgument, CLUSTER_DEFAULTS.host)
    .option('--max-surge <n>', 'replacements a reload starts at a time', integer(1, MAX_WORKERS), CLUSTER_DEFAULTS.maxSurge)
    .option('--ready-timeout-ms <n>', 'how long a new worker may take to be ready; past it a reload aborts', integer(1, 3_600_000), CLUSTER_DEFAULTS.readyTimeoutMs)
    .option('--drain-timeout-ms <n>', 'how long one worker\'s drain may take before the primary forces it', integer(0, 3_600_000), CLUSTER_DEFAULTS.drainTimeoutMs)
    .addOption(new Option('--log-level <level>', 'stderr log level').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .option('--database-url <url>', 'report the cluster to the fleet registry at this postgres:// URL: the primary is the host:port instance, its workers are listed with it, reloads are events (DATABASE_URL is not read)')
    .option('--label <key=value>', 'registry label of the cluster\'s instance (repeatable)', keyValue)
    .option('--heartbeat-ms <n>', 'registry: how often worker states and counts are written when they changed (default 1000)', integer(50, 60_000))
    .option('--liveness-write-ms <n>', 'registry: refresh the heartbeat timestamp at least this often (default 10000)', integer(50, 600_000));
  command.action(async (script: string, args: string[], flags: ClusterFlags) => {
    checkClusterFlags(flags);
    if (!existsSync(script)) throw new InvalidArgumentError(`<script> ${JSON.stringify(script)} does not exist.`);
    const registry = await registryFrom(flags);
    process.exitCode = await runCluster({ ...flags, script, args, registry });
  });
}

/**
 * The registry flags, checked before any worker starts: the registry flags without
 * `--database-url`, a URL the driver cannot take and a missing `pg` stop here (a usage error, or
 * the missing package's exit code) rather than in the background of a running cluster.
 */
export async function registryFrom(flags: { readonly databaseUrl?: string | undefined; readonly label?: Record<string, string> | undefined; readonly heartbeatMs?: number | undefined; readonly livenessWriteMs?: number | undefined }): Promise<ClusterRegistryFlags | undefined> {
  if (flags.databaseUrl === undefined) {
    if (flags.heartbeatMs !== undefined || flags.livenessWriteMs !== undefined || flags.label !== undefined) {
      throw new InvalidArgumentError('--label, --heartbeat-ms and --liveness-write-ms apply with --database-url only.');
    }
    return undefined;
  }
  if (flags.livenessWriteMs !== undefined && flags.livenessWriteMs < (flags.heartbeatMs ?? 1_000)) {
    throw new InvalidArgumentError(`--liveness-write-ms (${flags.livenessWriteMs}) must not be below the heartbeat tick (--heartbeat-ms, ${flags.heartbeatMs ?? 1_000}).`);
  }
  const { store } = await openRegistry(flags.databaseUrl);
  await store.close();
  return { databaseUrl: flags.databaseUrl, labels: flags.label ?? {}, heartbeatMs: flags.heartbeatMs, livenessWriteMs: flags.livenessWriteMs };
}

/** Cross-flag rules, as usage errors before anything starts. */
export function checkClusterFlags(flags: { readonly workers?: number | undefined; readonly maxSurge: number }): void {
  const workers = flags.workers ?? os.availableParallelism();
  if (flags.maxSurge > workers) throw new InvalidArgumentError(`--max-surge (${flags.maxSurge}) must not exceed --workers (${workers}).`);
}

/** What `drainkit cluster` runs; resolves with the exit code once the cluster stopped. */
export async function runCluster(config: ClusterFlags & { readonly script: string; readonly args: readonly string[]; readonly registry?: ClusterRegistryFlags | undefined }): Promise<number> {
  const logger = textLogger(config.logLevel);
  const print = (event: string, body: object): void => {
    process.stdout.write(`${JSON.stringify({ event, ...body })}\n`);
  };
  // Signals are wired before the workers start: a SIGTERM during start-up stops what started.
  const startup = new AbortController();
  let cluster: Cluster | undefined;
  let signals = 0;
  const onStop = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (!cluster) startup.abort(signal);
    else if (signals === 1) void cluster.stop(signal);
    else void cluster.force();
    if (signals > 1) logger.warn({}, `${signal} again: forcing every drain`);
  };
  const onReload = (): void => {
    if (cluster) void cluster.reload('SIGHUP');
    else logger.warn({}, 'SIGHUP before every worker was ready: ignored');
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  try {
    try {
      cluster = await startCluster({
        script: config.script,
        args: config.args,
        ...(config.workers !== undefined && { workers: config.workers }),
        port: config.port,
        host: config.host,
        maxSurge: config.maxSurge,
        readyTimeoutMs: config.readyTimeoutMs,
        drainTimeoutMs: config.drainTimeoutMs,
        logger,
        signal: startup.signal,
        ...(config.registry !== undefined && {
          databaseUrl: config.registry.databaseUrl,
          registry: {
            labels: config.registry.labels,
            ...(config.registry.heartbeatMs !== undefined && { heartbeatMs: config.registry.heartbeatMs }),
            ...(config.registry.livenessWriteMs !== undefined && { livenessWriteMs: config.registry.livenessWriteMs }),
          },
        }),
      });
    } catch (err) {
      if (!(err instanceof DrainkitError)) throw err;
      if (err instanceof ClusterStartError && err.stoppedEarly) {
        // A stop during start-up is an operator's choice, not a failure: what started was drained.
        logger.info({}, err.message);
        print('drain_complete', err.stoppedEarly);
        return err.stoppedEarly.ok ? 0 : EXIT_FORCED;
      }
      if (err instanceof ClusterStartError && err.crashLoop) print('crash_loop', err.crashLoop);
      process.stderr.write(`${err.message}\n`);
      return EXIT_CLUSTER_FAILED;
    }
    print('listening', { host: cluster.host, port: cluster.port, pid: cluster.pid, workers: cluster.workers().map((w) => w.pid) });
    cluster.on('reloadComplete', (r: ReloadResult) => print('reload_complete', r));
    cluster.on('workerReplaced', (info) => print('worker_restarted', info));
    cluster.on('crashLoop', (info) => print('crash_loop', info));
    const result: StopResult = await cluster.stopped;
    print('drain_complete', result);
    if (result.reason === 'crash-loop') return EXIT_CLUSTER_FAILED;
    return result.ok ? 0 : EXIT_FORCED;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onReload);
  }
}

/** The script that runs `drainkit` itself, for `example-server --workers`. */
export const CLI_SCRIPT = fileURLToPath(new URL('./main.js', import.meta.url));

/** Flags of `example-server` a worker does not get: the supervisor's, and the registry's (the primary reports for every worker). */
const PRIMARY_ONLY_FLAGS = ['--workers', '--port', '--database-url', '--label', '--heartbeat-ms', '--liveness-write-ms'];

/**
 * The arguments a worker of `drainkit example-server --workers <n>` runs with: the command line
 * as given, without `--workers` and the registry flags (a worker that reported on its own would
 * claim the cluster's host:port row), with `--port` set to the port the cluster chose.
 */
export function exampleWorkerArgs(argv: readonly string[], port: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i]!;
    if (PRIMARY_ONLY_FLAGS.includes(a)) i += 1;
    else if (!PRIMARY_ONLY_FLAGS.some((f) => a.startsWith(`${f}=`))) out.push(a);
  }
  return [...out, '--port', String(port)];
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** Human-readable lines on stderr: `drainkit cluster [pid]: message`. */
function textLogger(minLevel: LogLevel): Logger {
  const min = minLevel === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[minLevel];
  const write = (level: keyof typeof LEVELS) => (_obj: object, msg?: string): void => {
    if (LEVELS[level] < min || msg === undefined) return;
    process.stderr.write(`drainkit cluster [${process.pid}] ${level === 'info' ? '' : `${level}: `}${msg}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
