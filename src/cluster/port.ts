/**
 * The cluster's port, chosen and checked in the primary before any worker starts.
 */
import * as net from 'node:net';
import { DrainkitError } from '../core/errors.js';

/** What an error listening on a port means, in words an operator acts on. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process listens on it (find it with `ss -ltnp`); stop it or pick another port (--port)',
  EACCES: 'this user may not listen on it (ports below 1024 need privileges); pick a port of 1024 or more (--port)',
  EADDRNOTAVAIL: 'the address is not one of this host\'s; pick another host (--host)',
  // A host name that does not resolve (or an address like 999.1.1.1, which is tried as a name).
  ENOTFOUND: 'the host name does not resolve to an address; pick another host (--host)',
  EAI_AGAIN: 'the host name could not be resolved now (DNS did not answer); pick an address or retry (--host)',
};

/**
 * `port`, or for 0 a port free on `host` a moment ago. Workers are always given a concrete
 * port: with `listen(0)` each worker would join the primary's one random handle for port 0, and
 * so would any other server of theirs listening on port 0 (a health port, say).
 *
 * A given port is tried the same way first: the workers listen through the primary, and a port
 * already taken would otherwise show up as each worker failing its `listen()` in turn, a crash
 * loop that names no port. (Another process can still take it between the check and the first
 * worker; that stays a crash loop, with the workers' own errors on stderr.)
 */
export function resolvePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const meaning = err.code === undefined ? undefined : LISTEN_ERRORS[err.code];
      const what = port === 0 ? `cannot pick a free port on ${host}` : `cannot listen on ${host}:${port}`;
      reject(new DrainkitError('ERR_DRAINKIT_CLUSTER_START', `drainkit cluster: ${what}: ${err.code ?? err.message}${meaning === undefined ? ` (${err.message})` : `: ${meaning}`}`, { cause: err }));
    });
    probe.listen({ port, host, exclusive: true }, () => {
      const address = probe.address();
      const picked = address !== null && typeof address === 'object' ? address.port : port;
      probe.close(() => resolve(picked));
    });
  });
}
