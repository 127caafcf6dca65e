/**
 * The optional dedicated health server (`health.port`): answers the readiness and liveness paths
 * and 404 for anything else, apart from the application's server, so probes keep working on
 * their own port. It never holds the process open.
 */
import * as http from 'node:http';
import { answer } from './health.js';

type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export function startHealthServer(port: number, host: string, handle: Answer, onError: (err: Error) => void): http.Server {
  const hs = http.createServer((req, res) => {
    if (!handle(req, res)) answer(req, res, 404, 'not found\n', false);
  });
  hs.on('error', onError);
  hs.listen(port, host);
  hs.unref();
  return hs;
}

export function stopHealthServer(hs: http.Server | undefined): void {
  if (!hs) return;
  hs.close();
  hs.closeAllConnections();
}
