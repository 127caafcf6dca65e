/**
 * The example server's routes: a contract that tests, benchmarks and operators rely on.
 *
 *   GET /            200 "ok"
 *   GET /work?ms=n   200 after n ms (0 … 600 000); 400 for anything else
 *   GET /healthz     liveness  (200 until exit)
 *   GET /readyz      readiness (200 while active, 503 from the first instant of a drain)
 */
import type * as http from 'node:http';
import type { Drainer } from '../core/types.js';

export const MAX_WORK_MS = 600_000;

export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean;

/** Builds the request handler. Extra routes (added by later features) are tried first. */
export function exampleHandler(drainer: Drainer, extraRoutes: readonly Route[] = []): http.RequestListener {
  return (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://example.invalid');
    } catch {
      reply(res, 400, 'bad request target\n');
      return;
    }
    for (const route of extraRoutes) if (route(req, res, url)) return;
    if (url.pathname === '/') {
      reply(res, 200, 'ok\n');
    } else if (url.pathname === '/work') {
      work(res, url);
    } else {
      reply(res, 404, 'not found\n');
    }
  };
}

function work(res: http.ServerResponse, url: URL): void {
  const raw = url.searchParams.get('ms') ?? '0';
  const ms = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(ms >= 0 && ms <= MAX_WORK_MS)) {
    reply(res, 400, `ms must be an integer from 0 to ${MAX_WORK_MS}, got ${JSON.stringify(raw)}\n`);
    return;
  }
  const timer = setTimeout(() => reply(res, 200, `worked ${ms} ms\n`), ms);
  res.once('close', () => clearTimeout(timer));
}

export function reply(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
