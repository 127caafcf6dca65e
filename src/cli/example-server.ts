/**
 * `drainkit example-server`: a server with drainkit attached, for operators to try their load
 * balancer's drain settings and for drainkit's own end-to-end tests and benchmarks.
 *
 * stdout carries exactly two JSON lines: `{"event":"listening",...}` once listening and
 * `{"event":"drain_complete",...}` as it exits. Logs go to stderr as JSON lines.
 */
import * as http from 'node:http';
import * as os from 'node:os';
import { createDrainer } from '../core/drainer.js';
import type { DeregisterOptions, DrainerOptions, DrainResult } from '../core/types.js';
import { exampleHandler } from '../example/app.js';
import { persistentRoutes, type PersistentRoutesOptions } from '../example/persistent-routes.js';
import { jsonLogger } from './json-log.js';

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
  /** WebSocket, SSE and long-poll settings (`--persistent-shutdown`, `--ws-close-timeout-ms`…). */
  readonly persistent?: (PersistentRoutesOptions & { readonly shutdown?: 'window-end' | 'drain-start' | undefined; readonly spreadMs?: number | undefined }) | undefined;
  /** Report to the fleet registry (`--database-url`); undefined leaves the registry unloaded. */
  readonly registry?: { readonly databaseUrl: string; readonly labels: Readonly<Record<string, string>>; readonly heartbeatMs: number | undefined; readonly livenessWriteMs?: number | undefined } | undefined;
}

/** Starts the example server; resolves once it is listening. */
export async function runExampleServer(config: ExampleServerConfig): Promise<http.Server> {
  const logger = jsonLogger(config.logLevel);
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
    // Pipes are synchronous on POSIX, so this line is out before the process exits.
    process.stdout.write(`${JSON.stringify({ event: 'drain_complete', pid: process.pid, ...result })}\n`);
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
      host: config.host === '0.0.0.0' || config.host === '::' ? os.hostname() : config.host,
      port,
      labels: config.registry.labels,
      ...(config.registry.heartbeatMs !== undefined && { heartbeatMs: config.registry.heartbeatMs }),
      ...(config.registry.livenessWriteMs !== undefined && { livenessWriteMs: config.registry.livenessWriteMs }),
    });
  }
  process.stdout.write(`${JSON.stringify({ event: 'listening', host: config.host, port, pid: process.pid })}\n`);
  return server;
}
