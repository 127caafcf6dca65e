/**
 * Serves an embedded PGlite to the other local processes (see `hostPglite`, which checks the
 * options and loads this module): the database is opened and migrated here, then served over
 * the Postgres wire protocol by `@electric-sql/pglite-socket`.
 */
import type { PgliteHost } from '../driver.js';
import { migrate } from '../schema.js';
import { driverMissing } from '../database-url.js';
import { PgliteStore, loadPglite } from './store.js';

export interface ResolvedHostOptions {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
}

export async function startPgliteHost(options: ResolvedHostOptions): Promise<PgliteHost> {
  let socket: typeof import('@electric-sql/pglite-socket');
  try {
    socket = await import('@electric-sql/pglite-socket');
  } catch (err) {
    throw driverMissing('@electric-sql/pglite-socket', 'hostPglite', err);
  }
  const PGliteClass = await loadPglite();
  const db = await PGliteClass.create({ dataDir: options.dataDir });
  const store = new PgliteStore(db, 5_000, false);
  const server = new socket.PGLiteSocketServer({ db, host: options.host, port: options.port, maxConnections: options.maxConnections });
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
    url: `postgres://postgres@${options.host}:${bound}/postgres`,
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
