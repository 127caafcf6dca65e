/**
 * Server flavours for the drain contract suite: the same tests run against each. TLS material
 * is generated once per test process with the system's openssl (a throwaway self-signed key).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Flavour = 'http' | 'https' | 'h2c' | 'h2';
export const FLAVOURS: readonly Flavour[] = ['http', 'https', 'h2c', 'h2'];

let tls: { key: Buffer; cert: Buffer } | undefined;
export function tlsMaterial(): { key: Buffer; cert: Buffer } {
  if (tls) return tls;
  const dir = mkdtempSync(join(tmpdir(), 'drainkit-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return tls;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type AnyServer = http.Server | https.Server | http2.Http2Server | http2.Http2SecureServer;

export function makeServer(flavour: Flavour): AnyServer {
  switch (flavour) {
    case 'http':
      return http.createServer();
    case 'https':
      return https.createServer(tlsMaterial());
    case 'h2c':
      return http2.createServer();
    case 'h2':
      return http2.createSecureServer({ ...tlsMaterial(), allowHTTP1: true });
  }
}

export async function listen(server: AnyServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One client per flavour: a fresh connection per call for HTTP/1 (so "a new connection during
 * the window" is literal), and a given HTTP/2 session for h2/h2c.
 */
export function get(flavour: Flavour, port: number, path: string, session?: http2.ClientHttp2Session): Promise<Reply> {
  if (flavour === 'h2c' || flavour === 'h2') {
    const s = session ?? connectH2(flavour, port);
    return new Promise((resolve, reject) => {
      const req = s.request({ ':path': path });
      let body = '';
      let headers: http2.IncomingHttpHeaders = {};
      req.setEncoding('utf8');
      req.on('response', (h) => (headers = h));
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        if (!session) s.close();
        if (headers[':status'] === undefined) reject(new Error('stream ended without a response'));
        else resolve({ status: Number(headers[':status']), headers, body });
      });
      req.on('close', () => {
        if (req.rstCode !== undefined && req.rstCode !== 0) reject(new Error(`stream reset with code ${req.rstCode}`));
        else if (headers[':status'] === undefined) reject(new Error('stream closed without a response'));
      });
      req.on('error', (err: Error) => {
        if (!session) s.destroy();
        reject(err);
      });
      req.end();
    });
  }
  const mod = flavour === 'https' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      { host: '127.0.0.1', port, path, agent: false, ...(flavour === 'https' && { ca: tlsMaterial().cert }) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function connectH2(flavour: 'h2' | 'h2c', port: number): http2.ClientHttp2Session {
  const s = flavour === 'h2'
    ? http2.connect(`https://127.0.0.1:${port}`, { ca: tlsMaterial().cert })
    : http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => undefined); // surfaced through the request instead
  return s;
}

/** Resolves with the error code of a connection attempt that must fail. */
export function expectRefused(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      reject(new Error(`expected the connection to be refused, got HTTP ${res.statusCode}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'unknown'));
    req.end();
  });
}

/** Waits for a condition checked on each event-loop turn, failing after `ms` (hang guard only). */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
