/**
 * The dashboard as a real `drainkit dashboard` process (dist/), and plain HTTP requests with
 * whatever headers a test needs (node:http lets a test set Host, Origin and Sec-Fetch-Site as an
 * attacker's page or a DNS-rebinding page would make a browser send them).
 */
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { spawnServer, type ServerProcess } from '../helpers/processes.js';

export const MAIN = 'dist/cli/main.js';
export const BUILT = existsSync(MAIN) && existsSync('dist/dashboard/browser/dashboard.js');
export const NOT_BUILT = BUILT ? false : 'run `npm run build` first: these tests run dist/';

export interface DashboardProcess extends ServerProcess {
  readonly url: string;
  readonly origin: string;
  readonly token: string;
  /** With --data-dir: the hosted registry's URL. */
  readonly registryUrl: string | undefined;
}

/** Spawns the dashboard; only the variables in `extraEnv` reach it of its own (not a developer's DATABASE_URL). */
export async function spawnDashboard(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<DashboardProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.DRAINKIT_DASHBOARD_TOKEN;
  delete env.DRAINKIT_DASHBOARD_ALLOWED_HOSTS;
  // A generous bound: an embedded registry's first start is slow on a busy machine (a hang guard only).
  const p = await spawnServer({ args: [MAIN, 'dashboard', ...args], env: { ...env, ...extraEnv }, readyTimeoutMs: 90_000 });
  const line = p.events.find((e) => e.event === 'listening');
  if (line === undefined || typeof line.url !== 'string') throw new Error(`no listening line with a url: ${JSON.stringify(p.events)}`);
  const url = new URL(line.url);
  return { ...p, url: line.url, origin: url.origin, token: url.searchParams.get('token') ?? '', registryUrl: typeof line.registryUrl === 'string' ? line.registryUrl : undefined };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function request(origin: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, origin), { method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Signs in through a one-time link (default: the printed URL, good once per process); returns the Cookie header value. */
export async function signIn(d: DashboardProcess, link: string = d.url): Promise<string> {
  const r = await request(d.origin, new URL(link).pathname + new URL(link).search);
  const cookie = [r.headers['set-cookie'] ?? []].flat()[0];
  if (r.status !== 303 || cookie === undefined) throw new Error(`sign-in answered ${r.status} without a cookie: ${r.body.slice(0, 200)}`);
  return cookie.split(';')[0] ?? '';
}

/** A fresh one-time sign-in link, minted with the Bearer token (for another browser or context). */
export async function mintSignInLink(d: DashboardProcess): Promise<string> {
  const r = await request(d.origin, '/sign-in-links', { method: 'POST', headers: { Authorization: `Bearer ${d.token}` } });
  const url: unknown = r.status === 200 ? (JSON.parse(r.body) as { url?: unknown }).url : undefined;
  if (typeof url !== 'string') throw new Error(`POST /sign-in-links answered ${r.status}: ${r.body.slice(0, 200)}`);
  return url;
}
