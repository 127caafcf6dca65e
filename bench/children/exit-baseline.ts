/**
 * The exit-latency benchmark's baselines: a bare `node:http` server with the example server's
 * `GET /work?ms=n` route and no drainkit, showing the floor of "last response → exit" that any
 * process pays (its own teardown plus the parent's child-exit notification).
 *
 *   node exit-baseline.js --exit process-exit|natural|terminus|drainkit [--dist <dir>]
 *
 * On SIGTERM the listener closes; when the in-flight response then finishes:
 * - `process-exit`: `process.exit(0)` in the response's 'finish' handler (the absolute floor);
 * - `natural`: the response carries `Connection: close`, Node closes the socket after it, and the
 *   process exits on its own once nothing holds the event loop (what drainkit does, minus the
 *   wait for the client's FIN).
 * - `terminus`: `@godaddy/terminus` on SIGTERM (its own close of the listener and of idle
 *   sockets, waiting for the in-flight response), exiting with code 0 (`useExit0`): the peer.
 * - `drainkit`: `createDrainer` (zero fixed window, `exitOnDrain`) on this same small server, so
 *   that it compares with terminus process for process (the example server loads the CLI too).
 *   `--dist <dir>` loads drainkit from another build (a `dist/` directory) instead of this one.
 *
 * Each mode loads only the library it runs: a module that is loaded and never used still costs
 * the process's teardown after its `exit` event (terminus loaded beside drainkit added about
 * 0.25 ms to it, measured), which once made every variant pay for terminus.
 */
import * as http from 'node:http';
import { announce, flag, loadDrainkit } from './common.js';

const mode = flag('exit', ['process-exit', 'natural', 'terminus', 'drainkit'], 'process-exit');
let stopping = false;

const server = http.createServer((req, res) => {
  const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? '0');
  const timer = setTimeout(() => {
    if (stopping && mode === 'natural') res.setHeader('Connection', 'close');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
    res.end('ok\n');
  }, ms);
  res.once('close', () => clearTimeout(timer));
  res.once('finish', () => {
    if (stopping && mode === 'process-exit') process.exit(0);
  });
});

if (mode === 'drainkit') {
  const dist = process.argv.indexOf('--dist');
  const { createDrainer } = await loadDrainkit(dist === -1 ? undefined : process.argv[dist + 1]);
  createDrainer(server, { signals: ['SIGTERM'], deregister: { mode: 'fixed', delayMs: 0 }, exitOnDrain: true });
} else if (mode === 'terminus') {
  const { createTerminus } = await import('@godaddy/terminus');
  createTerminus(server, { signals: ['SIGTERM'], useExit0: true, timeout: 10_000 });
} else {
  process.once('SIGTERM', () => {
    stopping = true;
    server.close();
  });
}

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce({ event: 'listening', mode, port: typeof address === 'object' && address ? address.port : 0, pid: process.pid });
});
