/**
 * Option checks shared by the integrations: the same rules and messages as the core's (the
 * option is named, its bad value quoted, what is accepted stated), validated once when the
 * integration is attached, never on the request path.
 */
import { DrainkitError, describeValue } from '../core/errors.js';

/** An integer in [min, max], or the default when undefined: the core's own check. */
export { integerOption as integer } from '../core/options.js';

/** A string without CR or LF (they would end an SSE field or an HTTP header early). */
export function singleLine(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || /[\r\n]/.test(value)) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: option "${name}" is ${describeValue(value)}; accepted: a string without line breaks`);
  }
  return value;
}

/** Rejects keys the integration does not know, so a misspelt option is not silently ignored. */
export function knownKeys(what: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: ${what} options are ${describeValue(options)}; accepted: an object`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new DrainkitError('ERR_DRAINKIT_UNKNOWN_OPTION', `drainkit: unknown ${what} option "${key}"; known options: ${known.join(', ')}`);
    }
  }
}
