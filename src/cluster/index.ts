/**
 * drainkit/cluster: N workers of one script on one port, rolling reloads with zero failed
 * requests, crash replacement with backoff, and a stop that drains every worker.
 *
 *     import { startCluster } from 'drainkit/cluster';
 *     const cluster = await startCluster({ script: 'server.js', workers: 4, port: 3000 });
 *     process.on('SIGHUP', () => void cluster.reload('SIGHUP'));
 *
 * Workers that call `createDrainer` are cluster-aware without code changes; others run in the
 * weaker disconnect mode (see the `WorkerMode` type).
 */
export { ClusterStartError, startCluster, type Cluster, type ClusterErrorCode } from './supervisor.js';
export { CLUSTER_DEFAULTS } from './options.js';
export * from './types.js';
export { resolvePort } from './port.js';
