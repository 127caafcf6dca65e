/**
 * The peers' behaviour for bench/reconnect-storm.ts: a WebSocket echo server (the example
 * server's /ws, /readyz and / routes) that shuts down the way a `server.close()` plus
 * destroy-the-sockets shutdown does: no close frame, every upgraded socket destroyed in the same
 * instant. To compare like with like it waits for the balancer as drainkit does: readiness
 * answers 503 from SIGTERM, and the sockets are destroyed once the balancer's first 503 probe has
 * been answered (HAProxy with `fall 1` marks the server DOWN on it), then the process exits.
 *
 *   node destroy-server.js --port <n>
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { announce } from './common.js';

const portIndex = process.argv.indexOf('--port');
const port = portIndex === -1 ? 0 : Number(process.argv[portIndex + 1]);
let draining = false;
let destroyAfterProbe: (() => void) | undefined;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));

const server = http.createServer((req, res) => {
  if (req.url === '/readyz') {
    res.writeHead(draining ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(draining ? 'draining\n' : 'ok\n');
    if (draining) res.once('finish', () => destroyAfterProbe?.());
    return;
  }
  if (req.url === '/healthz' || req.url === '/') {
    res.end('ok\n');
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 65_000;
server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
  if (draining) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
});

process.once('SIGTERM', () => {
  draining = true;
  const signalledAt = Date.now();
  destroyAfterProbe = () => {
    destroyAfterProbe = undefined;
    const sockets = wss.clients.size;
    for (const client of wss.clients) client.terminate();
    announce({ event: 'destroyed', sockets, afterMs: Date.now() - signalledAt });
    server.close();
    server.closeAllConnections();
    setImmediate(() => process.exit(0));
  };
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', port: typeof address === 'object' && address ? address.port : port, pid: process.pid });
});
