/** The reporter as a `createDrainer` plugin. */
import type { DrainerPlugin } from '../core/types.js';
import { startReporter, type Reporter } from './reporter.js';
import { resolveReporterOptions, type ReporterOptions } from './reporter-options.js';

/**
 * The reporter as a `createDrainer` plugin: `createDrainer(server, { plugins: [registry({ databaseUrl })] })`.
 * Without `port`, it registers once the server is listening, with the port it listens on. The
 * options are validated at once (a bad option throws from `registry()` itself).
 */
export function registry(options: Omit<ReporterOptions, 'port'> & { readonly port?: number }): DrainerPlugin {
  // Validated here, whatever is given, so a mistake throws where the options are written and
  // never from inside createDrainer (or later, from the 'listening' event). Without a port yet,
  // a placeholder stands in for the one the server will listen on.
  resolveReporterOptions({ ...options, port: options.port ?? 1 }, undefined, 'registry()');
  return (drainer, server) => {
    let reporter: Reporter | undefined;
    const start = (port: number): void => {
      reporter = startReporter(drainer, { ...options, port });
    };
    const onListening = (): void => {
      const address = server.address();
      if (address && typeof address === 'object') start(address.port);
    };
    if (options.port !== undefined) start(options.port);
    else if (server.listening) onListening();
    else server.once('listening', onListening);
    return () => {
      server.off('listening', onListening);
      void reporter?.stop();
    };
  };
}
