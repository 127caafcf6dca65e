/**
 * The instance's identity in the registry: `host:port`, one row per identity (`UNIQUE (host,
 * port)`), the name an operator gives `drainkit registry drain <host:port>`. One rule, wherever
 * a reporter starts (`startReporter`, the `registry()` plugin in `createDrainer` or a framework
 * plugin, the example server):
 *
 * - host: the `host` option when given; else the `DRAINKIT_INSTANCE_HOST` environment variable
 *   when set (for a deployment to say how the fleet should know this process, e.g. the pod IP);
 *   else `os.hostname()`.
 * - port: the `port` option when given; else the port the server listens on.
 *
 * Never the listening address: `127.0.0.1` or `0.0.0.0` is the same on every machine, and two
 * processes claiming one identity take the row from each other.
 */
import * as os from 'node:os';
import { RegistryError, describe } from './errors.js';

/** The environment variable that names the host when the `host` option is not given. */
export const INSTANCE_HOST_ENV = 'DRAINKIT_INSTANCE_HOST';

/** The host part of the identity, by the rule above. Throws naming the source when it is not usable. */
export function instanceHost(option: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined) return checkHost('host', option);
  const fromEnv = env[INSTANCE_HOST_ENV];
  if (fromEnv !== undefined) return checkHost(INSTANCE_HOST_ENV, fromEnv);
  return os.hostname();
}

function checkHost(source: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255 || /\s/.test(value)) {
    throw new RegistryError(
      'ERR_DRAINKIT_REGISTRY_INVALID_OPTION',
      `drainkit registry: ${source} got ${describe(value)}; accepted: a host name or address without spaces, 1 to 255 characters (the host part of the instance's host:port identity)`,
    );
  }
  return value;
}
