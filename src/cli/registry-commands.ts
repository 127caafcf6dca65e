/**
 * `drainkit registry …`: the operator's view of the fleet registry and its few writes.
 *
 *     drainkit registry instances [--status s,…] [--label k=v]… [--host h] [--workers] [--json]
 *     drainkit registry events [--instance id] [--since t] [--until t] [--type t,…] [--limit n] [--json]
 *     drainkit registry summary [--json]
 *     drainkit registry drain <id | host:port> --reason <text> [--by who] [--wait] [--wait-timeout <d>]
 *     drainkit registry roll [--label k=v]… [--host h] [--max-unavailable n] [--ready-timeout <d>] --reason <text> [--by who]
 *     drainkit registry reap [--ttl <d>] [--json]
 *     drainkit registry prune --older-than <d> [--json]
 *     drainkit registry migrate
 *     drainkit registry roles [--instance-role n] [--operator-role n] [--read-only-role n] [--schema s] [--apply]
 *
 * Every command takes `--database-url` (default `DATABASE_URL`); the embedded registry is reached
 * through the URL that `drainkit registry-host` prints. Human-readable tables by default, one JSON
 * document with `--json`; notes for the person (a list cut at its limit) go to stderr, so stdout
 * stays one document; so does live progress (`drain --wait`, `roll`), redrawn in place on a
 * terminal. `instances --watch` and `events --follow` stream changes until Ctrl-C. Exit codes:
 * exit-codes.ts (0 done, 1 the registry said no, 2 usage, 3 unreachable, 4 a driver package
 * missing, 5 instance lost, 6 a wait timed out, 7 roll stopped, 70 a drain was forced).
 */
import { hostname, userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { DrainState } from '../core/types.js';
import type { ClusterWorkerRow, DrainEventRow, FleetSummary, Instance, Store } from '../registry/index.js';
import { duration, formatDuration, integer, keyValue, oneOrMoreOf, parseTarget, time } from './args.js';
import { eventPage, listClusterInstanceIds } from '../registry/fleet-view.js';
import { workersSummary, workersTable } from './cluster-workers.js';
import { EVENT_TYPES, type EventType } from './event-list.js';
import { CommandFailure, EXIT } from './exit-codes.js';
import { formatAge, formatTable } from './format.js';
import { ProgressView, paint } from './progress.js';
import { followEvents, interruption, watchInstances } from './progress-watch.js';
import { rollDocument, rollExitCode, rollProgress, rollSummary } from './roll.js';
import { DEFAULT_ROLE_NAMES, applyRoles, rolesScript } from '../registry/roles.js';

export { CommandFailure };

const STATES: readonly DrainState[] = ['active', 'draining', 'stopped'];

interface ConnectionFlags {
  databaseUrl?: string;
}

/** The connection option every registry command takes. */
function withConnection(cmd: Command): Command {
  return cmd.addOption(
    new Option('--database-url <url>', 'the registry: a postgres:// URL (the embedded registry: the URL `drainkit registry-host` prints)').env('DATABASE_URL'),
  );
}

type RegistryModule = typeof import('../registry/index.js');

/**
 * Loads the registry module and opens a store on `databaseUrl`. Opening loads the driver but
 * connects to nothing yet, so what can fail here is a missing driver package (exit 4, naming it)
 * or a URL the registry does not accept (a usage error naming --database-url).
 */
export async function openRegistry(databaseUrl: string): Promise<{ registry: RegistryModule; store: Store }> {
  const registry = await import('../registry/index.js');
  try {
    return { registry, store: await registry.openStore({ databaseUrl }) };
  } catch (err) {
    if (hasCode(err, 'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING')) {
      throw new CommandFailure(messageOf(err).replace(/^drainkit registry: /, ''), EXIT.missingPackage);
    }
    throw new InvalidArgumentError(messageOf(err).replace(/^drainkit registry: (databaseUrl )?/, (_, flag?: string) => (flag === undefined ? '' : '--database-url ')));
  }
}

/**
 * Loads the registry module (lazily: only commands that use the registry load it), opens the store,
 * runs `fn`, closes it; translates "no schema here" into advice.
 */
async function withStore<T>(flags: ConnectionFlags, fn: (store: Store, registry: RegistryModule) => Promise<T>): Promise<T> {
  if (flags.databaseUrl === undefined || flags.databaseUrl === '') {
    throw new InvalidArgumentError('no registry given: pass --database-url postgres://… or set DATABASE_URL.');
  }
  const { registry, store } = await openRegistry(flags.databaseUrl);
  try {
    return await fn(store, registry);
  } catch (err) {
    if (hasCode(err, '42P01')) {
      throw new CommandFailure(`the database at ${redact(flags.databaseUrl)} holds no drainkit registry yet: run \`drainkit registry migrate\`, or start an instance that reports to it`);
    }
    if (err instanceof CommandFailure || err instanceof InvalidArgumentError) throw err;
    const code = (err as { code?: unknown }).code;
    // Our own errors say what they are; a driver's (ECONNREFUSED, auth) needs to say where.
    throw new CommandFailure(
      typeof code === 'string' && code.startsWith('ERR_DRAINKIT')
        ? messageOf(err).replace(/^drainkit registry: /, 'registry: ')
        : `registry at ${redact(flags.databaseUrl)}: ${messageOf(err)}`,
      isUnreachable(err) ? EXIT.unreachable : EXIT.failed,
    );
  } finally {
    await store.close();
  }
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

const statuses = oneOrMoreOf(STATES, 'status');
const eventTypes = oneOrMoreOf(EVENT_TYPES, 'event type');

/** Labels for `registry summary`, in the order printed. */
const SUMMARY_LABELS: readonly (readonly [keyof FleetSummary, string])[] = [
  ['total', 'Instances'],
  ['active', '  active'],
  ['draining', '  draining'],
  ['stopped', '  stopped'],
  ['inflight', 'In-flight requests (live instances)'],
  ['persistent', 'Persistent connections (live instances)'],
  ['pendingDrainRequests', 'Drain requests not yet acknowledged'],
];

/** What `--ttl` must be at least when the instances' liveness write interval is `livenessMs`. */
function minimumTtl(livenessMs: number): number {
  return Math.max(1_000, 2 * livenessMs);
}

/** The reporters' default `livenessWriteMs`: what reap assumes for rows that recorded none, unless told otherwise. */
const DEFAULT_LIVENESS_WRITE_MS = 10_000;

/** An instance with its cluster workers (current registration; none for an instance that is no cluster). */
type Listed = Instance & { readonly workers: readonly ClusterWorkerRow[] };

/**
 * The workers of the listed instances that are clusters. A registry whose schema predates
 * clusters has no ClusterWorker table (42P01): no cluster ever reported to it, so none has workers.
 */
async function withWorkers(store: Store, registry: RegistryModule, instances: readonly Instance[]): Promise<Listed[]> {
  let clusters: Set<number>;
  try {
    clusters = await listClusterInstanceIds(store);
  } catch (err) {
    if (!hasCode(err, '42P01')) throw err;
    clusters = new Set();
  }
  const listed: Listed[] = [];
  for (const i of instances) {
    listed.push({ ...i, workers: clusters.has(i.id) ? await registry.listClusterWorkers(store, { instanceId: i.id }) : [] });
  }
  return listed;
}

/**
 * The instances as a table. The WORKERS column ("3 ready, 1 draining") is there only when a
 * listed instance is a cluster, its cell empty for the others: a fleet without clusters reads as
 * it always did.
 */
function instanceRows(instances: readonly Listed[], now: Date): string {
  const withWorkers = instances.some((i) => i.workers.length > 0);
  return formatTable(
    ['ID', 'ADDRESS', 'STATUS', 'PHASE', 'INFLIGHT', 'PERSISTENT', 'PID', ...(withWorkers ? ['WORKERS'] : []), 'VERSION', 'LABELS', 'HEARTBEAT'],
    instances.map((i) => [
      String(i.id),
      address(i),
      i.status,
      phaseCell(i, now),
      String(i.inflightCount),
      String(i.persistentCount),
      i.pid === null ? '-' : String(i.pid),
      ...(withWorkers ? [i.workers.length === 0 ? '' : workersSummary(i.workers)] : []),
      i.version ?? '-',
      Object.entries(i.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
      `${formatAge(now.getTime() - i.lastHeartbeatAt.getTime())} ago`,
    ]),
  );
}

function address(i: Instance): string {
  return `${i.host.includes(':') ? `[${i.host}]` : i.host}:${i.port}`;
}

/** `--workers`: each cluster's workers under a heading naming its instance, after the instances. */
function clusterSections(instances: readonly Listed[], now: Date): string {
  const clusters = instances.filter((i) => i.workers.length > 0);
  if (clusters.length === 0) return 'no instance listed is a cluster (drainkit cluster --database-url): no workers to show';
  return clusters.map((i) => `workers of instance ${i.id} (${address(i)}, primary pid ${i.pid ?? '-'}):\n${workersTable(i.workers, now)}`).join('\n\n');
}

/** The phase, and for a draining instance the time spent against its budget: "waiting (1.2s of 35s)". */
function phaseCell(i: Instance, now: Date): string {
  const phase = i.phase ?? '-';
  if (i.status !== 'draining' || i.drainStartedAt === null) return phase;
  const spent = formatAge(now.getTime() - i.drainStartedAt.getTime());
  return `${phase} (${i.drainBudgetMs === null ? `for ${spent}` : `${spent} of ${formatAge(i.drainBudgetMs)}`})`;
}

function eventRows(events: readonly DrainEventRow[]): string {
  return formatTable(
    ['TIME', 'INSTANCE', 'EVENT', 'DETAILS'],
    events.map((e) => [e.timestamp.toISOString(), e.instanceId === null ? '-' : String(e.instanceId), e.eventType, e.details === null ? '' : JSON.stringify(e.details)]),
  );
}

/** Who asked, for the `DrainRequest` row: `user@host` unless `--by` says otherwise. */
function defaultRequester(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): keep $USER.
  }
  return `${user}@${hostname()}`;
}

export function addRegistryCommands(program: Command): void {
  const registry = program
    .command('registry')
    .description('Read the fleet registry, ask instances to drain, reap lost instances, prune old rows.');

  withConnection(registry.command('instances'))
    .description('List instances, by host then port.')
    .option('--status <states>', `only these states, comma-separated (${STATES.join(', ')})`, statuses)
    .option('--label <key=value>', 'only instances with this label (repeatable)', keyValue)
    .option('--host <host>', 'only instances on this host')
    .option('--workers', 'also print each cluster\'s workers (drainkit cluster --database-url): status, drain phase, in-flight, exit')
    .option('--json', 'print JSON instead of a table (with --watch: one JSON object per line); a cluster\'s workers are in its "workers"')
    .option('--watch', 'print each instance, then a line each time one changes, until Ctrl-C')
    .action(async (flags: ConnectionFlags & { status?: DrainState[]; label?: Record<string, string>; host?: string; workers?: boolean; json?: boolean; watch?: boolean }) => {
      if (flags.watch === true && flags.workers === true) {
        throw new InvalidArgumentError('--workers cannot be combined with --watch (the watch streams instance rows only); run `registry instances --workers` for a snapshot of the workers');
      }
      if (flags.watch === true) {
        const stop = interruption();
        try {
          await withStore(flags, (s, r) => watchInstances(s, r, { status: flags.status, labels: flags.label, host: flags.host }, flags.json === true, stop.signal, out));
        } finally {
          stop.release();
        }
        return;
      }
      const filtered = flags.status !== undefined || flags.label !== undefined || flags.host !== undefined;
      const { instances, total } = await withStore(flags, async (s, r) => {
        const list = await withWorkers(s, r, await r.listInstances(s, { status: flags.status, labels: flags.label, host: flags.host }));
        // Only an empty answer needs the count: "nothing here yet" and "filtered out" read differently.
        return { instances: list, total: list.length === 0 && filtered ? (await r.fleetSummary(s)).total : list.length };
      });
      const now = new Date();
      if (flags.json === true) json(instances);
      else if (total === 0) out('the registry has no instances yet: instances appear once a server reports to it (the registry plugin, or example-server --database-url)');
      else if (instances.length === 0) out(`no instances match these filters (the registry has ${total})`);
      else out(flags.workers === true ? `${instanceRows(instances, now)}\n\n${clusterSections(instances, now)}` : instanceRows(instances, now));
    });

  withConnection(registry.command('events'))
    .description('List drain events, newest first; says on stderr when --limit cut the list.')
    .option('--instance <id>', 'only this instance\'s events', integer(1, 2_147_483_647))
    .option('--since <time>', 'from this time: ISO 8601, or a duration ago such as 15m, 2h, 7d', time)
    .option('--until <time>', 'before this time: ISO 8601, or a duration ago', time)
    .option('--type <types>', `only these event types, comma-separated (${EVENT_TYPES.join(', ')})`, eventTypes)
    .addOption(new Option('--limit <n>', 'at most this many: the newest (the oldest with --oldest-first)').argParser(integer(1, 100_000)).default(100))
    .option('--oldest-first', 'oldest first: with --since, what happened from then on')
    .option('--json', 'print JSON instead of a table (with --follow: one JSON object per line)')
    .option('--follow', 'print the newest --limit events oldest first, then each new one as it is written, until Ctrl-C (not with --until or --oldest-first)')
    .action(async (flags: ConnectionFlags & { instance?: number; since?: Date; until?: Date; type?: EventType[]; limit: number; oldestFirst?: boolean; json?: boolean; follow?: boolean }) => {
      if (flags.follow === true) {
        if (flags.until !== undefined || flags.oldestFirst === true) throw new InvalidArgumentError('--follow streams from now on: it cannot be combined with --until or --oldest-first.');
        const stop = interruption();
        try {
          await withStore(flags, async (s, r) => {
            const page = await eventPage(s, { instanceId: flags.instance, since: flags.since, types: flags.type, limit: flags.limit, oldestFirst: false });
            await followEvents(s, r, { instanceId: flags.instance, types: flags.type }, page.events, flags.json === true, stop.signal, out);
          });
        } finally {
          stop.release();
        }
        return;
      }
      const filtered = flags.instance !== undefined || flags.since !== undefined || flags.until !== undefined || flags.type !== undefined;
      const page = await withStore(flags, async (s) => {
        const p = await eventPage(s, { instanceId: flags.instance, since: flags.since, until: flags.until, types: flags.type, limit: flags.limit, oldestFirst: flags.oldestFirst === true });
        return { ...p, registryTotal: p.total === 0 && filtered ? (await eventPage(s, { limit: 1, oldestFirst: false })).total : p.total };
      });
      if (flags.json === true) json(page.events);
      else if (page.registryTotal === 0) out('the registry has no events yet: instances record them as they register and drain');
      else out(page.events.length === 0 ? `no events match these filters (the registry has ${page.registryTotal})` : eventRows(page.events));
      if (page.events.length < page.total) {
        process.stderr.write(
          `showing the ${flags.oldestFirst === true ? 'oldest' : 'newest'} ${page.events.length} of ${page.total} matching events; ` +
            `see more with --limit <n> (up to 100000), or narrow with --since, --until, --instance or --type\n`,
        );
      }
    });

  withConnection(registry.command('summary'))
    .description('Counts over the fleet: instances by state, in-flight and persistent connections, pending drain requests.')
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags & { json?: boolean }) => {
      const summary = await withStore(flags, (s, r) => r.fleetSummary(s));
      if (flags.json === true) json(summary);
      else out(`Fleet registry at ${redact(flags.databaseUrl ?? '')}\n${formatTable(['', ''], SUMMARY_LABELS.map(([key, label]) => [label, String(summary[key])]), { header: false })}`);
    });

  withConnection(registry.command('drain'))
    .description('Ask a live instance to drain, exactly as SIGTERM would. It hears at once over LISTEN/NOTIFY on Postgres, on its next heartbeat on the embedded registry.')
    .argument('<instance>', 'an instance id, or host:port', parseTarget)
    .requiredOption('--reason <text>', 'why, recorded in the request and the instance\'s events')
    .option('--by <who>', 'who asks, recorded with the request (default user@host)')
    .option('--wait', 'wait until the instance has stopped, printing its progress on stderr')
    .addOption(new Option('--wait-timeout <duration>', 'give up waiting after this long').argParser(duration(1_000, 86_400_000)).default(600_000, '10m'))
    .option('--json', 'print JSON')
    .action(async (target: { instanceId: number } | { host: string; port: number }, flags: ConnectionFlags & { reason: string; by?: string; wait?: boolean; waitTimeout: number; json?: boolean }) => {
      if (flags.reason.trim() === '') throw new InvalidArgumentError('--reason must not be empty.');
      const result = await withStore(flags, async (s, r) => {
        const request = await r.requestDrain(s, target, { requestedBy: flags.by ?? defaultRequester(), reason: flags.reason });
        if (flags.json !== true) {
          out(request.alreadyPending
            ? `drain already requested: request ${request.requestId} for instance ${request.instanceId} was pending (by ${request.requestedBy} at ${request.requestedAt.toISOString()}: ${request.reason}); no second request recorded`
            : `drain requested: request ${request.requestId} for instance ${request.instanceId}`);
        }
        const final = flags.wait === true ? await waitStopped(s, r, request.instanceId, request.generation, flags.waitTimeout) : undefined;
        return { ...request, ...(final !== undefined && { final }) };
      });
      if (flags.json === true) json(result);
      else if (result.final !== undefined) out(`instance ${result.instanceId} stopped${drainOutcome(result.final)}`);
      // The document is out either way; the exit code says how the drain ended.
      if (result.final?.outcome?.eventType === 'lost') {
        throw new CommandFailure(`instance ${result.instanceId} was lost: it stopped heartbeating before it reported its drain`, EXIT.instanceLost);
      }
      if (result.final?.outcome?.details?.success === false) process.exitCode = EXIT.forced;
    });

  withConnection(registry.command('roll'))
    .description(
      'Rolling restart through the registry: drain the selected active instances a few at a time, and after each, wait until its replacement ' +
        '(started by whatever supervises the processes) registered active on the same host and port. A replacement missing at --ready-timeout stops the roll; nothing else is drained.',
    )
    .option('--label <key=value>', 'only instances with this label (repeatable)', keyValue)
    .option('--host <host>', 'only instances on this host')
    .addOption(new Option('--max-unavailable <n>', 'at most this many instances drained or waiting for their replacement at once').argParser(integer(1, 10_000)).default(1))
    .addOption(new Option('--ready-timeout <duration>', 'how long a replacement may take to register active once the drained process stopped').argParser(duration(100, 86_400_000)).default(60_000, '60s'))
    .addOption(new Option('--stop-timeout <duration>', 'how long a drained process may take to stop (its window plus its drain timeout)').argParser(duration(100, 86_400_000)).default(600_000, '10m'))
    .requiredOption('--reason <text>', 'why, recorded with every drain request')
    .option('--by <who>', 'who asks, recorded with the requests (default user@host)')
    .option('--json', 'print one JSON document at the end (progress still goes to stderr)')
    .action(async (flags: ConnectionFlags & { label?: Record<string, string>; host?: string; maxUnavailable: number; readyTimeout: number; stopTimeout: number; reason: string; by?: string; json?: boolean }) => {
      if (flags.reason.trim() === '') throw new InvalidArgumentError('--reason must not be empty.');
      const view = new ProgressView(process.stderr);
      const result = await withStore(flags, (s, r) =>
        r.rollFleet(s, {
          labels: flags.label,
          host: flags.host,
          maxUnavailable: flags.maxUnavailable,
          readyTimeoutMs: flags.readyTimeout,
          stopTimeoutMs: flags.stopTimeout,
          reason: flags.reason,
          requestedBy: flags.by ?? defaultRequester(),
          onProgress: rollProgress(view),
        }).finally(() => view.finish()),
      );
      const code = rollExitCode(result);
      if (flags.json === true) json(rollDocument(result));
      if (result.outcome === 'stopped') throw new CommandFailure(rollSummary(result), code as Exclude<typeof code, 0 | 2>);
      if (flags.json !== true) out(rollSummary(result));
      process.exitCode = code;
    });

  withConnection(registry.command('reap'))
    .description(
      'Mark instances whose heartbeat is older than --ttl, and older than twice their own liveness write interval (each instance records it when it registers), ' +
        'as stopped, with an event "lost". Safe to run from many places at once.',
    )
    .addOption(
      new Option('--ttl <duration>', 'heartbeat age that counts as lost; at least twice --liveness-write. An instance that writes its liveness less often is given twice its own interval')
        .argParser(duration(1_000, 86_400_000))
        .default(30_000, '30s, as the reporters\' own reaper'),
    )
    .addOption(
      new Option(
        '--liveness-write <duration>',
        'how often instances that did not record their interval (drainkit before registry migration 8) refresh their heartbeat when nothing changes ' +
          '(their livenessWriteMs, or example-server --liveness-write-ms); also sets the lowest --ttl accepted',
      )
        .argParser(duration(50, 600_000))
        .default(DEFAULT_LIVENESS_WRITE_MS, `${formatDuration(DEFAULT_LIVENESS_WRITE_MS)}, the reporters' default`),
    )
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags & { ttl: number; livenessWrite: number; json?: boolean }) => {
      // A live instance writes its heartbeat only every livenessWriteMs when idle. reap() judges
      // each row by max(ttl, 2 × the row's recorded interval), or 2 × --liveness-write for a row
      // that recorded none, so a short TTL cannot take a live instance; a TTL below twice the
      // assumed interval is still refused, as it always was, because it says something the reap
      // will not do.
      const min = minimumTtl(flags.livenessWrite);
      if (flags.ttl < min) {
        throw new InvalidArgumentError(
          `--ttl ${formatDuration(flags.ttl)} is below the minimum ${formatDuration(min)}: twice the instances' liveness write interval ` +
            `(${formatDuration(flags.livenessWrite)}${flags.livenessWrite === DEFAULT_LIVENESS_WRITE_MS ? ', the reporters\' default; if they write more often, say so with --liveness-write' : ', from --liveness-write'}), ` +
            'or live instances would be marked lost between two heartbeats.',
        );
      }
      const lost = await withStore(flags, (s, r) => r.reap(s, { ttlMs: flags.ttl, livenessWriteMs: flags.livenessWrite, reapedBy: `drainkit registry reap (${defaultRequester()})` }));
      if (flags.json === true) json(lost);
      else if (lost.length === 0) out('no lost instances');
      else {
        const now = Date.now();
        out(formatTable(['ID', 'ADDRESS', 'WAS', 'LAST HEARTBEAT'], lost.map((l) => [String(l.id), `${l.host}:${l.port}`, l.previousStatus, `${formatAge(now - l.lastHeartbeatAt.getTime())} ago`])));
      }
    });

  withConnection(registry.command('prune'))
    .description('Delete stopped instances and events older than --older-than. Live instances are kept whatever their age.')
    .requiredOption('--older-than <duration>', 'age, e.g. 7d or 12h (0s to 3650d)', duration(0, 10 * 365 * 86_400_000))
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags & { olderThan: number; json?: boolean }) => {
      const result = await withStore(flags, (s, r) => r.prune(s, { olderThanMs: flags.olderThan, timeoutMs: 60_000 }));
      if (flags.json === true) json(result);
      else out(`pruned ${result.instances} instances, ${result.events} events, ${result.requests} drain requests`);
    });

  withConnection(registry.command('roles'))
    .description(
      'Print (or --apply) the SQL of three least-privilege group roles (NOLOGIN; make login users members of them): an instance role that registers, ' +
        'heartbeats, writes events and answers its drain requests but cannot request one; an operator role that reads everything, requests drains, reaps and prunes; ' +
        'a read-only role for `drainkit dashboard --read-only` and the listings. Real Postgres only (PGlite has one user). Run again after every migrate.',
    )
    .option('--instance-role <name>', 'name of the instance role', DEFAULT_ROLE_NAMES.instance)
    .option('--operator-role <name>', 'name of the operator role', DEFAULT_ROLE_NAMES.operator)
    .option('--read-only-role <name>', 'name of the read-only role', DEFAULT_ROLE_NAMES.readOnly)
    .option('--schema <name>', 'the schema holding the registry\'s tables', DEFAULT_ROLE_NAMES.schema)
    .option('--apply', 'run the SQL against --database-url (as the tables\' owner, with CREATEROLE) instead of printing it')
    .action(async (flags: ConnectionFlags & { instanceRole: string; operatorRole: string; readOnlyRole: string; schema: string; apply?: boolean }) => {
      const names = { instance: flags.instanceRole, operator: flags.operatorRole, readOnly: flags.readOnlyRole, schema: flags.schema };
      let script: string;
      try {
        script = rolesScript(names);
      } catch (err) {
        throw new InvalidArgumentError(messageOf(err).replace(/^drainkit registry: /, '').replace(/^(instance|operator|read-only) role got/, '--$1-role got').replace(/^schema got/, '--schema got'));
      }
      if (flags.apply !== true) {
        out(script);
        return;
      }
      const applied = await withStore(flags, async (s) => {
        try {
          return await applyRoles(s, names);
        } catch (err) {
          // PGlite, or a schema not migrated yet: the registry is there, the request is wrong.
          if (hasCode(err, 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION')) throw new CommandFailure(messageOf(err).replace(/^drainkit registry: /, ''));
          throw err;
        }
      });
      out(
        `roles ${applied.instance} (instances), ${applied.operator} (operators), ${applied.readOnly} (read-only) applied to schema ${applied.schema} at ${redact(flags.databaseUrl ?? '')}\n` +
          `make login users members, e.g. CREATE ROLE web_1 LOGIN PASSWORD '…' IN ROLE ${applied.instance}; run this again after every \`drainkit registry migrate\``,
      );
    });

  withConnection(registry.command('migrate'))
    .description('Create or upgrade the registry schema (instances do this themselves at start; this is for setting it up ahead of them).')
    .action(async (flags: ConnectionFlags) => {
      const version = await withStore(flags, async (s, r) => {
        await r.migrate(s, { appliedBy: `drainkit registry migrate (${defaultRequester()})` });
        return r.LATEST_VERSION;
      });
      out(`registry schema at version ${version}`);
    });
}

/**
 * Follows one instance until it is stopped. A CLI waiting on an operator's behalf reads the row
 * every 250 ms: instances write their transitions, not notifications, and one small primary-key
 * read per quarter second is nothing next to a drain. It follows the registration the request
 * was for (`generation`): a successor that takes the host:port row over while the drained
 * process finishes is not the one asked, so from then on the drained one's own events tell.
 * The instance writes `stopped` (and `drain_complete`) after its shutdown hooks.
 */
async function waitStopped(store: Store, { getInstance, listEvents }: RegistryModule, id: number, generation: number, timeoutMs: number): Promise<Instance & { outcome: DrainEventRow | undefined }> {
  const deadline = Date.now() + timeoutMs;
  const view = new ProgressView(process.stderr);
  try {
    return await follow();
  } finally {
    view.finish();
  }
  async function follow(): Promise<Instance & { outcome: DrainEventRow | undefined }> {
    for (;;) {
      const row = await getInstance(store, id);
      if (row === undefined) throw new CommandFailure(`instance ${id} is no longer in the registry (pruned?)`);
      const replaced = row.generation !== generation;
      const line = replaced
        ? `was replaced on ${row.host}:${row.port} by a new process (pid ${row.pid ?? 'unknown'}); waiting for the drained one's final report`
        : `${row.status}${row.phase === null ? '' : ` (${row.phase})`}: ${row.inflightCount} in flight, ${row.persistentCount} persistent`;
      if (replaced || row.status === 'stopped') {
        const complete = (await listEvents(store, { instanceId: id, generation, types: ['drain_complete', 'lost'] })).at(-1);
        if (complete !== undefined || !replaced) {
          view.set(String(id), `instance ${id} stopped${complete === undefined ? '' : paint(drainOutcome({ outcome: complete }), complete.details?.success === true ? 'good' : 'bad', view.color)}`);
          return Object.assign({}, row, { status: 'stopped' as const, outcome: complete });
        }
      }
      view.set(String(id), `instance ${id} ${paint(line, 'busy', view.color)}`);
      if (Date.now() >= deadline) {
        throw new CommandFailure(`instance ${id} is still ${replaced ? 'draining (replaced)' : row.status} after ${formatAge(timeoutMs)}; the drain request stands`, EXIT.waitTimedOut);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function drainOutcome(final: { outcome?: DrainEventRow | undefined }): string {
  const e = final.outcome;
  if (e === undefined) return '';
  if (e.eventType === 'lost') return ': lost (stopped heartbeating before reporting its drain)';
  const d = e.details ?? {};
  const parts = [d.success === true ? 'drained cleanly' : 'drain forced'];
  if (typeof d.durationMs === 'number') parts.push(`in ${formatAge(d.durationMs)}`);
  if (typeof d.connectionsForced === 'number' && d.connectionsForced > 0) parts.push(`${d.connectionsForced} connections forced`);
  if (typeof d.upgradesClosed === 'number' && d.upgradesClosed > 0) parts.push(`${d.upgradesClosed} unmanaged upgraded connections closed`);
  return `: ${parts.join(', ')}`;
}

function hasCode(err: unknown, code: string): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

/**
 * Errors that mean "could not talk to the registry" rather than "it said no": the network, the
 * server refusing a session (SQLSTATE class 08 connection, 28 authentication, 3D000 no such
 * database, 57P03 starting up), or a statement bound running out.
 */
function isUnreachable(err: unknown): boolean {
  const network = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ERR_DRAINKIT_REGISTRY_TIMEOUT', '3D000', '57P03'];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (network.includes(code) || /^(08|28)[0-9A-Z]{3}$/.test(code))) return true;
    if (e instanceof AggregateError && e.errors.some(isUnreachable)) return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A URL for messages, without its password. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.href;
  } catch {
    return '(the given URL)';
  }
}
