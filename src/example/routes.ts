/**
 * The example server's routes in one line each, for people: the list printed at start on a
 * terminal. The behaviour behind each is defined in app.ts and persistent-routes.ts.
 */
import { MAX_WORK_MS } from './app.js';

export interface RouteDescription {
  readonly method: 'GET' | 'POST';
  /** The path as typed, with placeholders: `/work?ms=<n>`. */
  readonly path: string;
  readonly description: string;
  /** The optional peer dependency the route needs, when it needs one. */
  readonly needs?: 'ws' | 'prom-client';
}

export const ROUTES: readonly RouteDescription[] = [
  { method: 'GET', path: '/', description: '200 "ok"' },
  { method: 'GET', path: '/work?ms=<n>', description: `answers after n ms (0 to ${MAX_WORK_MS}): a request to keep in flight during a drain` },
  { method: 'GET', path: '/readyz', description: 'readiness: 200 while serving, 503 from the first instant of a drain' },
  { method: 'GET', path: '/healthz', description: 'liveness: 200 until the process exits' },
  { method: 'GET', path: '/ws', description: 'WebSocket echo; closed with 1001 "going away" on drain', needs: 'ws' },
  { method: 'GET', path: '/sse', description: 'server-sent events; ends with a reconnect hint on drain' },
  { method: 'GET', path: '/poll?timeoutMs=<n>', description: 'long-poll: answered by POST /publish, at the timeout, or at once on drain' },
  { method: 'POST', path: '/publish', description: 'sends the request body to every waiting /poll' },
  { method: 'GET', path: '/metrics', description: 'Prometheus text: drain state, in-flight and persistent counts', needs: 'prom-client' },
];
