/**
 * The registry's catalogue of errors: `DrainkitError`s (stable `code`, a message that quotes the
 * bad value and says what is accepted, `cause` kept) with codes of the registry's own, which the
 * core does not know.
 */
import { DrainkitError, describeValue } from '../core/errors.js';

export type RegistryErrorCode =
  /** An option has the wrong type or is out of range. */
  | 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION'
  /** An option name the registry does not know (a typo would otherwise be ignored silently). */
  | 'ERR_DRAINKIT_REGISTRY_UNKNOWN_OPTION'
  /** Neither a store, a database URL nor `DATABASE_URL` was given. */
  | 'ERR_DRAINKIT_REGISTRY_NO_DATABASE'
  /** The driver package (`pg`, `@electric-sql/pglite`, `@electric-sql/pglite-socket`) is not installed. */
  | 'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING'
  /** A statement did not answer within its bound. */
  | 'ERR_DRAINKIT_REGISTRY_TIMEOUT'
  /** The store (or the reporter) was closed; the statement was not sent. */
  | 'ERR_DRAINKIT_REGISTRY_CLOSED'
  /** The schema migration failed. */
  | 'ERR_DRAINKIT_REGISTRY_MIGRATION'
  /** The instance named in a request does not exist in the registry. */
  | 'ERR_DRAINKIT_REGISTRY_NOT_FOUND';

export class RegistryError extends DrainkitError<RegistryErrorCode> {
  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DrainkitRegistryError';
  }
}

/** Renders a value for an error message (the core's rendering, under the registry's name). */
export const describe = describeValue;

/** The message of anything thrown, for logs. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
