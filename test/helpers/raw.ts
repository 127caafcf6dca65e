/** A raw TCP client that records exactly what crossed the wire, for HTTP/1 byte-level checks. */
import * as net from 'node:net';

export class RawClient {
  readonly socket: net.Socket;
  data = '';
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.data += d;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.#wake();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: after the server's FIN we decide when to end our side.
      const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Resolves when `cond` holds; rejects after `ms` (a hang guard, not a timing assertion). */
  async waitFor(cond: (c: RawClient) => boolean, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond(this)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.slice(0, 300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Number of complete HTTP responses received (status lines). */
  responses(): number {
    return (this.data.match(/HTTP\/1\.1 \d{3}/g) ?? []).length;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

export function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}

/**
 * Resolves with `promise`, or rejects after `ms` with a message naming what was awaited: a hang
 * guard for awaiting a drain or an event, not a timing assertion.
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}
