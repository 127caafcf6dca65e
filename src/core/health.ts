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
