/**
 * `drainkit dashboard [--database-url <url> | --data-dir <dir>] [--host 127.0.0.1] [--port <n>]
 * [--allowed-host <name[:port]>]… [--read-only] [--token <t>]`: serves the fleet's web dashboard and prints one JSON line,
 * `{"event":"listening","port":…,"pid":…,"url":…}`, the URL carrying the sign-in token (it signs
 * one browser in, once per process; `POST /sign-in-links` mints links for more). With
 * `--data-dir` it also hosts that embedded registry for local servers (`registryUrl` in the line).
 * SIGTERM or Ctrl-C stops it (`{"event":"stopped",…}`).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Store } from '../registry/driver.js';
import { integer } from './args.js';
import { CommandFailure, EXIT } from './exit-codes.js';
import { isLoopback, isWildcard, parseAllowedHost } from '../dashboard/security.js';
import { openRegistry } from './registry-commands.js';

export const TOKEN_ENV = 'DRAINKIT_DASHBOARD_TOKEN';
export const ALLOWED_HOSTS_ENV = 'DRAINKIT_DASHBOARD_ALLOWED_HOSTS';

interface DashboardFlags {
  databaseUrl?: string;
  dataDir?: string;
  host: string;
  port: number;
  readOnly?: boolean;
  token?: string;
  allowedHost?: string[];
}

/** `--allowed-host`, repeatable; the environment variable's value may list several, comma-separated. */
function allowedHostArg(value: string, previous: string[] = []): string[] {
  const out = [...previous];
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const parsed = parseAllowedHost(part);
    if (typeof parsed === 'string') throw new InvalidArgumentError(`${parsed}.`);
    out.push(part);
  }
  return out;
}

export function addDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('Serve a live web dashboard of the fleet registry: instances, drains, audit; drain and reap from the page.')
    .addOption(new Option('--database-url <url>', 'the registry: a postgres:// URL').env('DATABASE_URL').conflicts('dataDir'))
    .option('--data-dir <dir>', 'an embedded registry (PGlite) in this directory, hosted for local servers too')
    .option('--host <addr>', 'address to serve on; any other than loopback needs --token, and a wildcard (0.0.0.0, ::) needs --allowed-host', '127.0.0.1')
    .addOption(new Option('--allowed-host <name[:port]>', 'a name browsers reach the dashboard by (its Host header must match; repeatable; the first is the printed URL\'s host)').argParser(allowedHostArg).env(ALLOWED_HOSTS_ENV))
    .option('--port <n>', 'port to serve on (0 picks a free one)', integer(0, 65_535), 0)
    .option('--read-only', 'render no actions and refuse them')
    .addOption(new Option('--token <t>', 'the sign-in secret, at least 16 characters (default: a random one). The printed URL carries it and signs one browser in, once; scripts send it as Authorization: Bearer, and POST /sign-in-links mints one-time links for more browsers').env(TOKEN_ENV))
    .action(async (flags: DashboardFlags) => {
      await runDashboard(flags);
    });
}

async function runDashboard(flags: DashboardFlags): Promise<void> {
  if (!isLoopback(flags.host) && (flags.token === undefined || flags.token === '')) {
    throw new InvalidArgumentError(`refusing to serve on ${flags.host} without a token: anyone who reaches it could drain the fleet. Pass --token <t> (or set ${TOKEN_ENV}), or keep --host 127.0.0.1.`);
  }
  if (isWildcard(flags.host) && (flags.allowedHost ?? []).length === 0) {
    throw new InvalidArgumentError(`serving on ${flags.host} (every interface) needs --allowed-host <name[:port]> (or ${ALLOWED_HOSTS_ENV}): the name browsers will use to reach the dashboard; the Host header of every request must match one (DNS-rebinding guard), and the first is the printed URL's host.`);
  }
  if (flags.token !== undefined && flags.token.length < 16) {
    throw new InvalidArgumentError(`--token is ${flags.token.length} characters; accepted: at least 16.`);
  }
  let store: Store;
  let closeRegistry: () => Promise<void>;
  let registryUrl: string | undefined;
  const registry = await import('../registry/index.js');
  if (flags.dataDir !== undefined) {
    const hosted = await registry.hostPglite({ dataDir: flags.dataDir });
    store = hosted.store;
    registryUrl = hosted.url;
    closeRegistry = () => hosted.stop();
  } else if (flags.databaseUrl !== undefined && flags.databaseUrl !== '') {
    store = (await openRegistry(flags.databaseUrl)).store;
    closeRegistry = () => store.close();
  } else {
    throw new InvalidArgumentError('no registry given: pass --database-url postgres://… (or set DATABASE_URL), or --data-dir <dir> for an embedded one.');
  }
  const { startDashboard } = await import('../dashboard/server.js');
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  try {
    // The change feed's triggers come with the schema; a dashboard on a fresh registry creates it.
    await registry.migrate(store, { appliedBy: `drainkit dashboard pid ${process.pid}` });
    dashboard = await startDashboard({ store, host: flags.host, port: flags.port, token: flags.token, allowedHosts: flags.allowedHost, readOnly: flags.readOnly === true });
  } catch (err) {
    await closeRegistry().catch(() => undefined);
    const message = err instanceof Error ? err.message : String(err);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new CommandFailure(`cannot serve on ${flags.host}:${flags.port}: the port is in use`, EXIT.failed);
    throw new CommandFailure(`the registry could not be reached or read: ${message.replace(/^drainkit registry: /, '')}`, EXIT.unreachable);
  }
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: dashboard.port, pid: process.pid, url: dashboard.url, readOnly: flags.readOnly === true, ...(registryUrl === undefined ? {} : { registryUrl }) })}\n`);
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    void dashboard.close().then(closeRegistry).then(
      () => process.stdout.write(`${JSON.stringify({ event: 'stopped', signal, pid: process.pid })}\n`),
      (err: unknown) => {
        process.stderr.write(`drainkit dashboard: stopping failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = EXIT.failed;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
