/**
 * One HTTP/1.1 keep-alive connection driven by hand, the way a balancer's pooled connection is
 * used: requests sent one after another on the same socket, each outcome classified (a full
 * response, or how it failed), reading paused and resumed at will. For the negative controls,
 * which must put the next request exactly where a shutdown mechanism bites.
 */
import * as net from 'node:net';
import { withDeadline } from './deadline.js';

/** How one request on the connection ended. */
export type Outcome =
  | { readonly ok: true; readonly status: number; readonly connectionClose: boolean; readonly bodyBytes: number }
  | { readonly ok: false; readonly failure: string };

export class KeepAliveConnection {
  readonly socket: net.Socket;
  /** Bytes received and not yet consumed by a response. */
  #buffer = Buffer.alloc(0);
  #ended = false;
  #error: NodeJS.ErrnoException | undefined;
  #wake: (() => void) | undefined;
  /** True once the server's FIN arrived. */
  get serverEnded(): boolean {
    return this.#ended;
  }

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#error = err;
      this.#wake?.();
    });
    socket.on('close', () => this.#wake?.());
  }

  /** Connects to 127.0.0.1:`port` (allowHalfOpen: the harness decides when to end its side). */
  static async open(port: number): Promise<KeepAliveConnection> {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      10_000,
      `connecting to 127.0.0.1:${port}`,
    );
    return new KeepAliveConnection(socket);
  }

  /** Writes a GET for `path` on this connection without waiting for anything. */
  send(path: string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  }

  /** Sends a GET for `path` and waits for its outcome. */
  request(path: string, ms = 10_000): Promise<Outcome> {
    this.send(path);
    return this.response(`GET ${path}`, ms);
  }

  /**
   * Waits for the next response on the connection (a `Content-Length` body) and classifies it:
   * complete, or failed with the socket error, a close before the head, or a body cut short.
   */
  async response(what: string, ms = 10_000): Promise<Outcome> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = this.#parse();
      if (parsed) return parsed;
      if (this.#error || this.#ended || this.socket.destroyed) {
        // Cut short: let the socket settle so an RST that follows the FIN is reported as such.
        if (!this.socket.destroyed) this.socket.end();
        await withDeadline(new Promise<void>((resolve) => (this.socket.closed ? resolve() : this.socket.once('close', () => resolve()))), 5_000, `${what}: the socket to close`).catch(() => undefined);
        const got = this.#buffer.length;
        const code = this.#error?.code ?? (this.#ended ? 'FIN' : 'closed');
        return { ok: false, failure: `${what}: ${code} after ${got} bytes of response` };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: no complete response within ${ms} ms (${this.#buffer.length} bytes so far)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Ends our side and frees the socket. */
  close(): void {
    this.socket.destroy();
  }

  #parse(): Outcome | undefined {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? NaN);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return undefined;
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    return { ok: true, status, connectionClose: /\r\nconnection:\s*close\b/i.test(head), bodyBytes: length };
  }
}
