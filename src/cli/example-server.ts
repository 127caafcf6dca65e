/**
 * `drainkit example-server`: a server with drainkit attached, for operators to try their load
 * balancer's drain settings and for drainkit's own end-to-end tests and benchmarks.
 *
 * Two output formats (`--log-format`, default pretty when stdout is a terminal, json otherwise):
 *
 * - json: stdout carries exactly two JSON lines, `{"event":"listening",...}` once listening and
 *   `{"event":"drain_complete",...}` as it exits; logs go to stderr as JSON lines (without a
 *   second copy of the drain result, which is stdout's last line).
 * - pretty: stdout says where it listens, the routes, what to try and what Ctrl-C does, and
 *   ends with one line for the drain's outcome; stderr has one plain line per notable log record.
 */
import * as http from 'node:http';
import { createDrainer } from '../core/drainer.js';
import type { DeregisterOptions, DrainerOptions, DrainResult, Logger } from '../core/types.js';
import { exampleHandler } from '../example/app.js';
import { persistentRoutes, type PersistentRoutesOptions } from '../example/persistent-routes.js';
import { CLUSTER_DEFAULTS } from '../cluster/options.js';
import { resolvePort } from '../cluster/port.js';
import { CLI_SCRIPT, exampleWorkerArgs, runCluster, type ClusterRegistryFlags } from './cluster.js';
import { drainSummary, listeningBanner, prettyLogger } from './example-console.js';
import { jsonLogger } from './json-log.js';

export type LogFormat = 'pretty' | 'json';

export interface ExampleServerConfig {
  readonly port: number;
  readonly host: string;
  /** Options read from DRAINKIT_* variables (`drainerOptionsFromEnv`); every field below that is set wins over them. */
  readonly env?: DrainerOptions | undefined;
  /** Undefined: from `env`, else the default. */
  readonly drainTimeoutMs: number | undefined;
  readonly deregister: DeregisterOptions | undefined;
  readonly lingerMs: number | undefined;
  readonly keepAliveTimeoutMs: number | undefined;
  readonly healthPort: number | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Human text or JSON lines; see the module comment. */
  readonly logFormat: LogFormat;
  /** WebSocket, SSE and long-poll settings (`--persistent-shutdown`, `--ws-close-timeout-ms`…). */
  readonly persistent?: (PersistentRoutesOptions & { readonly shutdown?: 'window-end' | 'drain-start' | undefined; readonly spreadMs?: number | undefined }) | undefined;
  /** Report to the fleet registry (`--database-url`); undefined leaves the registry unloaded. */
  readonly registry?: { readonly databaseUrl: string; readonly labels: Readonly<Record<string, string>>; readonly heartbeatMs: number | undefined; readonly livenessWriteMs?: number | undefined } | undefined;
}

/** Starts the example server; resolves once it is listening. */
export async function runExampleServer(config: ExampleServerConfig): Promise<http.Server> {
  const logger = config.logFormat === 'pretty' ? prettyLogger(config.logLevel) : withoutDrainComplete(jsonLogger(config.logLevel));
  const server = http.createServer();
  const env = config.env ?? {};
  const envHealth = env.health === false ? {} : env.health;
  const drainer = createDrainer(server, {
    ...env,
    ...(config.drainTimeoutMs !== undefined && { drainTimeoutMs: config.drainTimeoutMs }),
    ...(config.deregister !== undefined && { deregister: config.deregister }),
    logger,
    ...(config.lingerMs !== undefined && { lingerMs: config.lingerMs }),
    ...(config.keepAliveTimeoutMs !== undefined && { keepAliveTimeoutMs: config.keepAliveTimeoutMs }),
    ...(config.healthPort !== undefined && { health: { ...envHealth, port: config.healthPort } }),
    ...(config.persistent?.shutdown !== undefined && { persistentShutdown: config.persistent.shutdown }),
    ...(config.persistent?.spreadMs !== undefined && { persistentSpreadMs: config.persistent.spreadMs }),
  });
  const persistent = await persistentRoutes(drainer, server, config.persistent);
  server.on('request', exampleHandler(drainer, persistent.routes));
  drainer.on('drained', (result: DrainResult) => {
    // Pipes and terminals are synchronous on POSIX, so this line is out before the process exits.
    process.stdout.write(config.logFormat === 'pretty' ? `${drainSummary(result)}\n` : `${JSON.stringify({ event: 'drain_complete', pid: process.pid, ...result })}\n`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : config.port;
  if (config.registry) {
    // Loaded only when asked, so `pg` is never required otherwise. Registration runs in the
    // background: a database that is down does not stop the server from serving.
    const { startReporter } = await import('../registry/index.js');
    startReporter(drainer, {
      databaseUrl: config.registry.databaseUrl,
      // No host: the registry's identity rule applies (DRAINKIT_INSTANCE_HOST, else the
      // machine's hostname), the same as for every other app on the fleet.
      port,
      labels: config.registry.labels,
      ...(config.registry.heartbeatMs !== undefined && { heartbeatMs: config.registry.heartbeatMs }),
      ...(config.registry.livenessWriteMs !== undefined && { livenessWriteMs: config.registry.livenessWriteMs }),
    });
  }
  process.stdout.write(
    config.logFormat === 'pretty'
      ? listeningBanner({ host: config.host, port, pid: process.pid, missing: persistent.missing, registry: config.registry === undefined ? undefined : redactPassword(config.registry.databaseUrl) })
      : `${JSON.stringify({ event: 'listening', host: config.host, port, pid: process.pid })}\n`,
  );
  return server;
}

/**
 * The core logs the drain result as its last record; in JSON mode stdout's `drain_complete` line
 * already carries it, and one result printed on both streams is one too many.
 */
function withoutDrainComplete(logger: Logger): Logger {
  const kept = (obj: object): boolean => (obj as { event?: unknown }).event !== 'drain_complete';
  return {
    info: (obj, msg) => kept(obj) && logger.info(obj, msg),
    warn: (obj, msg) => kept(obj) && logger.warn(obj, msg),
    error: (obj, msg) => kept(obj) && logger.error(obj, msg),
    debug: (obj, msg) => kept(obj) && logger.debug?.(obj, msg),
  };
}

/** A database URL for the terminal, without its password. */
function redactPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.href;
  } catch {
    return '(the given --database-url)';
  }
}

/**
 * `example-server --workers <n>`: the same server as n workers under the cluster supervisor, on
 * one port; each worker runs this command line without `--workers`. Resolves with the exit code.
 */
export async function runExampleCluster(config: {
  readonly workers: number;
  readonly port: number;
  readonly host: string;
  readonly drainTimeoutMs: number;
  readonly logLevel: ExampleServerConfig['logLevel'];
  /** The primary reports the cluster (its workers get no registry flags). */
  readonly registry?: ClusterRegistryFlags | undefined;
}): Promise<number> {
  const port = await resolvePort(config.host, config.port);
  const at = process.argv.indexOf('example-server');
  return runCluster({
    script: CLI_SCRIPT,
    args: exampleWorkerArgs(process.argv.slice(at), port),
    workers: config.workers,
    port,
    host: config.host,
    maxSurge: CLUSTER_DEFAULTS.maxSurge,
    readyTimeoutMs: CLUSTER_DEFAULTS.readyTimeoutMs,
    // Each worker's own --drain-timeout-ms bounds its drain; the primary forces only past it.
    drainTimeoutMs: config.drainTimeoutMs + 5_000,
    logLevel: config.logLevel,
    registry: config.registry,
  });
}
