#!/usr/bin/env node
/**
 * The `drainkit` command. The only place in drainkit that ends the process on its own account
 * (with the exit codes of exit-codes.ts); everything below returns errors.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { drainerOptionsFromEnv } from '../core/env-options.js';
import { DrainkitError } from '../core/errors.js';
import { DEFAULTS } from '../core/options.js';
import type { DeregisterOptions } from '../core/types.js';
import { integer, keyValue } from './args.js';
import { addClusterCommand, registryFrom } from './cluster.js';
import { addDashboardCommand } from './dashboard.js';
import { addDemoCommand } from './demo.js';
import { addDoctorCommand } from './doctor.js';
import { runExampleCluster, runExampleServer, type LogFormat } from './example-server.js';
import { CommandFailure, EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { addRegistryCommands, openRegistry } from './registry-commands.js';
import { runRegistryHost } from './registry-host.js';
import { checkRequiredOptionsLast } from './required-options.js';

/** Exit code for bad command-line usage. */
export const EXIT_USAGE = EXIT.usage;

interface ExampleFlags {
  port: number;
  host: string;
  drainTimeoutMs: number;
  deregisterMode: 'fixed' | 'adaptive';
  deregisterDelayMs?: number;
  deregisterMinMs?: number;
  quietMs?: number;
  probeFailureThreshold?: number;
  deregisterConfirm?: 'balancer' | 'traffic';
  lingerMs?: number;
  keepAliveTimeoutMs?: number;
  healthPort?: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  logFormat?: LogFormat;
  databaseUrl?: string;
  label?: Record<string, string>;
  heartbeatMs?: number;
  livenessWriteMs?: number;
  persistentShutdown?: 'window-end' | 'drain-start';
  persistentSpreadMs?: number;
  wsCloseTimeoutMs?: number;
  sseIntervalMs?: number;
  sseReconnectMs?: number;
  workers?: number;
}

function deregisterFrom(flags: ExampleFlags): DeregisterOptions {
  if (flags.deregisterMode === 'fixed') {
    if (flags.deregisterMinMs !== undefined || flags.quietMs !== undefined || flags.probeFailureThreshold !== undefined || flags.deregisterConfirm !== undefined) {
      throw new InvalidArgumentError('--deregister-min-ms, --deregister-confirm, --quiet-ms and --probe-failure-threshold apply to --deregister-mode adaptive only.');
    }
    return { mode: 'fixed', delayMs: flags.deregisterDelayMs ?? 5_000 };
  }
  const maxMs = flags.deregisterDelayMs ?? 5_000;
  const minMs = flags.deregisterMinMs ?? 0;
  if (minMs > maxMs) throw new InvalidArgumentError(`--deregister-min-ms (${minMs}) must not exceed --deregister-delay-ms (${maxMs}).`);
  if (flags.deregisterConfirm === 'traffic' && flags.deregisterMinMs === undefined) {
    throw new InvalidArgumentError('--deregister-confirm traffic needs --deregister-min-ms: the longest the balancer may keep sending new traffic after readiness turned 503.');
  }
  return { mode: 'adaptive', minMs, maxMs, quietMs: flags.quietMs ?? 500, probeFailureThreshold: flags.probeFailureThreshold, confirm: flags.deregisterConfirm };
}

/**
 * drainkit's version from its package.json, read at run time next to this module (dist/cli or
 * src/cli, both two levels below the package root), so it is the version actually installed.
 */
function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  try {
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
    if (typeof version === 'string') return version;
    return `unknown (no "version" in ${file.pathname})`;
  } catch (err) {
    return `unknown (could not read ${file.pathname}: ${err instanceof Error ? err.message : String(err)})`;
  }
}

export function buildProgram(): Command {
  const program = new Command('drainkit')
    .description('Graceful shutdown for Node.js servers: drain with zero failed requests.')
    .version(packageVersion(), '-V, --version', 'print drainkit\'s version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('afterAll', `\n${EXIT_CODES_HELP}`)
    // `drainkit cluster <script> [args…]` passes the script's own flags through untouched.
    .enablePositionalOptions();

  program
    .command('example-server')
    .description('Run an HTTP server with drainkit attached. SIGTERM or Ctrl-C drains it; a second signal forces. DRAINKIT_* environment variables (docs/kubernetes.md) set what the flags do not.')
    .requiredOption('--port <n>', 'port to listen on (0 picks a free one)', integer(0, 65_535))
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--drain-timeout-ms <n>', 'how long in-flight work may take after the window', integer(0, 3_600_000), DEFAULTS.drainTimeoutMs)
    .addOption(new Option('--deregister-mode <mode>', 'deregistration window').choices(['fixed', 'adaptive']).default('adaptive'))
    .option('--deregister-delay-ms <n>', 'the fixed window, or the adaptive window\'s maximum (default 5000)', integer(0, 3_600_000))
    .option('--deregister-min-ms <n>', 'adaptive: the window\'s minimum (default 0)', integer(0, 3_600_000))
    .option('--quiet-ms <n>', 'adaptive: quiet period with no new request after confirmation (default 500)', integer(0, 60_000))
    .option('--probe-failure-threshold <n>', 'adaptive: the balancer\'s failure threshold (HAProxy fall); 503 probes that confirm', integer(1, 100))
    .addOption(new Option('--deregister-confirm <how>', 'adaptive: what confirms the window; traffic: quiet-ms without a new request or connection after --deregister-min-ms (default balancer)').choices(['balancer', 'traffic']))
    .option('--linger-ms <n>', 'wait for the client\'s FIN after our half-close (default 2000)', integer(0, 60_000))
    .option('--keep-alive-timeout-ms <n>', 'server keep-alive timeout, above the balancer\'s idle timeout (default 65000)', integer(1_000, 3_600_000))
    .option('--health-port <n>', 'also answer /readyz and /healthz on a dedicated port', integer(0, 65_535))
    .addOption(new Option('--log-level <level>', 'stderr log level').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .addOption(new Option('--log-format <format>', 'pretty: routes, what to try, plain drain lines; json: JSON lines on stdout and stderr (default: pretty when stdout is a terminal, else json)').choices(['pretty', 'json']))
    .option('--database-url <url>', 'report to the fleet registry at this postgres:// URL (DATABASE_URL is not read)')
    .option('--label <key=value>', 'registry label (repeatable)', keyValue)
    .option('--heartbeat-ms <n>', 'registry heartbeat tick (default 1000)', integer(50, 60_000))
    .option('--liveness-write-ms <n>', 'registry: refresh the heartbeat timestamp at least this often, even when nothing changed (default 10000; reapers need a TTL above it)', integer(50, 600_000))
    .addOption(new Option('--persistent-shutdown <when>', 'when WebSocket, SSE and long-poll clients are told to go away (default window-end)').choices(['window-end', 'drain-start']))
    .option('--persistent-spread-ms <n>', 'spread WebSocket closes and SSE endings over this span (default 2500)', integer(0, 60_000))
    .option('--ws-close-timeout-ms <n>', '/ws: wait this long for the client\'s close frame, then terminate (default 5000)', integer(0, 600_000))
    .option('--sse-interval-ms <n>', '/sse: interval between events (default 1000)', integer(10, 3_600_000))
    .option('--sse-reconnect-ms <n>', '/sse: retry hint sent to clients on drain (default 1000)', integer(0, 3_600_000))
    .option('--workers <n>', 'run as n workers on one port under the cluster supervisor (SIGHUP reloads them)', integer(1, 256))
    .action(async (flags: ExampleFlags, cmd: Command) => {
      // DRAINKIT_* variables set what the flags do not: a flag given on the command line wins.
      const given = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
      let env;
      try {
        env = drainerOptionsFromEnv(process.env);
      } catch (err) {
        throw err instanceof DrainkitError ? new InvalidArgumentError(err.message.replace(/^drainkit: /, '')) : err;
      }
      const deregisterGiven = ['deregisterMode', 'deregisterDelayMs', 'deregisterMinMs', 'deregisterConfirm', 'quietMs', 'probeFailureThreshold'].some(given);
      if (flags.databaseUrl === undefined && (flags.heartbeatMs !== undefined || flags.livenessWriteMs !== undefined || flags.label !== undefined)) {
        throw new InvalidArgumentError('--label, --heartbeat-ms and --liveness-write-ms apply with --database-url only.');
      }
      if (flags.livenessWriteMs !== undefined && flags.livenessWriteMs < (flags.heartbeatMs ?? 1_000)) {
        throw new InvalidArgumentError(`--liveness-write-ms (${flags.livenessWriteMs}) must not be below the heartbeat tick (--heartbeat-ms, ${flags.heartbeatMs ?? 1_000}).`);
      }
      if (flags.workers !== undefined) {
        deregisterFrom(flags); // bad window flags are a usage error here, not a crash loop of workers
        const registry = await registryFrom(flags);
        process.exitCode = await runExampleCluster({ workers: flags.workers, port: flags.port, host: flags.host, drainTimeoutMs: flags.drainTimeoutMs, logLevel: flags.logLevel, registry });
        return;
      }
      if (flags.databaseUrl !== undefined) {
        // The reporter retries a registry it cannot reach in the background, which is right for a
        // database that is down, not for a driver that is not installed or a URL it cannot take:
        // those stop here, before listening, with the package to install or the flag to fix.
        const { store } = await openRegistry(flags.databaseUrl);
        await store.close();
      }
      await runExampleServer({
        port: flags.port,
        host: flags.host,
        env,
        drainTimeoutMs: given('drainTimeoutMs') || env.drainTimeoutMs === undefined ? flags.drainTimeoutMs : undefined,
        deregister: deregisterGiven || env.deregister === undefined ? deregisterFrom(flags) : undefined,
        lingerMs: flags.lingerMs,
        keepAliveTimeoutMs: flags.keepAliveTimeoutMs,
        healthPort: flags.healthPort,
        logLevel: flags.logLevel,
        logFormat: flags.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json'),
        persistent: {
          shutdown: flags.persistentShutdown,
          spreadMs: flags.persistentSpreadMs,
          wsCloseTimeoutMs: flags.wsCloseTimeoutMs,
          sseIntervalMs: flags.sseIntervalMs,
          sseReconnectMs: flags.sseReconnectMs,
        },
        registry: flags.databaseUrl === undefined ? undefined : { databaseUrl: flags.databaseUrl, labels: flags.label ?? {}, heartbeatMs: flags.heartbeatMs, livenessWriteMs: flags.livenessWriteMs },
      });
    });
  program
    .command('registry-host')
    .description('Serve the embedded fleet registry (PGlite in a data directory) to local processes over the Postgres protocol. SIGTERM or Ctrl-C stops it.')
    .requiredOption('--data-dir <dir>', 'where PGlite keeps the registry (created if missing); "memory://" keeps nothing')
    .option('--host <addr>', 'address to serve on (the protocol has no authentication: keep it local)', '127.0.0.1')
    .option('--port <n>', 'port to serve on (0 picks a free one)', integer(0, 65_535), 0)
    .action(async (flags: { dataDir: string; host: string; port: number }) => {
      await runRegistryHost({ dataDir: flags.dataDir, host: flags.host, port: flags.port });
    });
  addClusterCommand(program);
  addRegistryCommands(program);
  addDoctorCommand(program);
  addDashboardCommand(program);
  addDemoCommand(program);
  checkRequiredOptionsLast(program);
  return program;
}

/**
 * The exit code and the one line for an error no command handled itself. A registry error
 * naming a missing driver package says which and how to install it, with its own exit code.
 */
function failureOf(err: unknown): { code: number; line: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CommandFailure) return { code: err.exitCode, line: message };
  if ((err as { code?: unknown }).code === 'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING') {
    return { code: EXIT.missingPackage, line: message.replace(/^drainkit registry: /, '') };
  }
  return { code: EXIT.failed, line: `unexpected error: ${message}` };
}

/**
 * `drainkit registry events | head` closes the pipe after a few lines: the rest of the output has
 * no reader, which is the reader's choice, not a failure. Without this, the next write raised an
 * unhandled EPIPE and a stack trace. The command still runs to its end (an example server keeps
 * draining), its output simply goes nowhere.
 */
function ignoreClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

async function main(argv: readonly string[]): Promise<void> {
  ignoreClosedStdout();
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // First: InvalidArgumentError is a CommanderError too, but one thrown by our own actions,
    // which commander has not printed.
    if (err instanceof InvalidArgumentError) {
      // The same shape as commander's own usage errors.
      process.stderr.write(`error: ${err.message}\n(run with --help for usage)\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    if (err instanceof CommanderError) {
      // Printed by commander already. --help and --version end here with code 0; every usage error with 2.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // CommandFailure: the registry said no or could not be reached; anything else is unexpected
    // but still one line, not a stack, for an operator at a terminal.
    const { code, line } = failureOf(err);
    process.stderr.write(`drainkit: ${line}\n`);
    process.exitCode = code;
  }
}

await main(process.argv);
