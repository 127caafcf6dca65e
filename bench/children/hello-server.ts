/**
 * The throughput and memory benchmarks' server: a hello-world keep-alive `node:http` server,
 * bare or with drainkit attached. Prints `{"event":"listening","port":n}`; answers IPC
 * `cpu` (process.cpuUsage) and `memory` (after full GCs; needs --expose-gc).
 *
 *   node hello-server.js --variant bare|drainkit|drainkit-health
 *
 * - `bare`: the handler answers `ok`.
 * - `drainkit`: the same handler; `createDrainer(server, { signals: false })` attached.
 * - `drainkit-health`: as `drainkit`, and the handler first calls `drainer.handleHealth` (the
 *   README's usage: one URL comparison per request on top of the tracking).
 */
import * as http from 'node:http';
import { announce, flag, KEEP_ALIVE_TIMEOUT_MS, loadDrainkit, measuredMemory, serveIpc } from './common.js';

const variant = flag('variant', ['bare', 'drainkit', 'drainkit-health'], 'bare');
const server = http.createServer();
server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;

const hello: http.RequestListener = (_req, res) => {
  res.end('ok');
};

let connections = (): number | undefined => undefined;
if (variant === 'bare') {
  server.on('request', hello);
} else {
  const { createDrainer } = await loadDrainkit();
  const drainer = createDrainer(server, { signals: false, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS });
  connections = () => drainer.connections;
  if (variant === 'drainkit') {
    server.on('request', hello);
  } else {
    server.on('request', (req, res) => {
      if (drainer.handleHealth(req, res)) return;
      res.end('ok');
    });
  }
}

serveIpc({
  cpu: () => process.cpuUsage(),
  memory: () => ({ ...measuredMemory(), tracked: connections() }),
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', variant, port: typeof address === 'object' && address ? address.port : 0, pid: process.pid });
});
