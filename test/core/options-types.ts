/**
 * Type-level checks of the options, compiled by `npm run typecheck` (not run): what the runtime
 * accepts must type-check, what it refuses must not (each `@ts-expect-error` line fails the
 * typecheck if the type starts accepting it), and the resolved options carry every default.
 */
import type { DeregisterOptions, DrainerOptions, ResolvedDeregisterOptions, ResolvedOptions } from '../../src/index.js';
import { DEFAULTS } from '../../src/index.js';

// The README's HAProxy snippet: a partial adaptive window, completed with defaults at run time.
export const haproxySnippet: DrainerOptions = { deregister: { mode: 'adaptive', maxMs: 5000, quietMs: 500, probeFailureThreshold: 1 } };
export const adaptiveOnlyMode: DeregisterOptions = { mode: 'adaptive' };
export const adaptiveAll: DeregisterOptions = { mode: 'adaptive', minMs: 100, maxMs: 3000, quietMs: 0, probeFailureThreshold: 2 };
export const fixed: DeregisterOptions = { mode: 'fixed', delayMs: 3000 };
// `undefined` means "the default" everywhere at run time, so the types accept it too (with
// exactOptionalPropertyTypes, as in this project's own tsconfig).
export const explicitUndefined: DrainerOptions = {
  drainTimeoutMs: undefined,
  deregister: undefined,
  health: { readinessPath: undefined, port: undefined },
  lingerMs: undefined,
  logger: undefined,
  plugins: undefined,
};
export const adaptiveUndefined: DeregisterOptions = { mode: 'adaptive', minMs: undefined, probeFailureThreshold: undefined };

// @ts-expect-error a fixed window has no default length: delayMs is required
export const fixedWithoutDelay: DeregisterOptions = { mode: 'fixed' };
// @ts-expect-error fixed windows take delayMs only
export const fixedWithMin: DeregisterOptions = { mode: 'fixed', delayMs: 1, minMs: 2 };
// @ts-expect-error the mode is required: it says which fields apply
export const noMode: DeregisterOptions = { maxMs: 3000 };
// @ts-expect-error no such mode
export const badMode: DeregisterOptions = { mode: 'sometimes', delayMs: 1 };
// @ts-expect-error unknown option
export const unknownOption: DrainerOptions = { drainTimeout: 5 };
// @ts-expect-error adaptive windows have no delayMs
export const adaptiveWithDelay: DeregisterOptions = { mode: 'adaptive', delayMs: 1 };

// Resolved options have every default filled in: a partial window is not a resolved one.
// @ts-expect-error minMs and quietMs are always present once resolved
export const partialResolved: ResolvedDeregisterOptions = { mode: 'adaptive', maxMs: 1000 };
export const resolvedDefault: ResolvedDeregisterOptions = DEFAULTS.deregister;
export function maxOf(options: ResolvedOptions): number | undefined {
  const d = options.deregister;
  // Narrowing on mode gives required numbers, no `?? default` at the use site.
  return d.mode === 'adaptive' ? d.maxMs + d.minMs + d.quietMs : d.delayMs;
}

// The defaults are visible as values with their literal types.
export const defaultTimeout: 30_000 = DEFAULTS.drainTimeoutMs;
export const defaultShutdown: 'window-end' = DEFAULTS.persistentShutdown;
