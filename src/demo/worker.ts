/**
 * One worker of `drainkit demo`'s cluster: the example server (src/example) with drainkit
 * attached, run by the cluster supervisor (it reads PORT and HOST, the primary gives both).
 * Unlike `drainkit example-server` it prints nothing on stdout: the supervisor passes a worker's
 * stdout on to the demo's stderr, and a banner per worker per reload would bury the demo's own
 * status line. Warnings and errors still go to stderr, one line each.
 *
 * With {@link EXIT_WITHOUT_DRAINING_ENV} set to 1 the worker exits the instant a drain starts,
 * without draining: the demo's negative control (`--exit-without-draining`), a real way for a
 * reload to lose requests and connections, which the demo's load must then count.
 */
import * as http from 'node:http';
import { createDrainer } from '../core/drainer.js';
import type { Logger } from '../core/types.js';
import { exampleHandler } from '../example/app.js';
import { persistentRoutes } from '../example/persistent-routes.js';
import { DRAIN_TIMEOUT_ENV, EXIT_WITHOUT_DRAINING_ENV } from './worker-env.js';

/** How long SSE clients are told to wait before reconnecting (the `retry:` hint), in ms. */
const SSE_RECONNECT_MS = 300;

function stderrLogger(): Logger {
  const write = (level: 'warn' | 'error') => (_obj: object, msg?: string): void => {
    if (msg !== undefined) process.stderr.write(`drainkit demo worker [${process.pid}] ${level}: ${msg}\n`);
  };
  const quiet = (): void => undefined;
  return { debug: quiet, info: quiet, warn: write('warn'), error: write('error') };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  const host = process.env.HOST ?? '127.0.0.1';
  const drainTimeoutMs = Number(process.env[DRAIN_TIMEOUT_ENV] ?? 10_000);
  const server = http.createServer();
  const drainer = createDrainer(server, { logger: stderrLogger(), drainTimeoutMs });
  if (process.env[EXIT_WITHOUT_DRAINING_ENV] === '1') {
    drainer.on('state', (state) => {
      // The negative control: no window, no close frames, no retry hints, in-flight requests cut.
      // eslint-disable-next-line no-restricted-properties -- the point of the control: an exit that skips the drain
      if (state === 'draining') process.exit(0);
    });
  }
  const persistent = await persistentRoutes(drainer, server, { sseIntervalMs: 1_000, sseReconnectMs: SSE_RECONNECT_MS });
  server.on('request', exampleHandler(drainer, persistent.routes));
  server.listen(port, host);
}

await main();
