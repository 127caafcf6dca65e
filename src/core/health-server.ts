/**
 * The optional dedicated health server (`health.port`): answers the readiness and liveness paths
 * and 404 for anything else, apart from the application's server, so probes keep working on
 * their own port. It never holds the process open.
 */
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { createHttpServer } from './builtins.js';
import { answer } from './health.js';

/** Each health server's open connections, until their 'close': see {@link healthSocketsOpen}. */
const openSockets = new WeakMap<http.Server, Set<Socket>>();

type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export function startHealthServer(port: number, host: string, handle: Answer, onError: (err: Error) => void): http.Server {
  const hs = createHttpServer((req, res) => {
    if (!handle(req, res)) answer(req, res, 404, 'not found\n', false);
  });
  const open = new Set<Socket>();
  openSockets.set(hs, open);
  hs.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
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

/**
 * How many of the health server's connections have not emitted 'close' yet: after
 * {@link stopHealthServer}, the ones whose handles are still closing (src/core/exit.ts).
 */
export function healthSocketsOpen(hs: http.Server | undefined): number {
  return hs === undefined ? 0 : (openSockets.get(hs)?.size ?? 0);
}
