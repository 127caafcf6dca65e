/**
 * Small real clients and servers for the integration tests: a listening server on 127.0.0.1
 * port 0, a raw WebSocket client that never answers a close frame, a raw HTTP exchange, a GET
 * through a keep-alive pool, hang guards.
 */
import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import type { Pool } from 'undici';
import { withDeadline as within } from '../helpers/deadline.js';

export async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Resolves on `emitter`'s next `event`; rejects after `ms` (a hang guard, not a timing assertion). */
export function next<T extends unknown[]>(emitter: NodeJS.EventEmitter, event: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no "${event}" event within ${ms} ms`));
    }, ms);
    const on = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, on);
  });
}

/** Resolves once `predicate` holds, checking every 5 ms; a hang guard (10 s by default) names `what`. */
export async function until(what: string, predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  // The loop itself stops at the deadline: a guard raced against an endless loop would leave
  // the loop polling after the test failed.
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** What a GET through a pool answered, with its `Connection` header (the drain's mark). */
export interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

/** A GET through a keep-alive undici Pool, like a balancer's pooled connections; 10 s hang guard. */
export async function poolGet(pool: Pool, path: string): Promise<Answer> {
  const res = await within(pool.request({ method: 'GET', path }), 10_000, `GET ${path}`);
  const body = await res.body.text();
  const connection = res.headers.connection;
  return { status: res.statusCode, connection: Array.isArray(connection) ? connection.join(', ') : connection, body };
}

/** Rejects if `promise` has not settled within `ms` (hang guard): the shared {@link withDeadline}. */
export { withDeadline as within } from '../helpers/deadline.js';

/** `fetch` bounded by a hang guard naming the URL; the body is read (and bounded) too. */
export async function fetchText(url: string, init?: RequestInit, ms = 10_000): Promise<{ status: number; headers: Headers; body: string }> {
  return within(
    (async () => {
      const res = await fetch(url, init);
      return { status: res.status, headers: res.headers, body: await res.text() };
    })(),
    ms,
    `${init?.method ?? 'GET'} ${url}`,
  );
}

export interface RawExchange {
  readonly socket: net.Socket;
  /** Everything received so far. */
  readonly received: () => Buffer;
  /** Resolves once the head of the response (up to the blank line) has arrived. */
  readonly head: Promise<string>;
  /** Resolves when the server closed (end or reset) the connection. */
  readonly closed: Promise<void>;
}

/** Sends `request` bytes on a new TCP connection and collects what comes back. */
export function rawExchange(port: number, request: string): RawExchange {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const head = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end !== -1) {
        socket.off('data', onData);
        socket.on('data', (more: Buffer) => chunks.push(more));
        resolve(text.slice(0, end));
      }
    };
    socket.on('data', onData);
    void closed.then(() => reject(new Error(`connection closed before a response head; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`)));
  });
  head.catch(() => undefined);
  socket.write(request);
  return { socket, received: () => Buffer.concat(chunks), head, closed };
}

/**
 * A WebSocket client that completes the opening handshake and then ignores everything: it
 * never answers a close frame, as a hung or malicious client would not.
 */
export function deafWebSocket(port: number, path = '/ws'): RawExchange {
  const key = randomBytes(16).toString('base64');
  return rawExchange(
    port,
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}
