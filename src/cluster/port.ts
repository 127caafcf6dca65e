/**
 * The cluster's port, chosen in the primary before any worker starts.
 */
import * as net from 'node:net';
import { DrainkitError } from '../core/errors.js';

/**
 * `port`, or for 0 a port free on `host` a moment ago. Workers are always given a concrete
 * port: with `listen(0)` each worker would join the primary's one random handle for port 0, and
 * so would any other server of theirs listening on port 0 (a health port, say).
 */
export function resolvePort(host: string, port: number): Promise<number> {
  if (port !== 0) return Promise.resolve(port);
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', (err) => reject(new DrainkitError('ERR_DRAINKIT_CLUSTER_START', `drainkit cluster: cannot pick a free port on ${host}: ${err.message}`, { cause: err })));
    probe.listen(0, host, () => {
      const address = probe.address();
      const picked = address !== null && typeof address === 'object' ? address.port : 0;
      probe.close(() => resolve(picked));
    });
  });
}
