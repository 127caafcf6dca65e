/**
 * Which databases the registry can reach, checked where the options are written: a URL of
 * another scheme would otherwise be retried in the background for the life of the process, and
 * a missing driver package would only show up as a failed registration in the logs.
 */
import { createRequire } from 'node:module';
import { RegistryError } from './errors.js';

/** The driver packages, by what needs them. */
export const DRIVER_PACKAGES = {
  /** A `postgres://` URL (real Postgres, or a PGlite served by `hostPglite`). */
  url: 'pg',
  /** A PGlite data directory opened in this process. */
  dataDir: '@electric-sql/pglite',
  /** Serving a PGlite to other processes. */
  host: '@electric-sql/pglite-socket',
} as const;

export type DriverPackage = (typeof DRIVER_PACKAGES)[keyof typeof DRIVER_PACKAGES];

const ACCEPTED_URL = 'a postgres:// or postgresql:// URL (the embedded registry too: the URL that hostPglite or `drainkit registry-host` prints)';

/**
 * Checks a database URL and returns it: a string, `postgres://` or `postgresql://`, that
 * parses as a URL. `name` says where it came from (`databaseUrl`, `DATABASE_URL`). The message
 * quotes what was given with any password masked.
 */
export function checkDatabaseUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(`${name} got ${typeof value === 'string' ? 'an empty string' : typeof value}; accepted: ${ACCEPTED_URL}`);
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1];
    const given = scheme === undefined ? 'no URL scheme' : `a ${scheme}:// URL`;
    throw invalid(`${name} got ${JSON.stringify(maskUrl(value))} (${given}); accepted: ${ACCEPTED_URL}`);
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw invalid(`${name} got ${JSON.stringify(maskUrl(value))}, which names no host; accepted: ${ACCEPTED_URL}, e.g. postgres://user@db.internal:5432/app`);
  }
  return value;
}

/** The URL with its password replaced by `***`, for messages and logs. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/**
 * Throws `ERR_DRAINKIT_REGISTRY_DRIVER_MISSING` naming the package and how to install it when
 * `pkg` cannot be resolved from here (where the registry's `import()` resolves it too). Only
 * resolves: nothing is loaded.
 */
export function assertDriverInstalled(pkg: DriverPackage, neededFor: string): void {
  try {
    // The same resolution as the `import()` that loads it later. `import.meta.resolve` is
    // synchronous from Node 20.6; before that, the CommonJS resolution (each driver has a
    // `require` entry) stands in.
    if (typeof import.meta.resolve === 'function') import.meta.resolve(pkg);
    else createRequire(import.meta.url).resolve(pkg);
  } catch (err) {
    throw driverMissing(pkg, neededFor, err);
  }
}

/** The error for a driver package that is not installed. */
export function driverMissing(pkg: DriverPackage, neededFor: string, cause: unknown): RegistryError {
  return new RegistryError(
    'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING',
    `drainkit registry: ${neededFor} needs the "${pkg}" package, which is not installed here; install it with: npm install ${pkg}`,
    { cause },
  );
}

function invalid(message: string): RegistryError {
  return new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: ${message}`);
}
