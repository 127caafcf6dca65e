/**
 * The idle-close benchmark's server: answers `ok`, and on SIGTERM closes its listener and exits
 * once nothing holds the event loop. No IPC channel (it would keep the process alive).
 *
 *   node idle-server.js --variant drainkit|bare|kernel|terminus
 *
 * - `drainkit`: `createDrainer` with a zero fixed window and `exitOnDrain`; SIGTERM drains.
 * - `bare`: on SIGTERM, `server.close()` (which, since Node 19, also closes idle keep-alive
 *   connections) and a natural exit: the floor for closing that many sockets from Node.
 * - `kernel`: on SIGTERM, `process.exit(0)` with every socket still open, so the kernel closes
 *   them as the process ends: the floor below which no Node code can go.
 * - `terminus`: `@godaddy/terminus` on SIGTERM, exiting with code 0 (`useExit0`); `closing`
 *   is stamped in its `beforeShutdown` hook, right before it closes the listener.
 *
 * stdout: `listening`; then `closing` with `at` (epoch ms, sub-ms precision) stamped the moment
 * the listener is about to close; then `exit` stamped in the process's own `exit` event.
 */
import * as http from 'node:http';
import { announce, epochMs, flag, KEEP_ALIVE_TIMEOUT_MS, loadDrainkit } from './common.js';

const variant = flag('variant', ['drainkit', 'bare', 'kernel', 'terminus'], 'drainkit');
const server = http.createServer((_req, res) => {
  res.end('ok');
});
server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;

if (variant === 'drainkit') {
  const { createDrainer } = await loadDrainkit();
  const drainer = createDrainer(server, {
    signals: ['SIGTERM'],
    deregister: { mode: 'fixed', delayMs: 0 },
    exitOnDrain: true,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
  });
  // 'closing' is emitted synchronously right before the listener closes (Drainer#run).
  drainer.on('phase', (phase, info) => {
    if (phase === 'closing') announce({ event: 'closing', at: epochMs(), connections: drainer.connections, inflight: info.inflight });
  });
  drainer.on('drained', (result) => {
    announce({ event: 'drained', at: epochMs(), outcome: result.outcome, connectionsForced: result.connectionsForced, phases: result.phases });
  });
} else if (variant === 'terminus') {
  const { createTerminus } = await import('@godaddy/terminus');
  createTerminus(server, {
    signals: ['SIGTERM'],
    useExit0: true,
    timeout: 10_000,
    beforeShutdown: () => {
      announce({ event: 'closing', at: epochMs() });
      return Promise.resolve();
    },
  });
} else {
  process.once('SIGTERM', () => {
    announce({ event: 'closing', at: epochMs() });
    if (variant === 'bare') server.close();
    else process.exit(0);
  });
}
process.once('exit', (code) => announce({ event: 'exit', at: epochMs(), code }));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', variant, port: typeof address === 'object' && address ? address.port : 0, pid: process.pid });
});
