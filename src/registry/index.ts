/**
 * `drainkit/registry`: the fleet's memory in Postgres. Driver packages (`pg`,
 * `@electric-sql/pglite`, `@electric-sql/pglite-socket`) are optional peer dependencies, loaded
 * only when a store of that kind is opened.
 *
 *     import { startReporter } from 'drainkit/registry';
 *     const reporter = startReporter(drainer, { databaseUrl: process.env.DATABASE_URL, port: 8080 });
 */
export { RegistryError, type RegistryErrorCode } from './errors.js';
export { openStore, hostPglite, type Store, type StoreOptions, type SqlValue, type QueryOptions, type Subscription, type ListenHandlers, type PgliteHost, type PgliteHostOptions, type EmbeddedDatabase } from './store.js';
export { migrate, MIGRATIONS, LATEST_VERSION, MIGRATION_LOCK_KEY, type Migration, type MigrateOptions } from './schema.js';
export { startReporter, type Reporter, type ReporterOptions } from './reporter.js';
export { registry } from './plugin.js';
export { instanceHost, INSTANCE_HOST_ENV } from './identity.js';
export { reap, prune, type LostInstance, type ReapOptions, type PruneResult } from './reaper.js';
export {
  listInstances,
  getInstance,
  listEvents,
  fleetSummary,
  requestDrain,
  type Instance,
  type InstanceFilter,
  type DrainEventRow,
  type EventFilter,
  type FleetSummary,
  type DrainTarget,
  type DrainRequestInfo,
} from './fleet.js';
export { DRAIN_REQUEST_CHANNEL } from './statements.js';
export { rollFleet, isFinished, type RollOptions, type RollResult, type RollStep, type RollStepState, type RollOutcome } from './roll.js';
export { listClusterWorkers, type ClusterWorkerRow, type ClusterWorkerStatus } from './cluster-workers.js';
