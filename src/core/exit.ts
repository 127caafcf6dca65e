/**
 * Ending the process after a drain. One process may hold several drainers (an API server and an
 * admin server; one signal drains both), so the exit waits until every drain under way in the
 * process has ended, with the worst code any of them asked for.
 *
 * - When all that still holds the event loop is what the drains themselves closed (their
 *   listeners and the sockets they destroyed, whose file descriptors are closed already, so
 *   every FIN is sent) the process ends at once: only those handles' close callbacks are left,
 *   about 10 µs of JavaScript per socket (50 ms for 5,000 idle keep-alive connections), with no
 *   effect outside the process. See {@link onlyClosedByDrainsLeft}. Idle keep-alive connections
 *   a drain left for the exit (paused, not destroyed: Tracker#closeIdle) count among those; the
 *   exit's close of every descriptor sends their FIN.
 * - Otherwise (a timer, a file or socket write, a connection or server of the application, a
 *   `beforeExit` listener) it is left to exit on its own, so loggers and telemetry flush; if
 *   something still holds the event loop `graceMs` later, it is ended with `process.exit`.
 */
import { NetSocket } from './builtins.js';
import type { DrainLog } from './drain-log.js';
import { DrainkitError, describeValue } from './errors.js';
import type { DrainRequest } from './types.js';

interface ExitClaim {
  readonly code: number;
  readonly graceMs: number;
  readonly log: DrainLog;
}

/**
 * The handles a drain closed whose close callbacks may still be to come, by the names
 * `process.getActiveResourcesInfo()` lists them under: its destroyed sockets and its listener.
 */
export interface ClosingHandles {
  readonly sockets: number;
  readonly servers: number;
}

/**
 * A drain as the exit sees it: what it closed, and what is left to do when the process lives
 * on after it (no exit was asked for, or it is not coming at once).
 */
export interface DrainHandles {
  readonly closing: () => ClosingHandles;
  /**
   * The process lives on: close what the drain left for the exit (idle connections,
   * Tracker#closeIdle) and do what only matters to a process that goes on (the server's
   * connection-check interval, the signal handlers). Skipped by an exit that comes at once: on
   * that path every function runs for the first time, and each costs its compilation.
   */
  readonly livingOn: () => void;
}

/** Drains under way in this process, of any drainer, with what each of them closes. */
const running = new Map<object, DrainHandles>();
/** Drains that ended while an exit was pending or claimed: their handles may still be closing. */
const ended = new Map<object, DrainHandles>();
let pending: ExitClaim | undefined;
let stdioSockets: number | undefined;

/**
 * How many of standard output and error are sockets (pipes, terminals). Node creates each
 * stream on its first read (0.3 to 1.4 ms measured here for a pipe), and once created it stays:
 * read once, when a drain begins.
 */
function stdioSocketCount(): number {
  stdioSockets ??= (process.stdout instanceof NetSocket ? 1 : 0) + (process.stderr instanceof NetSocket ? 1 : 0);
  return stdioSockets;
}

export function drainBegan(drain: object, handles: DrainHandles): void {
  running.set(drain, handles);
  // What the exit's check reads, read once now, while the drain has time: the check runs once,
  // between the last response and the exit, and everything on that path runs for the first
  // time (docs/internals.md, "The exit's path runs once"). V8 compiles a function on its first
  // call (about 20 µs for the check and the drain's `closing`, measured); with no drain ended
  // the check returns at once, and `closing` only reads.
  stdioSocketCount();
  handles.closing();
  onlyClosedByDrainsLeft([]);
}

/**
 * `drain` has ended. With `claim`, it asks for the process to end; the exit happens once no
 * other drain in the process is still running.
 */
export function drainEnded(drain: object, claim?: ExitClaim): void {
  const handles = running.get(drain);
  running.delete(drain);
  if (claim) pending = pending && pending.code >= claim.code ? pending : claim;
  if (handles && pending) ended.set(drain, handles);
  if (pending && running.size === 0) {
    const c = pending;
    pending = undefined;
    exitSoon(c);
  } else {
    // No exit now (none asked for, or another drain still runs).
    handles?.livingOn();
  }
}

function exitSoon({ code, graceMs, log }: ExitClaim): void {
  // An immediate, not now: whatever the drain's end set off ('drained' listeners, promise
  // chains, the registry's last write) has had every microtask by then and holds the loop if it
  // does I/O. A drain that closed its idle sockets in the timers or poll phase ends before this
  // iteration's close phase, which the immediate precedes: their close callbacks are skipped.
  // Referenced: an unreferenced immediate does not keep the poll phase from blocking, and a drain
  // that ended in a close callback (the last socket's 'close') then waited for whatever woke the
  // loop next, 1 to 40 ms on a busy machine (measured), before this ran. A referenced one is not
  // listed by process.getActiveResourcesInfo() while it runs, and holds the loop one iteration.
  setImmediate(() => {
    const drains = [...ended.values()];
    ended.clear();
    // eslint-disable-next-line no-restricted-properties -- the documented exit-on-drain behaviour
    if (onlyClosedByDrainsLeft(drains.map((d) => d.closing()))) process.exit(code);
    // Something else holds the loop: the natural exit (or the grace timer below) ends the
    // process, which lives on until then.
    process.exitCode = code;
    for (const d of drains) d.livingOn();
    const timer = setTimeout(() => {
      const getInfo = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
      const holding = typeof getInfo === 'function' ? getInfo.call(process) : 'unknown';
      log.write('warn', { event: 'exit_forced', code, holding }, 'event loop still busy after the drain; exiting');
      // eslint-disable-next-line no-restricted-properties -- the documented exit-on-drain behaviour
      process.exit(code);
    }, graceMs);
    timer.unref();
  });
}

/**
 * Whether nothing holds the event loop but handles the drains closed, read from
 * `process.getActiveResourcesInfo()`: one entry per referenced handle (closing ones included,
 * until their close callback), request (a write, a file operation, a DNS lookup), timer and
 * immediate. Every entry must be one of the drains' closing sockets or listeners, or standard
 * output and error when they are pipes or terminals (a write still under way on them is a
 * request). A `beforeExit` listener is a promise to do work at the natural exit, so it keeps
 * that exit too. Tested in the repository's test/core/exit-early.test.ts.
 */
export function onlyClosedByDrainsLeft(closing: readonly ClosingHandles[]): boolean {
  if (closing.length === 0 || process.listenerCount('beforeExit') > 0) return false;
  let sockets = 0;
  let servers = 0;
  for (const c of closing) {
    sockets += c.sockets;
    servers += c.servers;
  }
  let stdio = stdioSocketCount();
  for (const resource of process.getActiveResourcesInfo()) {
    if (resource === 'TCPSocketWrap' && sockets > 0) sockets -= 1;
    else if (resource === 'TCPServerWrap' && servers > 0) servers -= 1;
    else if ((resource === 'PipeWrap' || resource === 'TTYWrap') && stdio > 0) stdio -= 1;
    else return false;
  }
  return true;
}

/**
 * Whether `request` (the argument of `drain()` or `force()`, named in errors as `call`) asks for
 * the process to end after the drain. Throws a {@link DrainkitError} on a malformed request.
 */
export function exitRequested(call: string, request: DrainRequest | undefined, exitOnDrain: boolean): boolean {
  if (request === undefined) return false;
  const exit: unknown = request === null || typeof request !== 'object' ? Symbol.for('invalid') : request.exit;
  if (exit !== undefined && exit !== true && exit !== false && exit !== 'as-signal') {
    throw new DrainkitError(
      'ERR_DRAINKIT_INVALID_ARGUMENT',
      `drainkit: ${call} got ${typeof exit === 'symbol' ? describeValue(request) : `exit ${describeValue(exit)}`}; accepted: { exit?: true | false | 'as-signal' }`,
    );
  }
  return exit === true || (exit === 'as-signal' && exitOnDrain);
}
