/** In-process servers with a drainer, for reporter tests: 127.0.0.1, port 0, no signals, no exit. */
import * as http from 'node:http';
import { createDrainer, type Drainer } from '../../src/index.js';
import { exampleHandler } from '../../src/example/app.js';

export interface TestServer {
  readonly server: http.Server;
  readonly drainer: Drainer;
  readonly port: number;
  /** Starts `GET /work?ms=…` requests; resolves once the server counts them in flight. */
  hold(count: number, ms: number): Promise<void>;
  /** Aborts held requests and closes everything. */
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, exitOnDrain: false, deregister: { mode: 'fixed', delayMs: 50 }, drainTimeoutMs: 10_000, lingerMs: 0 });
  server.on('request', exampleHandler(drainer));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  const aborts = new AbortController();
  const pending: Promise<unknown>[] = [];
  return {
    server,
    drainer,
    port,
    async hold(count, ms) {
      const target = drainer.inflight + count;
      for (let i = 0; i < count; i++) {
        pending.push(fetch(`http://127.0.0.1:${port}/work?ms=${ms}`, { signal: aborts.signal }).then((r) => r.text()).catch(() => undefined));
      }
      while (drainer.inflight < target) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      aborts.abort();
      await Promise.all(pending);
      drainer.detach();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
