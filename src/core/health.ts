/**
 * Readiness, liveness and preStop answers. Readiness is 200 only while the server is active and
 * listening, 503 from the first instant of a drain; liveness is 200 until the process exits, so
 * the orchestrator never kills a process that is draining correctly (godaddy/terminus#112). The
 * preStop endpoint starts the drain and answers once the deregistration window is over, only
 * where the kubelet reaches it and the service's clients do not.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type { WindowEnd } from './types.js';

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
  /**
   * The preStop hook: starts the drain as a signal would, or joins the one under way; resolves
   * with what ended the deregistration window, at once if it is already over.
   */
  preStop(): Promise<WindowEnd>;
  /** A warning for the drain log (a refused preStop call, an answer cut at its bound). */
  warn(fields: Record<string, unknown>, message: string): void;
}

export type HealthPaths =
  | {
      readonly readinessPath: string;
      readonly livenessPath: string;
      readonly preStopPath?: string;
      readonly preStopToken?: string;
    }
  | false;

/** The header the kubelet's `httpGet.httpHeaders` sends the preStop secret in. */
export const PRESTOP_HEADER = 'x-drainkit-prestop';

/** Where a health request arrived: the application's server, or drainkit's own health server. */
export type HealthPort = 'main' | 'health-port';

/** How long a preStop answer may wait past the window's maximum (the window's own timer is the bound; this is the backstop). */
const PRESTOP_MARGIN_MS = 1_000;

/**
 * Readiness and liveness as request listeners, and the path dispatch on top of them, for one
 * drainer.
 */
export class HealthAnswers {
  readonly #state: HealthState;
  readonly #paths: HealthPaths;
  readonly #windowMaxMs: number;

  /** `windowMaxMs`: the longest the deregistration window can last (it bounds the preStop answer). */
  constructor(state: HealthState, paths: HealthPaths, windowMaxMs: number) {
    this.#state = state;
    this.#paths = paths;
    this.#windowMaxMs = windowMaxMs;
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
  handle(req: AnyRequest, res: AnyResponse, port: HealthPort = 'main'): boolean {
    const paths = this.#paths;
    if (!paths) return false;
    const path = pathOf(req.url);
    if (path === paths.readinessPath) this.readiness(req, res);
    else if (path === paths.livenessPath) this.liveness(req, res);
    else if (path === paths.preStopPath) this.#preStop(req, res, port, paths.preStopToken);
    else return false;
    return true;
  }

  #preStop(req: AnyRequest, res: AnyResponse, port: HealthPort, token: string | undefined): void {
    const from = remoteOf(req);
    const refuse = (status: 403 | 404, reason: string, body: string): void => {
      this.#state.warn({ event: 'prestop_refused', status, reason, port, remoteAddress: from }, `preStop request refused (${reason})`);
      answer(req, res, status, body, false);
    };
    if (token !== undefined) {
      if (!tokenMatches(req.headers[PRESTOP_HEADER], token)) {
        refuse(403, `missing or wrong ${PRESTOP_HEADER} header`, 'forbidden\n');
        return;
      }
    } else if (port === 'main') {
      // Without a secret only the dedicated health port serves it: the balancer forwards any path
      // on the main server, so serving it here would let a client of the service drain the fleet.
      refuse(404, 'served on the health port only (or set health.preStopToken)', 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      (res as http.ServerResponse).setHeader('allow', 'GET, POST');
      answer(req, res, 405, 'method not allowed\n', false);
      return;
    }
    const boundMs = this.#windowMaxMs + PRESTOP_MARGIN_MS;
    const timer = setTimeout(() => {
      this.#state.warn({ event: 'prestop_answer_bounded', boundMs }, `preStop answered at its bound (${boundMs} ms): the deregistration window is not over yet`);
      answer(req, res, 200, `deregistration window not over after ${boundMs} ms\n`, true);
    }, boundMs);
    timer.unref();
    // The kubelet gave up (its grace ran out): nothing is left to answer.
    res.once('close', () => clearTimeout(timer));
    void this.#state.preStop().then((endedBy) => {
      clearTimeout(timer);
      answer(req, res, 200, `deregistration window over (${endedBy})\n`, true);
    });
  }
}

/**
 * Compares in constant time, so the secret cannot be guessed a character at a time. node:crypto is
 * fetched here, not at import, because only a process with a health token needs it
 * (src/core/builtins.ts says why the core fetches built-ins this way).
 */
function tokenMatches(header: string | string[] | undefined, token: string): boolean {
  if (typeof header !== 'string') return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(token);
  return given.length === expected.length && process.getBuiltinModule('node:crypto').timingSafeEqual(given, expected);
}

function remoteOf(req: AnyRequest): string | undefined {
  const socket = (req as http.IncomingMessage).socket as { remoteAddress?: string } | null | undefined;
  return socket?.remoteAddress;
}
