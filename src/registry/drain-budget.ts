/**
 * A drain's budget as the instance knows it: the longest the deregistration window may last
 * plus the drain timeout. Past it the core forces what remains, so the fleet view shows time
 * spent against it ("1.2 s of 35 s"). Shutdown hooks come after and have bounds of their own;
 * they are not part of it. A window skipped (an interactive Ctrl-C) only makes the drain
 * shorter: the budget is the bound, not a forecast.
 */
import type { ResolvedOptions } from '../core/types.js';

export function drainBudgetMs(options: Pick<ResolvedOptions, 'deregister' | 'drainTimeoutMs'>): number {
  const window = options.deregister.mode === 'fixed' ? options.deregister.delayMs : options.deregister.maxMs;
  return window + options.drainTimeoutMs;
}
