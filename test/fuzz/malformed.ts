/**
 * Malformed and hostile client input, byte for byte, for tests that send it while a drain is
 * under way (test/fuzz/drain-input.test.ts, test/scale/persistent.test.ts). Every generator draws
 * from a seeded random source, so a failing run is replayed by its seed; a raw TCP socket sends
 * the bytes and records what came back and how the connection ended.
 */
import * as net from 'node:net';

export { seededRandom } from '../helpers/random.js';

/** The seed: `FUZZ_SEED` when set (to replay a failure), else a fresh one. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUZZ_SEED;
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 2 ** 32);
  if (!/^\d{1,10}$/.test(raw) || Number(raw) >= 2 ** 32) {
    throw new Error(`FUZZ_SEED is ${JSON.stringify(raw)}; accepted: an integer from 0 to ${2 ** 32 - 1}`);
  }
  return Number(raw);
}

function int(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

function bytes(random: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 1) b[i] = Math.floor(random() * 256);
  return b;
}

/** A Sec-WebSocket-Version no server accepts: ws takes 13 (RFC 6455) and 8 (the hybi-08 draft). */
function badWebSocketVersion(random: () => number): number {
  const v = int(random, 0, 11);
  return v === 8 ? 12 : v;
}

/** What a malformed connection sends, and whether it half-closes after (FIN) or stays silent. */
export interface MalformedInput {
  readonly kind: MalformedKind;
  readonly payload: Buffer;
  /** End our side after the payload (a truncated request that stops, vs one that hangs). */
  readonly fin: boolean;
}

export const HTTP1_KINDS = [
  'random-bytes',
  'truncated-request-line',
  'truncated-request-line-open',
  'oversized-headers',
  'content-length-and-chunked',
  'duplicate-content-length',
  'websocket-bad-key',
  'websocket-bad-version',
  'http2-preface',
] as const;
export type MalformedKind = (typeof HTTP1_KINDS)[number];

/** Starts of `random-bytes` that look like HTTP/1 until the garbage after them. */
const METHOD_LIKE_PREFIXES = ['G', 'GET', 'GET ', 'POST /', 'PUT /x HTTP/1.1', 'HEAD / HTTP/1.1\r\n', 'DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'OPTIONS * HTTP/1.0\r\n', 'PRI * HTTP/2'] as const;

/** HTTP/2's connection preface (RFC 9113 §3.4) and an empty SETTINGS frame. */
export const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** One malformed input of `kind`, drawn from `random`. */
export function malformed(kind: MalformedKind, random: () => number): MalformedInput {
  const text = (s: string, fin = true): MalformedInput => ({ kind, payload: Buffer.from(s, 'latin1'), fin });
  switch (kind) {
    case 'random-bytes': {
      // Half start with a control byte (refused at once), half like a request (a method, a
      // request line, a PRI preface cut short), so the parser gets past its first byte and
      // meets the garbage later, or waits for more until the drain ends the connection.
      const b = bytes(random, int(random, 1, 2048));
      if (random() < 0.5) {
        b[0] = int(random, 0, 31);
        return { kind, payload: b, fin: random() < 0.5 };
      }
      const prefix = Buffer.from(METHOD_LIKE_PREFIXES[int(random, 0, METHOD_LIKE_PREFIXES.length - 1)]!, 'latin1');
      return { kind, payload: Buffer.concat([prefix, b]), fin: random() < 0.5 };
    }
    case 'truncated-request-line':
      return text('GET /work?ms=0 HT'.slice(0, int(random, 3, 16)));
    case 'truncated-request-line-open':
      return text('GET /work?ms=0 HTTP/1.1\r\nHost: 127'.slice(0, int(random, 3, 34)), false);
    case 'oversized-headers':
      // Over Node's default 16 KiB header limit (maxHeaderSize): 431.
      return text(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(int(random, 17_000, 40_000))}\r\n\r\n`);
    case 'content-length-and-chunked':
      // RFC 9112 §6.1: a request with both is a smuggling attempt; Node's parser refuses it (400).
      return text(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${int(random, 1, 50)}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    case 'duplicate-content-length':
      return text(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: ${int(random, 4, 9)}\r\n\r\nabcdefghi`);
    case 'websocket-bad-key':
      return text(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${bytes(random, 5).toString('hex')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    case 'websocket-bad-version':
      return text(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${badWebSocketVersion(random)}\r\n\r\n`);
    case 'http2-preface':
      return { kind, payload: H2_PREFACE, fin: random() < 0.5 };
  }
}

/** How a raw connection ended. */
export interface RawOutcome {
  readonly kind: string;
  /** The status of the first response, when one came (undefined: closed without a response). */
  readonly status: number | undefined;
  /** Bytes received. */
  readonly received: number;
  /** The connection was refused (the listener was already closed). */
  readonly refused: boolean;
  /** It was still open when the bound passed. */
  readonly hung: boolean;
  readonly error: string | undefined;
  /** When the connection ended (`Date.now()`), whoever ended it. */
  readonly closedAt: number;
}

/**
 * Connects to `port`, sends `payload` (and FIN when `fin`), and resolves once the server closed
 * the connection, or with `hung: true` after `boundMs` (the socket is then destroyed).
 */
export function sendRaw(port: number, input: { readonly kind: string; readonly payload: Buffer; readonly fin: boolean }, boundMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    let done = false;
    let error: NodeJS.ErrnoException | undefined;
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => finish(true), boundMs);
    const finish = (hung: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data.toString('latin1', 0, 16))?.[1];
      resolve({
        kind: input.kind,
        status: status === undefined ? undefined : Number(status),
        received: data.length,
        refused: !connected && error?.code === 'ECONNREFUSED',
        hung,
        error: error?.code,
        closedAt: Date.now(),
      });
    };
    socket.on('connect', () => {
      connected = true;
      socket.write(input.payload);
      if (input.fin) socket.end();
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    // The server ending its side is the end of the exchange (half-open sockets: we end ours too).
    socket.on('end', () => finish(false));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err;
    });
    socket.on('close', () => finish(false));
  });
}
