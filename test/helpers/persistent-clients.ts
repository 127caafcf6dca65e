/**
 * Long-lived clients for the rolling restart: WebSocket clients on `/ws` that echo-check and
 * reconnect whenever their connection closes, and EventSource clients on `/sse` (the `eventsource`
 * package, which reconnects on its own after the server's `retry:` hint). Through HAProxy, a
 * drained server's clients must land on a survivor and every client must end connected.
 */
import { EventSource } from 'eventsource';
import WebSocket from 'ws';

export interface PersistentClientOptions {
  /** HAProxy's frontend, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string;
  readonly websockets: number;
  readonly eventSources: number;
}

export interface PersistentStats {
  readonly websocket: {
    readonly clients: number;
    /** Successful opens, first connections included. */
    readonly opens: number;
    /** Close codes seen by clients while the harness was running (1001 is a drain's "going away"). */
    readonly closeCodes: Readonly<Record<string, number>>;
    /** Failed connection attempts (refused upgrades, resets), by message. */
    readonly errors: Readonly<Record<string, number>>;
    readonly echoes: number;
    /** Clients open when the harness stopped. */
    readonly openAtEnd: number;
  };
  readonly sse: {
    readonly clients: number;
    readonly opens: number;
    readonly events: number;
    /** Errors reported by EventSource (each precedes a reconnect, or a permanent failure). */
    readonly errors: number;
    /** Clients the EventSource gave up on for good (readyState CLOSED). */
    readonly failedForGood: number;
    readonly openAtEnd: number;
  };
}

export interface PersistentClients {
  /** Waits (bounded) until every client is connected, records the stats, closes them all. */
  stop(settleMs?: number): Promise<PersistentStats>;
}

export function startPersistentClients(options: PersistentClientOptions): PersistentClients {
  const wsUrl = `${options.origin.replace(/^http/, 'ws')}/ws`;
  let stopping = false;
  const ws = { opens: 0, echoes: 0, closeCodes: {} as Record<string, number>, errors: {} as Record<string, number> };
  const sockets: (WebSocket | undefined)[] = new Array(options.websockets).fill(undefined);
  const timers = new Set<NodeJS.Timeout>();

  const connect = (i: number): void => {
    if (stopping) return;
    const socket = new WebSocket(wsUrl);
    sockets[i] = socket;
    let ping: NodeJS.Timeout | undefined;
    socket.on('open', () => {
      ws.opens += 1;
      ping = setInterval(() => socket.send(`ping ${i}`), 250);
    });
    socket.on('message', () => {
      ws.echoes += 1;
    });
    socket.on('error', (err) => {
      ws.errors[err.message] = (ws.errors[err.message] ?? 0) + 1;
    });
    socket.on('close', (code) => {
      clearInterval(ping);
      if (stopping) return;
      ws.closeCodes[code] = (ws.closeCodes[code] ?? 0) + 1;
      // Reconnect after a short, jittered pause, as a well-behaved client would.
      const t = setTimeout(() => {
        timers.delete(t);
        connect(i);
      }, 50 + Math.floor(Math.random() * 150));
      timers.add(t);
    });
  };
  for (let i = 0; i < options.websockets; i += 1) connect(i);

  const sse = { opens: 0, events: 0, errors: 0 };
  const sources: EventSource[] = [];
  for (let i = 0; i < options.eventSources; i += 1) {
    const es = new EventSource(`${options.origin}/sse`);
    es.addEventListener('open', () => (sse.opens += 1));
    es.addEventListener('message', () => (sse.events += 1));
    es.addEventListener('error', () => (sse.errors += 1));
    sources.push(es);
  }

  const allOpen = (): boolean =>
    sockets.every((s) => s?.readyState === WebSocket.OPEN) && sources.every((es) => es.readyState === EventSource.OPEN);

  return {
    async stop(settleMs = 15_000) {
      const deadline = Date.now() + settleMs;
      while (!allOpen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const stats: PersistentStats = {
        websocket: {
          clients: options.websockets,
          opens: ws.opens,
          closeCodes: { ...ws.closeCodes },
          errors: { ...ws.errors },
          echoes: ws.echoes,
          openAtEnd: sockets.filter((s) => s?.readyState === WebSocket.OPEN).length,
        },
        sse: {
          clients: options.eventSources,
          opens: sse.opens,
          events: sse.events,
          errors: sse.errors,
          failedForGood: sources.filter((es) => es.readyState === EventSource.CLOSED).length,
          openAtEnd: sources.filter((es) => es.readyState === EventSource.OPEN).length,
        },
      };
      stopping = true;
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s?.terminate();
      for (const es of sources) es.close();
      return stats;
    },
  };
}
