/**
 * Option and argument checks shared by the integrations: the same rules and messages as the
 * core's (the option is named, its bad value quoted, what is accepted stated), validated once when
 * the integration is attached, never on the request path. A bad value is refused here rather
 * than failing later inside a drain, where nobody would see the error.
 */
import * as http from 'node:http';
import { DrainkitError, describeValue } from '../core/errors.js';
import type { Drainer } from '../core/types.js';

/** An integer in [min, max], or the default when undefined: the core's own check. */
export { integerOption as integer } from '../core/options.js';

function invalidOption(name: string, value: unknown, accepted: string): DrainkitError {
  return new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: option "${name}" is ${describeValue(value)}; accepted: ${accepted}`);
}

/** A string without CR or LF (they would end an SSE field or an HTTP header early). */
export function singleLine(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || /[\r\n]/.test(value)) throw invalidOption(name, value, 'a string without line breaks');
  return value;
}

/** Like {@link singleLine}, and not empty (an empty SSE event name would mean "message"). */
export function nonEmptySingleLine(name: string, value: unknown, fallback: string): string {
  const text = singleLine(name, value, fallback);
  if (text === '') throw invalidOption(name, value, 'a non-empty string without line breaks');
  return text;
}

/** `true` or `false`, or the default when undefined. */
export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, value, 'true or false');
  return value;
}

/** A response body: a string or bytes (what `res.end()` takes), or the default when undefined. */
export function body(name: string, value: unknown, fallback: string): string | Uint8Array {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw invalidOption(name, value, 'a string or a Uint8Array (Buffer)');
  return value;
}

/**
 * Response headers: a plain object of header names to string values that Node accepts
 * (`http.validateHeaderName` / `validateHeaderValue`), none of `reserved` (case-insensitive;
 * drainkit sets those itself). Returns a frozen copy with lower-case names, or an empty object
 * when undefined.
 */
export function headers(name: string, value: unknown, reserved: readonly string[]): Readonly<Record<string, string>> {
  if (value === undefined) return Object.freeze({});
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(name, value, 'an object of header names to string values');
  }
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    const lower = key.toLowerCase();
    if (reserved.includes(lower)) {
      throw invalidOption(`${name}.${key}`, v, `no ${reserved.map((r) => `"${r}"`).join(', ')} header (drainkit sets it)`);
    }
    try {
      http.validateHeaderName(key);
    } catch {
      throw invalidOption(name, value, `header names that are HTTP tokens; ${describeValue(key)} is not`);
    }
    if (typeof v !== 'string') throw invalidOption(`${name}.${key}`, v, 'a string');
    try {
      http.validateHeaderValue(key, v);
    } catch {
      throw invalidOption(`${name}.${key}`, v, 'a header value without control characters or line breaks');
    }
    if (lower in out) throw invalidOption(name, value, `each header once; "${lower}" is given twice (header names are case-insensitive)`);
    out[lower] = v;
  }
  return Object.freeze(out);
}

/** Rejects keys the integration does not know, so a misspelt option is not silently ignored. */
export function knownKeys(what: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: ${what} options are ${describeValue(options)}; accepted: an object`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new DrainkitError('ERR_DRAINKIT_UNKNOWN_OPTION', `drainkit: unknown ${what} option "${key}"; known options: ${known.join(', ')}`);
    }
  }
}

/** A function's argument that is not what it accepts. */
export function invalidArgument(call: string, name: string, value: unknown, accepted: string): DrainkitError {
  return new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: ${call} got ${describeValue(value)} as ${name}; accepted: ${accepted}`);
}

/** Checks that `value` is a drainer from `createDrainer()` (by its shape: the integrations use only its public API). */
export function drainerArgument(call: string, value: unknown): asserts value is Drainer {
  const d = value as Partial<Drainer> | null | undefined;
  const ok =
    typeof d === 'object' && d !== null &&
    typeof d.on === 'function' && typeof d.off === 'function' &&
    typeof d.persistent === 'object' && d.persistent !== null &&
    typeof d.persistent.add === 'function' && typeof d.persistent.adopt === 'function';
  if (!ok) throw invalidArgument(call, 'drainer', value, 'the drainer returned by createDrainer(server)');
}

/** Checks that `value` is a response of `node:http` or `node:http2` whose headers are not sent yet. */
export function freshResponseArgument(call: string, value: unknown): void {
  const res = value as Partial<http.ServerResponse> | null | undefined;
  const ok = typeof res === 'object' && res !== null && typeof res.writeHead === 'function' && typeof res.end === 'function' && typeof res.once === 'function';
  if (!ok) throw invalidArgument(call, 'res', value, 'a response (http.ServerResponse or http2.Http2ServerResponse)');
  if (res.headersSent) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: ${call} got a response whose headers were already sent; accepted: a response not yet started`);
  }
}
