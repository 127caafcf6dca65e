/**
 * The memory-inflight benchmark's server: `GET /hold` is counted in flight and not answered
 * until IPC `release`; any other path answers `ok`. Bare or with drainkit attached.
 *
 *   node --expose-gc hold-server.js --variant bare|drainkit
 *
 * IPC: `memory` (after full GCs) → heap and rss plus `held` and drainkit's `inflight`;
 * `release` answers every held request.
 */
import * as http from 'node:http';
import { announce, flag, KEEP_ALIVE_TIMEOUT_MS, loadDrainkit, measuredMemory, serveIpc } from './common.js';

const variant = flag('variant', ['bare', 'drainkit'], 'bare');
const held: http.ServerResponse[] = [];
const server = http.createServer((req, res) => {
  if (req.url === '/hold') held.push(res);
  else res.end('ok');
});
server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
let inflight = (): number | undefined => undefined;
if (variant === 'drainkit') {
  const { createDrainer } = await loadDrainkit();
  const drainer = createDrainer(server, { signals: false, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS });
  inflight = () => drainer.inflight;
}

serveIpc({
  memory: () => ({ ...measuredMemory(), held: held.length, inflight: inflight() }),
  release: () => {
    for (const res of held.splice(0)) res.end('ok');
    return {};
  },
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', variant, port: typeof address === 'object' && address ? address.port : 0, pid: process.pid });
});
