/**
 * `drainkit/sse`: Server-Sent Events streams that leave a draining instance the way an
 * EventSource understands: a `retry:` hint, a final event, then the end of the stream.
 *
 *     import { openEventStream } from 'drainkit/sse';
 *     const stream = openEventStream(drainer, req, res);
 *     const timer = setInterval(() => stream.send(JSON.stringify(tick())), 1000);
 *     res.on('close', () => clearInterval(timer));
 *
 * The stream is a persistent connection of kind `'sse'`: it leaves the in-flight count the moment
 * it opens. When the core asks it to go away (spread over `persistentSpreadMs`), it writes a
 * final event with a `retry:` field, then ends the response cleanly; a standard EventSource waits
 * `retry` ms and reconnects, through the balancer, to another instance, sending `Last-Event-ID`.
 *
 * A stream opened while the instance drains is served the same way, never refused: an
 * EventSource that gets a non-200 answer (503, 204) "fails the connection" and never reconnects
 * (WHATWG HTML §9.2). Opened before the persistent shutdown, it streams normally until then;
 * opened after, it is sent its 200 and told to go away at once (within the spread).
 *
 * Not done: no buffering or replay of missed events; `lastEventId` tells the application where the
 * client was, and what to replay is the application's business.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type { Drainer } from '../core/types.js';
import { logIntegrationError } from './log.js';
import { boolean, drainerArgument, freshResponseArgument, headers, integer, invalidArgument, knownKeys, nonEmptySingleLine, singleLine } from './options.js';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface EventStreamOptions {
  /** A comment line is written this often so proxies do not time the stream out. Default 15 000 ms; 0 disables. Range 0 … 3 600 000. */
  readonly keepAliveMs?: number;
  /** The reconnect delay sent in the `retry:` field when the stream is told to go away. Default 1000 ms. Range 0 … 3 600 000. */
  readonly reconnectMs?: number;
  /** Event name of the final event, which clients can listen for. Default `'drainkit-reconnect'`. */
  readonly goAwayEvent?: string;
  /**
   * Give events sent without an explicit id consecutive integer ids, continuing after the
   * client's numeric `Last-Event-ID` when it reconnects. Default true.
   */
  readonly autoIds?: boolean;
  /**
   * Extra response headers (for example CORS): header names to string values. Not
   * `content-type`, `cache-control`, `x-accel-buffering`, `content-length`, `transfer-encoding`
   * or `connection`, which the stream sets or manages itself.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SendOptions {
  /** The event's name (`event:`); the client dispatches it to listeners of that name. */
  readonly event?: string;
  /** The event's id (`id:`); overrides the automatic id. */
  readonly id?: string;
}

export interface EventStream {
  /** The `Last-Event-ID` the client sent (on reconnect), else undefined. */
  readonly lastEventId: string | undefined;
  /** The id of the last event sent on this stream (or `lastEventId` before any). */
  readonly currentId: string | undefined;
  /** True once the response ended (gone away, closed by the client, or {@link close}). */
  readonly closed: boolean;
  /** True once the stream was told to go away. */
  readonly goneAway: boolean;
  /** Sends one event. Multi-line data becomes several `data:` lines. Returns false once closed. */
  send(data: string, options?: SendOptions): boolean;
  /** Writes a comment line (ignored by clients). Returns false once closed. */
  comment(text?: string): boolean;
  /** Ends the stream without a reconnect hint (the client's own retry delay applies). */
  close(): void;
}

/** Headers the stream sets or manages itself, refused in `headers`. */
const STREAM_HEADERS = ['content-type', 'cache-control', 'x-accel-buffering', 'content-length', 'transfer-encoding', 'connection'];

/** The name of the final event sent when a stream is told to go away. */
export const GO_AWAY_EVENT = 'drainkit-reconnect';

/**
 * Answers `req` with an event stream (200, `text/event-stream`, no caching, no proxy
 * buffering), registers it with `drainer` as persistent and returns it. See the module comment.
 */
export function openEventStream(drainer: Drainer, req: AnyRequest, res: AnyResponse, options?: EventStreamOptions): EventStream {
  const call = 'openEventStream(drainer, req, res)';
  drainerArgument(call, drainer);
  if (typeof req !== 'object' || req === null || typeof req.headers !== 'object' || req.headers === null) {
    throw invalidArgument(call, 'req', req, 'a request (http.IncomingMessage or http2.Http2ServerRequest)');
  }
  freshResponseArgument(call, res);
  knownKeys('openEventStream', options, ['keepAliveMs', 'reconnectMs', 'goAwayEvent', 'autoIds', 'headers']);
  const keepAliveMs = integer('keepAliveMs', options?.keepAliveMs, 0, 3_600_000, 15_000);
  const reconnectMs = integer('reconnectMs', options?.reconnectMs, 0, 3_600_000, 1_000);
  const goAwayEvent = nonEmptySingleLine('goAwayEvent', options?.goAwayEvent, GO_AWAY_EVENT);
  const autoIds = boolean('autoIds', options?.autoIds, true);
  const extraHeaders = headers('headers', options?.headers, STREAM_HEADERS);

  const header = req.headers['last-event-id'];
  const lastEventId = typeof header === 'string' && !/[\r\n]/.test(header) ? header : undefined;
  let nextAutoId = /^\d{1,15}$/.test(lastEventId ?? '') ? Number(lastEventId) + 1 : 1;
  let currentId = lastEventId;
  let closed = false;
  let goneAway = false;
  const out = res as http.ServerResponse;

  out.writeHead(200, {
    ...extraHeaders,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // nginx buffers responses unless told otherwise; the stream would arrive in bursts.
    'x-accel-buffering': 'no',
  });
  if (typeof out.flushHeaders === 'function') out.flushHeaders();

  const write = (chunk: string): boolean => {
    if (closed || res.writableEnded || res.destroyed) return false;
    out.write(chunk);
    return true;
  };

  let keepAlive: NodeJS.Timeout | undefined;
  if (keepAliveMs > 0) {
    keepAlive = setInterval(() => write(':\n\n'), keepAliveMs);
    keepAlive.unref();
  }
  res.once('close', () => {
    closed = true;
    clearInterval(keepAlive);
  });

  const end = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    res.end();
  };

  const stream: EventStream = {
    lastEventId,
    get currentId() {
      return currentId;
    },
    get closed() {
      return closed;
    },
    get goneAway() {
      return goneAway;
    },
    send(data, sendOptions) {
      if (typeof data !== 'string') throw invalidArgument('stream.send(data)', 'data', data, 'a string (serialise objects yourself, e.g. JSON.stringify)');
      knownKeys('stream.send', sendOptions, ['event', 'id']);
      if (closed) return false;
      let id = sendOptions?.id;
      if (id !== undefined) singleLine('id', id, '');
      else if (autoIds) id = String(nextAutoId++);
      const event = sendOptions?.event === undefined ? undefined : singleLine('event', sendOptions.event, '');
      const ok = write(frame(data, event, id));
      if (ok && id !== undefined) currentId = id;
      return ok;
    },
    comment(text = '') {
      if (typeof text !== 'string') throw invalidArgument('stream.comment(text)', 'text', text, 'a string');
      return write(text.split(/\r\n|\r|\n/).map((line) => `: ${line}\n`).join('') + '\n');
    },
    close: end,
  };

  const goAway = (): void => {
    if (closed) return;
    goneAway = true;
    // `retry:` sets the client's reconnection time; repeating the current id keeps the client's
    // Last-Event-ID where it was, so the next instance resumes from there.
    const idLine = currentId === undefined ? '' : `id: ${currentId}\n`;
    write(`retry: ${reconnectMs}\n${idLine}${frame(JSON.stringify({ reason: 'draining', reconnectMs }), goAwayEvent, undefined)}`);
    end();
  };
  drainer.persistent.adopt(res, {
    kind: 'sse',
    // Deferred to a microtask: a stream opened after the shutdown began is told to go away
    // inside adopt(), and what the application sends right after opening it should still go out.
    goAway: () =>
      queueMicrotask(() => {
        try {
          goAway();
        } catch (err) {
          logIntegrationError(drainer, err, {}, 'drainkit/sse: ending an event stream on drain failed; destroying its response');
          closed = true;
          clearInterval(keepAlive);
          res.destroy();
        }
      }),
    terminate: () => {
      closed = true;
      clearInterval(keepAlive);
      res.destroy();
    },
  });
  return stream;
}

/** One SSE event: `event:`, `id:`, one `data:` line per line of data, and the blank line. */
function frame(data: string, event: string | undefined, id: string | undefined): string {
  let text = '';
  if (event !== undefined) text += `event: ${event}\n`;
  if (id !== undefined) text += `id: ${id}\n`;
  for (const line of data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return `${text}\n`;
}
