/**
 * What `drainkit example-server` prints for a person at a terminal (`--log-format pretty`): what
 * is running and how to try it at start, a few plain lines during a drain, and one line for the
 * outcome. The JSON lines (`--log-format json`) stay the contract for scripts and pipes.
 */
import type { DrainResult, Logger } from '../core/types.js';
import { EXIT } from './exit-codes.js';
import { formatAge } from './format.js';
import { ROUTES } from '../example/routes.js';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVELS;

/**
 * Records that only retell what the person already sees: each drain phase (the lines around it
 * say where the drain is) and the final record (the outcome line on stdout says it once).
 * Still printed at `--log-level debug`.
 */
const QUIET_UNLESS_DEBUG: ReadonlySet<unknown> = new Set(['drain_phase', 'drain_complete']);

/** One line per record: the message, with `warning:`/`error:` in front when it is one. */
export function prettyLogger(minLevel: Level | 'silent' = 'info', stream: NodeJS.WritableStream = process.stderr): Logger {
  const min = minLevel === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[minLevel];
  const write = (level: Level) => (obj: object, msg?: string): void => {
    if (LEVELS[level] < min) return;
    const event = (obj as { event?: unknown }).event;
    if (min > LEVELS.debug && QUIET_UNLESS_DEBUG.has(event)) return;
    const text = describeRecord(obj, msg);
    stream.write(`${level === 'warn' ? 'warning: ' : level === 'error' ? 'error: ' : ''}${text}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function describeRecord(obj: object, msg: string | undefined): string {
  const r = obj as Record<string, unknown>;
  switch (r.event) {
    case 'drain_start':
      return `draining (${String(r.reason)}): readiness answers 503 now; ${count(r.inflight, 'request')} in flight, ${count(r.persistent, 'persistent connection')}`;
    case 'drain_window_end': {
      const window = r.endedBy === 'skipped' ? 'deregistration window skipped' : `deregistration window over (${String(r.endedBy)}${typeof r.windowMs === 'number' ? ` after ${formatAge(r.windowMs)}` : ''})`;
      return `${window}; no new connections, finishing what is in flight`;
    }
    default: {
      const text = (msg ?? (typeof r.event === 'string' ? r.event : '')).replace(/^drainkit: /, '');
      return text === '' ? JSON.stringify(obj) : text;
    }
  }
}

function count(n: unknown, noun: string): string {
  const k = typeof n === 'number' ? n : 0;
  return `${k} ${noun}${k === 1 ? '' : 's'}`;
}

export interface BannerInput {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Optional packages that are not installed: their routes are marked. */
  readonly missing: readonly string[];
  /** The registry URL the server reports to, without its password; undefined when none. */
  readonly registry: string | undefined;
}

/** The start-up text: where it listens, the routes, what to try, what Ctrl-C does. */
export function listeningBanner(b: BannerInput): string {
  const base = `http://${urlHost(b.host)}:${b.port}`;
  const width = Math.max(...ROUTES.map((r) => r.path.length));
  const routes = ROUTES.map((r) => {
    const unavailable = r.needs !== undefined && b.missing.includes(r.needs) ? ` (needs the "${r.needs}" package: 501 until installed)` : '';
    return `  ${r.method.padEnd(4)} ${r.path.padEnd(width)}  ${r.description}${unavailable}`;
  });
  return [
    `drainkit example server listening on ${base} (pid ${b.pid})${b.registry === undefined ? '' : `, reporting to ${b.registry}`}`,
    '',
    'Routes:',
    ...routes,
    '',
    'Try, from another terminal:',
    `  curl '${base}/work?ms=5000'    then press Ctrl-C here: that request still gets its answer`,
    `  curl -i ${base}/readyz         200 now, 503 once a drain starts`,
    '',
    `Ctrl-C drains: readiness turns 503, in-flight requests finish, then the process exits ${EXIT.ok}`,
    `(${EXIT.forced} if the drain had to be forced). On a terminal Ctrl-C skips the deregistration window`,
    'that SIGTERM keeps for load balancers; a second Ctrl-C forces. --log-format json prints JSON lines.',
    '',
  ].join('\n');
}

/** The host as it goes in a URL a person can paste: a wildcard address becomes loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** One line for the outcome of the drain, with the exit code that follows it. */
export function drainSummary(result: DrainResult): string {
  const parts: string[] = [];
  if (result.success) {
    parts.push(`drained in ${formatAge(result.durationMs)}: ${count(result.requestsCompleted, 'request')} completed during the drain`);
  } else {
    parts.push(`drain forced (${result.forcedBy ?? 'timeout'}) after ${formatAge(result.durationMs)}: ${count(result.requestsRemaining, 'request')} and ${count(result.persistentRemaining, 'persistent connection')} cut`);
    if (result.connectionsForced > 0) parts.push(`${count(result.connectionsForced, 'connection')} destroyed`);
  }
  if (result.upgradesClosed > 0) parts.push(`${count(result.upgradesClosed, 'unmanaged upgraded connection')} closed`);
  return `${parts.join(', ')}; exiting ${result.success ? EXIT.ok : EXIT.forced}`;
}
