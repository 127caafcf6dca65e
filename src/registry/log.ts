/** Logging for the registry: the drainer's pino-shaped logger, never allowed to throw. */
import type { Logger } from '../core/types.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export function log(logger: Logger | undefined, level: Level, obj: object, msg: string): void {
  if (!logger) return;
  const record = { drainkit: true, ...obj };
  try {
    if (level === 'debug') logger.debug?.(record, `drainkit: ${msg}`);
    else logger[level](record, `drainkit: ${msg}`);
  } catch {
    // A broken logger must not break the registry, let alone a drain.
  }
}
