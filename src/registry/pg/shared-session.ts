/**
 * Shared-session mode, for a PGlite served by pglite-socket (one backend session for all its
 * clients).
 */

/** True when `version()` says the server is PGlite (served over pglite-socket). */
export function isSharedSessionServer(version: string): boolean {
  return /\bPGlite\b/i.test(version);
}

/**
 * Inlines `$n` parameters as SQL literals, for shared-session servers where a statement must be
 * one simple-protocol message. Only used on the registry's own statement texts, whose `$n`
 * never appear inside string literals or dollar quotes.
 */
import type * as Pg from 'pg';
import { RegistryError, describe } from '../errors.js';
import type { SqlValue } from '../driver.js';

export function inlineParams(pg: typeof Pg, sql: string, params: readonly SqlValue[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) {
      throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: statement refers to $${n} but got ${params.length} parameters`);
    }
    return literal(pg, params[index] as SqlValue);
  });
}

function literal(pg: typeof Pg, value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: cannot bind ${describe(value)}; accepted: a finite number`);
    // Quoted, so a negative number cannot merge with a preceding operator into a comment or `--`.
    return `'${String(value)}'`;
  }
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
  if (value.includes('\0')) throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', 'drainkit registry: cannot bind a string containing NUL');
  return pg.escapeLiteral(value);
}
