/**
 * How an integration reports an error it cannot throw to anyone (it happened inside a drain):
 * through the drainer's logger at `error`, or, without a logger, as a process warning, so it is
 * never lost. A logger that throws does not break the drain either.
 */
import type { Drainer } from '../core/types.js';

export function logIntegrationError(drainer: Drainer, err: unknown, fields: Record<string, unknown>, msg: string): void {
  const logger = drainer.options.logger;
  if (logger) {
    try {
      logger.error({ drainkit: true, ...fields, err }, msg);
      return;
    } catch {
      // Fall through to the warning: the error must still be seen somewhere.
    }
  }
  process.emitWarning(`${msg}: ${err instanceof Error ? err.message : String(err)}`, { type: 'DrainkitWarning', code: 'DRAINKIT_INTEGRATION_ERROR' });
}
