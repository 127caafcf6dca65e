/**
 * Opens many idle keep-alive connections from its own process: each raw TCP connection sends
 * one `GET /`, reads the whole response, and then stays open and idle (a keep-alive connection
 * idle at the server's parser, exactly what a balancer's pool leaves behind).
 *
 * IPC: `{ cmd: 'open', port, count, concurrency }` → `{ open, failed, ms }`;
 * `{ cmd: 'status' }` → `{ open }`; `{ cmd: 'closeAll' }` destroys them all.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { announce, serveIpc } from './common.js';

const sockets = new Set<net.Socket>();
const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
const CONNECT_TIMEOUT_MS = 10_000;

/** Connects, sends one request, resolves once the whole response (Content-Length body) arrived. */
function openOne(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buffered = '';
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      socket.setTimeout(0);
      socket.off('data', onData);
      if (ok) sockets.add(socket);
      else socket.destroy();
      resolve(ok);
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, end));
      if (length && buffered.length >= end + 4 + Number(length[1])) settle(true);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => settle(false));
    socket.on('data', onData);
    socket.once('error', () => settle(false));
    // When the server closes the connection (its drain), close our side too.
    socket.once('end', () => socket.end());
    socket.once('close', () => {
      sockets.delete(socket);
      settle(false);
    });
    socket.write(REQUEST);
  });
}

serveIpc({
  open: async (message) => {
    const port = Number(message.port);
    const count = Number(message.count);
    const concurrency = Number(message.concurrency ?? 200);
    const start = performance.now();
    let next = 0;
    let failed = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        if (!(await openOne(port))) failed += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => lane()));
    return { open: sockets.size, failed, ms: performance.now() - start };
  },
  status: () => ({ open: sockets.size }),
  closeAll: async () => {
    const closing = [...sockets].map((s) => new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    }));
    await Promise.all(closing);
    return { open: sockets.size };
  },
});
announce({ event: 'ready', pid: process.pid });
