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
  | 'ERR_DRAINKIT_REGISTRY_NOT_FOUND'
  /** A drain request for an instance that is already draining or stopped (it would never be read). */
  | 'ERR_DRAINKIT_REGISTRY_NOT_ACTIVE';

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

/**
 * SQLSTATE classes of errors that sending the same statement again cannot fix: the statement
 * or its data is wrong for the database as it is (cardinality, data exception, integrity
 * constraint such as a foreign key to a pruned row, syntax or access rule, feature not
 * supported, check option). Connection loss (08), rollbacks (40), resources (53), operator
 * intervention such as a statement timeout (57) and system errors (58, XX) may pass and are
 * retried.
 */
const PERMANENT_SQLSTATE_CLASSES: ReadonlySet<string> = new Set(['0A', '21', '22', '23', '42', '44']);

/**
 * The SQLSTATE of an error that retrying cannot fix, else undefined. Drivers put the SQLSTATE
 * in `code` (node-postgres and PGlite alike); a registry error about a value the registry
 * cannot bind is permanent too.
 */
export function permanentFailure(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'ERR_DRAINKIT_REGISTRY_INVALID_OPTION') return code;
  return /^[0-9A-Z]{5}$/.test(code) && PERMANENT_SQLSTATE_CLASSES.has(code.slice(0, 2)) ? code : undefined;
}
