/**
 * `drainkit/ws`: drains a `ws` WebSocketServer (server mode or `noServer`) with the drainer of
 * the HTTP server its upgrades arrive on.
 *
 *     import { WebSocketServer } from 'ws';
 *     import { drainWebSockets } from 'drainkit/ws';
 *     const wss = new WebSocketServer({ server });
 *     const sockets = drainWebSockets(drainer, wss, { closeTimeoutMs: 5000 });
 *
 * Each socket is a persistent connection of kind `'websocket'`, counted apart from in-flight
 * requests. When the persistent shutdown begins (RFC 6455 §7.1.1):
 * - new upgrades are refused with 503: drainkit calls `wss.close()`, after which ws itself
 *   answers 503 to any handshake (`noServer` included), and in server mode drainkit answers the
 *   upgrades that reach the server once ws has removed its listener;
 * - every open socket gets close code 1001 "going away", at the moment the core picks for it
 *   within `persistentSpreadMs` (so clients do not all reconnect in the same instant);
 * - the close handshake is awaited up to `closeTimeoutMs`; a socket still open then is
 *   terminated. A forced drain terminates what is left at once.
 *
 * Not done: messages queued by the application after the close frame are not sent (ws drops
 * them); sockets from a server with `clientTracking: false` that opened before this call are
 * not known and are left to the core's forced end.
 */
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { DrainkitError, describeValue } from '../core/errors.js';
import { isDrainkitListener } from '../core/listeners.js';
import type { Drainer } from '../core/types.js';
import { logIntegrationError } from './log.js';
import { integer, invalidArgument, knownKeys, singleLine, drainerArgument } from './options.js';
import { onPersistentShutdown } from './persistent-shutdown.js';

export interface WebSocketDrainOptions {
  /**
   * How long to wait for the peer's close frame after ours before terminating the socket.
   * Default 5000 ms. Range 0 … 600 000. The drain timeout
   * still bounds it: a drain forced earlier terminates the socket then.
   */
  readonly closeTimeoutMs?: number;
  /**
   * Close code sent on drain. Default 1001 ("going away"). Accepted: the codes RFC 6455 §7.4
   * lets an endpoint send and `ws` sends, 1000–1003, 1007–1014 and 3000–4999; not 1004–1006 or
   * 1015 (reserved, or only ever reported locally) nor 1016–2999 (reserved for the protocol).
   */
  readonly closeCode?: number;
  /** Close reason sent on drain (at most 123 bytes). Default `'going away'`. */
  readonly closeReason?: string;
}

/** Counts since {@link drainWebSockets} was called. */
export interface WebSocketDrainStats {
  /** Sockets open now. */
  readonly open: number;
  /** Sockets sent the going-away close frame. */
  readonly goingAway: number;
  /** Sockets that completed the close handshake after our close frame. */
  readonly closedClean: number;
  /** Sockets terminated: close timeout expired, the peer vanished mid-handshake, or the drain was forced. */
  readonly terminated: number;
  /** Upgrade requests refused with 503 by drainkit itself (server mode; ws answers the others). */
  readonly refused: number;
}

export interface WebSocketDrain {
  /** A snapshot of the counts. */
  readonly stats: WebSocketDrainStats;
  /** Stop draining this server's sockets (they stay open and uncounted). */
  detach(): void;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
const GOING_AWAY = 1001;
/** WebSocket readyState values (ws exports them at runtime, but this module loads no ws code). */
const CLOSING = 2;
const CLOSED = 3;
/** RFC 6455 §7.4.1: 1006 is never sent on the wire; ws reports it when no close frame came. */
const ABNORMAL = 1006;

/**
 * Drains `wss`'s sockets with `drainer`: see the module comment for the sequence. `wss` must be
 * a `ws` 8 WebSocketServer whose upgrades arrive on the drainer's server (server mode, or
 * `noServer` with your own `'upgrade'` listener calling `wss.handleUpgrade`).
 */
export function drainWebSockets(drainer: Drainer, wss: WebSocketServer, options?: WebSocketDrainOptions): WebSocketDrain {
  drainerArgument('drainWebSockets(drainer, wss)', drainer);
  webSocketServerArgument(wss);
  knownKeys('drainWebSockets', options, ['closeTimeoutMs', 'closeCode', 'closeReason']);
  const closeTimeoutMs = integer('closeTimeoutMs', options?.closeTimeoutMs, 0, 600_000, DEFAULT_CLOSE_TIMEOUT_MS);
  const closeCode = closeCodeOption(options?.closeCode);
  const closeReason = singleLine('closeReason', options?.closeReason, 'going away');
  if (Buffer.byteLength(closeReason) > 123) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: option "closeReason" is ${Buffer.byteLength(closeReason)} bytes long; accepted: at most 123 bytes (RFC 6455 §5.5)`);
  }

  const counts = { goingAway: 0, closedClean: 0, terminated: 0, refused: 0 };
  const open = new Map<WebSocket, () => void>();
  const detachers: (() => void)[] = [];
  let refusing = false;

  const track = (ws: WebSocket): void => {
    if (open.has(ws) || ws.readyState === CLOSED) return;
    let sentClose = false;
    let terminatedByUs = false;
    let timer: NodeJS.Timeout | undefined;
    const terminate = (): void => {
      if (ws.readyState === CLOSED || terminatedByUs) return;
      // Counted at the decision: ws emits 'close' a tick after the socket is gone.
      terminatedByUs = true;
      counts.terminated += 1;
      ws.terminate();
    };
    const release = drainer.persistent.add({
      kind: 'websocket',
      goAway: () => {
        if (sentClose || ws.readyState >= CLOSING) return;
        sentClose = true;
        counts.goingAway += 1;
        try {
          ws.close(closeCode, closeReason);
        } catch (err) {
          // The options were checked, so this is unexpected (a WebSocket subclass, a ws change):
          // say so, and end the socket now rather than leave it open until the drain is forced.
          logIntegrationError(drainer, err, { closeCode }, 'drainkit/ws: sending the close frame failed; terminating the WebSocket');
          terminate();
          return;
        }
        timer = setTimeout(terminate, closeTimeoutMs);
        timer.unref();
      },
      terminate,
    });
    const onClose = (code: number): void => {
      clearTimeout(timer);
      open.delete(ws);
      let outcome: 'clean' | 'terminated' = 'clean';
      if (terminatedByUs) {
        outcome = 'terminated'; // counted in terminate()
      } else if (sentClose && code === ABNORMAL) {
        outcome = 'terminated';
        counts.terminated += 1; // the peer's TCP connection ended without its close frame
      } else if (sentClose) {
        counts.closedClean += 1;
      }
      // The drain result's persistentClosed.websocket tallies the same outcome.
      release(outcome);
    };
    ws.once('close', onClose);
    open.set(ws, () => {
      clearTimeout(timer);
      ws.off('close', onClose);
      release();
    });
  };

  const onConnection = (ws: WebSocket): void => track(ws);
  wss.on('connection', onConnection);
  detachers.push(() => wss.off('connection', onConnection));
  // Sockets that opened before this call (ws tracks them unless clientTracking is false).
  for (const ws of (wss.clients as Set<WebSocket> | undefined) ?? []) track(ws);

  // Server mode: once wss.close() has removed ws's own 'upgrade' listener, an upgrade that still
  // reaches the server (on a kept-alive connection, or with persistentShutdown 'drain-start'
  // while the listener is open) would otherwise hang with nobody answering it.
  const server = wss.options.server;
  if (server) {
    const onUpgrade = (req: http.IncomingMessage, socket: Duplex): void => {
      if (!refusing) return;
      if (wss.shouldHandle(req) === true) {
        counts.refused += 1;
        refuse(socket, 503, 'Service Unavailable', 'draining: reconnect to another instance\n');
      } else if (server.listeners('upgrade').every((l) => l === onUpgrade || isDrainkitListener(l))) {
        // Nobody else (the core only watches) will answer an upgrade ws does not handle.
        refuse(socket, 400, 'Bad Request', 'no WebSocket endpoint at this path\n');
      }
    };
    server.on('upgrade', onUpgrade);
    detachers.push(() => server.off('upgrade', onUpgrade));
  }

  detachers.push(
    onPersistentShutdown(drainer, () => {
      refusing = true;
      // ws stops accepting: later handshakes get 503 from ws itself; open sockets are untouched.
      wss.close();
    }),
  );

  return {
    get stats(): WebSocketDrainStats {
      return { open: open.size, ...counts };
    },
    detach(): void {
      for (const d of detachers.splice(0)) d();
      for (const untrack of [...open.values()]) untrack();
      open.clear();
    },
  };
}

/**
 * RFC 6455 §7.4: the codes an endpoint may put in a close frame, the same set as ws's own
 * `isValidStatusCode` (which throws on any other at close time, inside the drain).
 */
function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

function closeCodeOption(value: unknown): number {
  if (value === undefined) return GOING_AWAY;
  if (typeof value !== 'number' || !isSendableCloseCode(value)) {
    throw new DrainkitError(
      'ERR_DRAINKIT_INVALID_OPTION',
      `drainkit: option "closeCode" is ${describeValue(value)}; accepted: a close code a server may send (RFC 6455 §7.4), ` +
        'an integer from 1000 to 1003, 1007 to 1014 or 3000 to 4999 (1004–1006 and 1015 are never sent)',
    );
  }
  return value;
}

function webSocketServerArgument(value: unknown): void {
  const wss = value as Partial<WebSocketServer> | null | undefined;
  const ok =
    typeof wss === 'object' && wss !== null &&
    typeof wss.on === 'function' && typeof wss.off === 'function' && typeof wss.close === 'function' &&
    typeof wss.shouldHandle === 'function' && typeof wss.options === 'object' && wss.options !== null;
  if (!ok) throw invalidArgument('drainWebSockets(drainer, wss)', 'wss', value, 'a ws 8 WebSocketServer (new WebSocketServer({ server }) or { noServer: true })');
}

function refuse(socket: Duplex, status: number, statusText: string, body: string): void {
  // The client may already be gone; an error here must not crash the process.
  socket.on('error', () => undefined);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
