/**
 * A TCP proxy in front of a database, to make it unreachable on demand: `cut()` closes the
 * listener and destroys every connection (clients see resets, then refusals), `restore()`
 * listens again on the same port.
 */
import * as net from 'node:net';

export class TcpProxy {
  readonly #targetPort: number;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  port = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.#listen(0);
    return proxy;
  }

  /** The URL with its port replaced by the proxy's. */
  wrap(url: string): string {
    const u = new URL(url);
    u.port = String(this.port);
    return u.href;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    if (!this.#server) await this.#listen(this.port);
  }

  #listen(port: number): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#targetPort, '127.0.0.1');
      this.#sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const a = server.address();
        this.port = a && typeof a === 'object' ? a.port : port;
        resolve();
      });
    });
  }
}
