/**
 * Hosts an embedded PGlite for the other local processes: the database is opened (and migrated)
 * here, and served over the Postgres wire protocol by `@electric-sql/pglite-socket`, so other
 * processes connect with `pg` to the returned `postgres://` URL.
 *
 * Limits, from pglite-socket's multiplexer: every client shares one backend session. Statements
 * from different clients are queued and run one at a time; a client's explicit transaction holds
 * the queue; LISTEN/NOTIFY and session settings would leak between clients. The registry
 * therefore sends single autocommit statements only (the `pg` driver detects the server) and
 * relies on the heartbeat to deliver remote drain requests. For one host and a demo, not a fleet.
 */
import type { PGlite } from '@electric-sql/pglite';
import { driverMissing } from '../database-url.js';
import { RegistryError, describe } from '../errors.js';
import { migrate } from '../schema.js';
import { intOption, type Store } from '../store.js';
import { PgliteStore, loadPglite } from './store.js';

export interface PgliteHostOptions {
  /** Data directory, or `memory://`. Required. */
  readonly dataDir: string;
  /** Address to serve on. Default `'127.0.0.1'`: the protocol has no authentication here. */
  readonly host?: string;
  /** Port to serve on; 0 picks one. Default 0. */
  readonly port?: number;
  /** Client connections served at once (pglite-socket's own default is 1). Default 64. Range 1 … 1000. */
  readonly maxConnections?: number;
}

export interface PgliteHost {
  /** `postgres://postgres@host:port/postgres`, for `pg` clients in other processes. */
  readonly url: string;
  readonly port: number;
  /** A store on the hosted database for this process (no socket hop). */
  readonly store: Store;
  /** The PGlite instance itself. */
  readonly db: PGlite;
  /** Stop serving and close the database. Idempotent. */
  stop(): Promise<void>;
}

export async function hostPglite(options: PgliteHostOptions): Promise<PgliteHost> {
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) {
    throw new RegistryError('ERR_DRAINKIT_REGISTRY_INVALID_OPTION', `drainkit registry: hostPglite dataDir got ${describe(options.dataDir)}; accepted: a directory path or "memory://"`);
  }
  const host = options.host ?? '127.0.0.1';
  const port = intOption('hostPglite port', options.port, 0, 65_535, 0);
  const maxConnections = intOption('hostPglite maxConnections', options.maxConnections, 1, 1_000, 64);
  let socket: typeof import('@electric-sql/pglite-socket');
  try {
    socket = await import('@electric-sql/pglite-socket');
  } catch (err) {
    throw driverMissing('@electric-sql/pglite-socket', 'hostPglite', err);
  }
  const PGliteClass = await loadPglite();
  const db = await PGliteClass.create({ dataDir: options.dataDir });
  const store = new PgliteStore(db, 5_000, false);
  const server = new socket.PGLiteSocketServer({ db, host, port, maxConnections });
  try {
    // Migrated before anyone else can connect: clients then find the schema current.
    await migrate(store, { appliedBy: `pglite-host pid ${process.pid}` });
    await server.start();
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const bound = Number(server.getServerConn().split(':').pop());
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://postgres@${host}:${bound}/postgres`,
    port: bound,
    store,
    db,
    stop() {
      stopped ??= (async () => {
        await server.stop();
        await db.close();
      })();
      return stopped;
    },
  };
}
