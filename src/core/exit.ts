/**
 * Ending the process after a drain. One process may hold several drainers (an API server and an
 * admin server; one signal drains both), so the exit waits until every drain under way in the
 * process has ended, with the worst code any of them asked for. The process is first left to
 * exit on its own (so loggers flush); if something still holds the event loop `graceMs` later,
 * it is ended with `process.exit`.
 */
import type { DrainLog } from './drain-log.js';
import { DrainkitError, describeValue } from './errors.js';
import type { DrainRequest } from './types.js';

interface ExitClaim {
  readonly code: number;
  readonly graceMs: number;
  readonly log: DrainLog;
}

/** Drains under way in this process, of any drainer. */
const running = new Set<object>();
let pending: ExitClaim | undefined;

export function drainBegan(drain: object): void {
  running.add(drain);
}

/**
 * `drain` has ended. With `claim`, it asks for the process to end; the exit happens once no
 * other drain in the process is still running.
 */
export function drainEnded(drain: object, claim?: ExitClaim): void {
  running.delete(drain);
  if (claim) pending = pending && pending.code >= claim.code ? pending : claim;
  if (pending && running.size === 0) {
    const c = pending;
    pending = undefined;
    exitSoon(c);
  }
}

function exitSoon({ code, graceMs, log }: ExitClaim): void {
  process.exitCode = code;
  const timer = setTimeout(() => {
    const getInfo = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
    const holding = typeof getInfo === 'function' ? getInfo.call(process) : 'unknown';
    log.write('warn', { event: 'exit_forced', code, holding }, 'event loop still busy after the drain; exiting');
    // eslint-disable-next-line no-restricted-properties -- the documented exit-on-drain behaviour
    process.exit(code);
  }, graceMs);
  timer.unref();
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
