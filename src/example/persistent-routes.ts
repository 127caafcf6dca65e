/**
 * The example server's persistent-connection routes, part of its contract:
 *
 *   GET  /ws                 WebSocket echo (ws, noServer); 503 once the persistent shutdown began
 *   GET  /sse                event stream: one event at once, then one every `sseIntervalMs`;
 *                            each event's data is `{"pid":…,"n":…}`; ids continue after Last-Event-ID
 *   GET  /poll?timeoutMs=n   long-poll: 200 with the next published message, 204 with
 *                            `x-poll-end: timeout` after n ms (0 … 600 000, default 30 000), or 204
 *                            with `x-poll-end: draining` at once when the instance drains
 *   POST /publish            the request body (≤ 64 KiB) answers every pending poll; 200 "delivered <k>"
 *   GET  /metrics            Prometheus text (prom-client)
 *
 * `ws` and `prom-client` are optional peer dependencies: without them, `/ws` and `/metrics`
 * answer 501 and name the package to install.
 */
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Drainer } from '../core/types.js';
import { parkLongPoll, type LongPoll } from '../integrations/long-poll.js';
import { openEventStream } from '../integrations/sse.js';
import type { WebSocketDrain } from '../integrations/ws.js';
import { reply, type Route } from './app.js';

export const MAX_POLL_MS = 600_000;
const DEFAULT_POLL_MS = 30_000;
const MAX_PUBLISH_BYTES = 64 * 1024;

export interface PersistentRoutesOptions {
  /** WebSocket close timeout on drain (`drainWebSockets`' `closeTimeoutMs`). */
  readonly wsCloseTimeoutMs?: number | undefined;
  /** Interval between `/sse` events. Default 1000 ms. */
  readonly sseIntervalMs?: number | undefined;
  /** `retry:` sent to SSE clients on drain. Default 1000 ms. */
  readonly sseReconnectMs?: number | undefined;
}

export interface PersistentRoutes {
  readonly routes: readonly Route[];
  /** The `/ws` drain, when `ws` is installed. */
  readonly webSockets: WebSocketDrain | undefined;
  /** Optional peer dependencies that are not installed: their routes answer 501. */
  readonly missing: readonly ('ws' | 'prom-client')[];
}

/** Builds the routes and, when `ws` is installed, wires `/ws` to `server`'s 'upgrade' event. */
export async function persistentRoutes(drainer: Drainer, server: http.Server, options: PersistentRoutesOptions = {}): Promise<PersistentRoutes> {
  const webSockets = await webSocketEcho(drainer, server, options.wsCloseTimeoutMs);
  const metrics = await metricsRoute(drainer, webSockets);
  const missing = [...(webSockets ? [] : (['ws'] as const)), ...(metrics.available ? [] : (['prom-client'] as const))];
  const polls = new Set<LongPoll>();
  const sseIntervalMs = options.sseIntervalMs ?? 1_000;

  const sse: Route = (req, res, url) => {
    if (url.pathname !== '/sse' || req.method !== 'GET') return false;
    const stream = openEventStream(drainer, req, res, options.sseReconnectMs === undefined ? undefined : { reconnectMs: options.sseReconnectMs });
    let n = 0;
    const tick = (): void => {
      stream.send(JSON.stringify({ pid: process.pid, n: n++ }));
    };
    tick();
    const timer = setInterval(tick, sseIntervalMs);
    res.once('close', () => clearInterval(timer));
    return true;
  };

  const poll: Route = (req, res, url) => {
    if (url.pathname !== '/poll' || req.method !== 'GET') return false;
    const raw = url.searchParams.get('timeoutMs');
    const timeoutMs = raw === null ? DEFAULT_POLL_MS : /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(timeoutMs >= 0 && timeoutMs <= MAX_POLL_MS)) {
      reply(res, 400, `timeoutMs must be an integer from 0 to ${MAX_POLL_MS}, got ${JSON.stringify(raw)}\n`);
      return true;
    }
    const pending = parkLongPoll(drainer, res, { drainHeaders: { 'x-poll-end': 'draining' } });
    polls.add(pending);
    const timer = setTimeout(() => pending.respond(204, '', { 'x-poll-end': 'timeout' }), timeoutMs);
    res.once('close', () => {
      clearTimeout(timer);
      polls.delete(pending);
    });
    return true;
  };

  const publish: Route = (req, res, url) => {
    if (url.pathname !== '/publish' || req.method !== 'POST') return false;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_PUBLISH_BYTES) chunks.push(chunk);
    });
    req.once('end', () => {
      if (size > MAX_PUBLISH_BYTES) {
        reply(res, 413, `a message is at most ${MAX_PUBLISH_BYTES} bytes, got ${size}\n`);
        return;
      }
      const message = Buffer.concat(chunks);
      let delivered = 0;
      for (const p of [...polls]) {
        if (p.respond(200, message, { 'content-type': 'text/plain; charset=utf-8' })) delivered += 1;
      }
      reply(res, 200, `delivered ${delivered}\n`);
    });
    return true;
  };

  const ws: Route = (_req, res, url) => {
    if (url.pathname !== '/ws') return false;
    // Reached only by plain requests, or by every request when ws is not installed.
    reply(res, webSockets ? 426 : 501, webSockets ? 'upgrade to WebSocket\n' : 'install the "ws" package to serve /ws\n');
    return true;
  };

  return { routes: [sse, poll, publish, ws, metrics.route], webSockets, missing };
}

async function webSocketEcho(drainer: Drainer, server: http.Server, closeTimeoutMs: number | undefined): Promise<WebSocketDrain | undefined> {
  const ws = await optionalImport(() => import('ws'));
  if (!ws) return undefined;
  const { drainWebSockets } = await import('../integrations/ws.js');
  const wss = new ws.WebSocketServer({ noServer: true });
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://example.invalid').pathname === '/ws') {
      // Once draining, ws itself answers 503 (drainWebSockets closed it).
      wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
      return;
    }
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return drainWebSockets(drainer, wss, closeTimeoutMs === undefined ? undefined : { closeTimeoutMs });
}

async function metricsRoute(drainer: Drainer, webSockets: WebSocketDrain | undefined): Promise<{ route: Route; available: boolean }> {
  const client = await optionalImport(() => import('prom-client'));
  if (!client) {
    const route: Route = (_req, res, url) => {
      if (url.pathname !== '/metrics') return false;
      reply(res, 501, 'install the "prom-client" package to serve /metrics\n');
      return true;
    };
    return { route, available: false };
  }
  const { createDrainMetrics } = await import('../integrations/metrics.js');
  const registry = new client.Registry();
  await createDrainMetrics(drainer, { promClient: client, registry, webSockets: webSockets ? [webSockets] : [] });
  const route: Route = (req, res, url) => {
    if (url.pathname !== '/metrics' || req.method !== 'GET') return false;
    registry.metrics().then(
      (text) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: unknown) => reply(res, 500, `metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
    return true;
  };
  return { route, available: true };
}

/** The module, or undefined when the optional peer dependency is not installed. */
async function optionalImport<T>(load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}
