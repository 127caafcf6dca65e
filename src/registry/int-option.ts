/** Checks of numeric options, shared by the reporter, the stores and the PGlite host. */
import { RegistryError, describe } from './errors.js';

/** `value` if it is an integer in `min` … `max`, `fallback` if it is undefined; else throws naming `name`. */
export function intOption(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${name} got ${describe(value)}; accepted: an integer from ${min} to ${max}`);
  }
  return value;
}
