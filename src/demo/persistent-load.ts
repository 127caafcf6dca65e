/**
 * The demo's long-lived clients, which reconnect as well-behaved clients do when a draining
 * worker lets them go:
 *
 * - WebSocket clients on `/ws` (the `ws` package) send a message every {@link WS_PING_MS} and
 *   expect its echo. A close with 1000 or 1001 ("going away", a drain's) is proper and the client
 *   reconnects; any other close (1006: the connection dropped) or a failed connection is a failure.
 * - SSE clients on `/sse`, over node:http, parse the stream. A stream that ends after a `retry:`
 *   hint is proper: the client waits that long and reconnects with `Last-Event-ID`. A stream that
 *   ends without one, an error or a non-200 answer is a failure (the client reconnects after
 *   {@link FAILED_RECONNECT_MS}, so one bad drain does not end the demo's clients).
 */
import * as http from 'node:http';

const WS_PING_MS = 500;
const FAILED_RECONNECT_MS = 1_000;

export interface PersistentStats {
  readonly websocket: {
    readonly clients: number;
    readonly opened: number;
    /** Closed by the server with 1000/1001 (a drain's "going away"), then reconnected. */
    readonly closedProperly: number;
    readonly echoes: number;
    readonly failed: number;
    readonly failures: Readonly<Record<string, number>>;
  };
  readonly sse: {
    readonly clients: number;
    readonly opened: number;
    /** Streams that ended with a `retry:` hint; the client reconnected after it. */
    readonly closedProperly: number;
    readonly events: number;
    readonly failed: number;
    readonly failures: Readonly<Record<string, number>>;
  };
}

export interface PersistentLoad {
  snapshot(): PersistentStats;
  /** Closes every client (WebSocket with 1000); what the server does after that is not counted. */
  stop(): Promise<PersistentStats>;
}

type WsModule = typeof import('ws');

export function startPersistentLoad(options: { readonly host: string; readonly port: number; readonly websockets: number; readonly sse: number; readonly ws: WsModule }): PersistentLoad {
  let stopping = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopping) fn();
    }, ms);
    timers.add(t);
  };

  // ---- WebSocket ----
  const ws = { opened: 0, closedProperly: 0, echoes: 0, failed: 0, failures: {} as Record<string, number> };
  const sockets = new Set<InstanceType<WsModule['WebSocket']>>();
  const wsFail = (kind: string): void => {
    ws.failed += 1;
    ws.failures[kind] = (ws.failures[kind] ?? 0) + 1;
  };
  const connectWs = (): void => {
    const socket = new options.ws.WebSocket(`ws://${options.host}:${options.port}/ws`);
    sockets.add(socket);
    let ping: NodeJS.Timeout | undefined;
    let error: string | undefined;
    socket.on('open', () => {
      ws.opened += 1;
      ping = setInterval(() => socket.send('ping'), WS_PING_MS);
    });
    socket.on('message', () => (ws.echoes += 1));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('close', (code) => {
      clearInterval(ping);
      sockets.delete(socket);
      if (stopping) return;
      if (code === 1000 || code === 1001) {
        ws.closedProperly += 1;
        // A short jittered pause, as a real client would, so a drain's clients do not come back at once.
        later(20 + Math.floor(Math.random() * 80), connectWs);
      } else {
        wsFail(error === undefined ? `close:${code}` : `error:${error}`);
        later(FAILED_RECONNECT_MS, connectWs);
      }
    });
  };

  // ---- SSE ----
  const sse = { opened: 0, closedProperly: 0, events: 0, failed: 0, failures: {} as Record<string, number> };
  const requests = new Set<http.ClientRequest>();
  const sseFail = (kind: string): void => {
    sse.failed += 1;
    sse.failures[kind] = (sse.failures[kind] ?? 0) + 1;
  };
  const connectSse = (lastEventId: string | undefined): void => {
    let retryMs: number | undefined;
    let lastId = lastEventId;
    let ended = false;
    const finish = (failure: string | undefined): void => {
      if (ended) return;
      ended = true;
      requests.delete(req);
      if (stopping) return;
      if (failure === undefined && retryMs !== undefined) {
        sse.closedProperly += 1;
        later(retryMs, () => connectSse(lastId));
      } else {
        sseFail(failure ?? 'ended-without-retry-hint');
        later(FAILED_RECONNECT_MS, () => connectSse(lastId));
      }
    };
    const req = http.get(
      { host: options.host, port: options.port, path: '/sse', agent: false, headers: { accept: 'text/event-stream', ...(lastId !== undefined && { 'last-event-id': lastId }) } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          finish(`status:${res.statusCode ?? 'none'}`);
          return;
        }
        sse.opened += 1;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).replace(/\r$/, '');
            buffer = buffer.slice(nl + 1);
            if (line === '') continue;
            if (line.startsWith('data:')) sse.events += 1;
            else if (line.startsWith('id:')) lastId = line.slice(3).trim();
            else if (line.startsWith('retry:')) {
              const n = Number(line.slice(6).trim());
              if (Number.isInteger(n) && n >= 0) retryMs = n;
            }
          }
        });
        res.once('end', () => finish(undefined));
        res.once('error', (err: NodeJS.ErrnoException) => finish(`error:${err.code ?? err.message}`));
        res.once('aborted', () => finish('error:aborted'));
      },
    );
    requests.add(req);
    req.once('error', (err: NodeJS.ErrnoException) => finish(`error:${err.code ?? err.message}`));
  };

  for (let i = 0; i < options.websockets; i += 1) connectWs();
  for (let i = 0; i < options.sse; i += 1) connectSse(undefined);

  const snapshot = (): PersistentStats => ({
    websocket: { clients: options.websockets, ...ws, failures: { ...ws.failures } },
    sse: { clients: options.sse, ...sse, failures: { ...sse.failures } },
  });

  return {
    snapshot,
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      const result = snapshot();
      const closed = [...sockets].map((s) => new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        // Bounded: a socket still connecting, or a server that never answers the close frame.
        setTimeout(() => {
          s.terminate();
          resolve();
        }, 2_000).unref();
        if (s.readyState === s.CONNECTING) s.terminate();
        else s.close(1000, 'demo ending');
      }));
      for (const r of requests) r.destroy();
      await Promise.all(closed);
      return result;
    },
  };
}
