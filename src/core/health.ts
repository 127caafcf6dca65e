/**
 * Readiness and liveness answers. Readiness is 200 only while the server is active and
 * listening, 503 from the first instant of a drain; liveness is 200 until the process exits, so
 * the orchestrator never kills a process that is draining correctly (godaddy/terminus#112).
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export function answer(req: AnyRequest, res: AnyResponse, status: number, body: string, close: boolean): void {
  if (res.headersSent) return;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  };
  // HTTP/2 forbids connection-specific headers; on HTTP/1 a draining probe's connection is closed.
  if (close && req.httpVersionMajor === 1 && !res.hasHeader('connection')) headers.connection = 'close';
  (res as http.ServerResponse).writeHead(status, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

/** The path of a request URL without its query string. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** What the health answers need to know about their drainer. */
export interface HealthState {
  /** True from the first instant of a drain. */
  readonly draining: boolean;
  /** True while the server accepts connections. */
  readonly listening: boolean;
  /** A readiness probe arrived while draining: the balancer is still probing (window evidence). */
  noteProbe(req: AnyRequest): void;
}

export type HealthPaths = { readonly readinessPath: string; readonly livenessPath: string } | false;

/**
 * Readiness and liveness as request listeners, and the path dispatch on top of them, for one
 * drainer.
 */
export class HealthAnswers {
  readonly #state: HealthState;
  readonly #paths: HealthPaths;

  constructor(state: HealthState, paths: HealthPaths) {
    this.#state = state;
    this.#paths = paths;
  }

  readonly readiness = (req: AnyRequest, res: AnyResponse): void => {
    const draining = this.#state.draining;
    if (draining) this.#state.noteProbe(req);
    const ready = !draining && this.#state.listening;
    answer(req, res, ready ? 200 : 503, ready ? 'ok\n' : draining ? 'draining\n' : 'not listening\n', draining);
  };

  readonly liveness = (req: AnyRequest, res: AnyResponse): void => {
    answer(req, res, 200, 'ok\n', this.#state.draining);
  };

  /** Answers the request when its path is a health path; returns whether it did. */
  handle(req: AnyRequest, res: AnyResponse): boolean {
    const paths = this.#paths;
    if (!paths) return false;
    const path = pathOf(req.url);
    if (path === paths.readinessPath) this.readiness(req, res);
    else if (path === paths.livenessPath) this.liveness(req, res);
    else return false;
    return true;
  }
}
