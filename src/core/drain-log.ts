/**
 * A drainer's log: every line goes through here, so a logger that throws never breaks a drain,
 * and what must not be lost (a listener that threw, a warning at start) still reaches stderr as
 * a process warning when there is no logger to take it.
 */
import type { Logger } from './types.js';

export type LogLevel = 'info' | 'warn' | 'error';

export class DrainLog {
  readonly #logger: Logger | undefined;
  #loggerFailed = false;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /**
   * Whether `write` reaches a logger: lines whose fields cost something to build (the drain's
   * report) are built only then. A logger that threw once is still given every line.
   */
  get enabled(): boolean {
    return this.#logger !== undefined;
  }

  /** Logs `msg` with `obj`; returns false when there is no logger or it threw. */
  write(level: LogLevel, obj: object, msg: string): boolean {
    const logger = this.#logger;
    if (!logger) return false;
    try {
      logger[level]({ drainkit: true, ...obj }, `drainkit: ${msg}`);
      return true;
    } catch (err) {
      // A broken logger must not break a drain; say so once, where Node prints its warnings.
      if (!this.#loggerFailed) {
        this.#loggerFailed = true;
        warnProcess(`drainkit: the logger threw (${describeError(err)}); the drain goes on without its lines`, 'DRAINKIT_LOGGER_ERROR');
      }
      return false;
    }
  }

  /** Logs, or, when nothing could log it, emits a process warning: for what must be seen. */
  writeOrWarn(level: Exclude<LogLevel, 'info'>, obj: object, msg: string, code: string): void {
    if (!this.write(level, obj, msg)) warnProcess(`drainkit: ${msg}`, code);
  }
}

function warnProcess(message: string, code: string): void {
  try {
    process.emitWarning(message, { code });
  } catch {
    // emitWarning only throws on bad arguments; never let a warning break a drain.
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
