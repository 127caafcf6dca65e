/**
 * `drainkit dashboard`'s HTTP server: node:http, server-rendered pages, one Server-Sent Events
 * stream per tab fed by one shared {@link FleetFeed}, and the two actions behind the
 * {@link Guard}'s rules.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Store } from '../registry/driver.js';
import { drainAction, reapAction, type ActionResult } from './actions.js';
import type { PageSettings } from './browser/protocol.js';
import { parseFilter } from './browser/render.js';
import { FleetFeed } from './feed.js';
import { fleetBody, notice, page } from './pages.js';
import { allowedHosts, Guard, isLoopback, isWildcard, parseAllowedHost, randomToken, setSecurityHeaders, SignInCodes, urlHost, type AllowedHost, type Refusal } from './security.js';
import { STYLESHEET } from './styles.js';
import { auditBody, drainBody, drainDocument } from './views.js';

export interface DashboardOptions {
  readonly store: Store;
  /** Default '127.0.0.1'. Any other address needs an explicit {@link DashboardOptions.token}. */
  readonly host?: string;
  /** Default 0 (a free port). */
  readonly port?: number;
  /**
   * More names (or addresses) the browser may use to reach the dashboard, each `name[:port]`:
   * the Host header must be one of them, the bound address or, on loopback, a loopback name.
   * At least one is required to bind a wildcard address (0.0.0.0, ::); the first is the host
   * of the printed URL.
   */
  readonly allowedHosts?: readonly string[] | undefined;
  /** The secret to sign in with. Default: a random one. Required to bind a non-loopback address. */
  readonly token?: string | undefined;
  /** No actions rendered, every POST refused. */
  readonly readOnly?: boolean;
  /** A heartbeat older than this is flagged stale. Default 15 000 ms. */
  readonly staleAfterMs?: number;
  /** The reap action's TTL. Default 30 000 ms. */
  readonly reapTtlMs?: number;
  /** Poll interval when the registry cannot LISTEN. Default 1000 ms. */
  readonly pollMs?: number;
}

export interface Dashboard {
  readonly port: number;
  /** The sign-in URL (token included): it signs one browser in, once per process. */
  readonly url: string;
  readonly token: string;
  /** Ends every event stream, stops the feed and the server. Does not close the store. */
  close(): Promise<void>;
}

export class DashboardError extends Error {
  override readonly name = 'DashboardError';
}

const SSE_TICK_MS = 5_000;
/** A green dot on a dark square: the live indicator's colour. */
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#15181c"/><circle cx="8" cy="8" r="4.5" fill="#16a34a"/></svg>';
const MAX_BODY = 16_384;

/** Where the compiled browser module lives: next to this file, in browser/. */
const ASSETS = new URL('./browser/', import.meta.url);
const SCRIPTS = new Set(['dashboard.js', 'render.js', 'protocol.js']);

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && (options.token === undefined || options.token === '')) {
    throw new DashboardError(`refusing to bind ${host} without a token: anyone who reaches it could drain the fleet. Give --token (or DRAINKIT_DASHBOARD_TOKEN), or bind 127.0.0.1`);
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new DashboardError(`the token is ${options.token.length} characters; accepted: at least 16`);
  }
  const allowed: AllowedHost[] = [];
  for (const text of options.allowedHosts ?? []) {
    const parsed = parseAllowedHost(text);
    if (typeof parsed === 'string') throw new DashboardError(`allowed host ${parsed}`);
    allowed.push(parsed);
  }
  if (isWildcard(host) && allowed.length === 0) {
    throw new DashboardError(`binding ${host} needs at least one allowed host (--allowed-host <name[:port]>): the name browsers will use to reach the dashboard, which its Host header must match`);
  }
  const token = options.token ?? randomToken();
  const settings: PageSettings = { readOnly: options.readOnly ?? false, staleAfterMs: options.staleAfterMs ?? 15_000 };
  const feed = new FleetFeed(options.store, options.pollMs === undefined ? {} : { pollMs: options.pollMs });
  await feed.start();
  const streams = new Set<ServerResponse>();
  const flashes = new Map<string, { text: string; kind: 'ok' | 'error' }>();
  let flashSeq = 0;
  /** Known once listening: the Host allowlist names the port. */
  const ready: { guard?: Guard; origin?: string } = {};
  const signInCodes = new SignInCodes();

  const server: Server = createServer((req, res) => {
    setSecurityHeaders(res);
    if (ready.guard === undefined) return send(res, 503, 'text/plain', 'starting');
    handle(req, res, ready.guard).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) sendError(req, res, { status: 500, message: `the registry could not answer: ${message}` });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, g: Guard): Promise<void> {
    const hostRefusal = g.checkHost(req);
    if (hostRefusal !== undefined) return sendError(req, res, hostRefusal);
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    if (req.method === 'GET' && path.startsWith('/assets/')) return serveAsset(res, path.slice('/assets/'.length));
    // Browsers ask for it on every page, signed in or not: an icon, not a 404 in the console.
    if (req.method === 'GET' && path === '/favicon.ico') return send(res, 200, 'image/svg+xml', FAVICON);
    if (req.method === 'GET' && path === '/login') return login(req, res, g, url.searchParams);
    if (req.method === 'GET' && path === '/signed-out') return sendPage(res, 200, { title: 'Signed out', view: 'error', settings, live: false, body: `${notice('Signed out: this browser no longer has a session.')}${SIGN_IN_AGAIN}` });
    const by = g.authenticate(req);
    if (path === '/logout') {
      if (req.method !== 'POST') return sendError(req, res, { status: 405, message: '/logout takes POST only (the Sign out button)' }, undefined, { Allow: 'POST' });
      // Signed in or not, the answer only clears a cookie; the origin check keeps another site
      // from signing the browser out.
      const originRefusal = g.checkPostOrigin(req, by ?? 'cookie');
      if (originRefusal !== undefined) return sendError(req, res, originRefusal);
      res.writeHead(303, { 'Set-Cookie': g.clearedCookie(), Location: '/signed-out' });
      return void res.end();
    }
    if (by === undefined) {
      return sendError(req, res, { status: 401, message: 'not signed in: open the URL that `drainkit dashboard` printed (it carries the token), or send Authorization: Bearer <token>' }, signInForm());
    }
    if (path.startsWith('/actions/')) {
      if (req.method !== 'POST') return sendError(req, res, { status: 405, message: `${path} takes POST only (a GET never changes anything)` }, undefined, { Allow: 'POST' });
      if (settings.readOnly) return sendError(req, res, { status: 403, message: 'this dashboard is read-only (--read-only): actions are refused' });
      const originRefusal = g.checkPostOrigin(req, by);
      if (originRefusal !== undefined) return sendError(req, res, originRefusal);
      return action(req, res, path);
    }
    if (path === '/sign-in-links') {
      if (req.method !== 'POST') return sendError(req, res, { status: 405, message: '/sign-in-links takes POST only: each call mints a new one-time link' }, undefined, { Allow: 'POST' });
      const originRefusal = g.checkPostOrigin(req, by);
      if (originRefusal !== undefined) return sendError(req, res, originRefusal);
      return send(res, 200, 'application/json', JSON.stringify({ url: `${ready.origin ?? ''}/login?code=${signInCodes.mint()}` }));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(req, res, { status: 405, message: `${req.method ?? ''} ${path} is not served; pages take GET` }, undefined, { Allow: 'GET' });
    if (path === '/') return fleetPage(res, url);
    if (path === '/events') return eventStream(req, res);
    if (path === '/api/fleet') return send(res, 200, 'application/json', JSON.stringify(feed.snapshot().snapshot));
    if (path === '/audit') {
      const { body, errors } = await auditBody(options.store, url.searchParams);
      return sendPageOrFragment(res, url, errors.length === 0 ? 200 : 400, { title: 'Audit', view: 'audit', settings, live: errors.length === 0, body });
    }
    const drainMatch = /^\/instances\/(\d+)(\/drain\.json)?$/.exec(path);
    if (drainMatch !== null) {
      const id = Number(drainMatch[1]);
      const generationText = url.searchParams.get('generation');
      const generation = generationText === null ? undefined : Number(generationText);
      if (generation !== undefined && (!Number.isInteger(generation) || generation < 1)) {
        return sendError(req, res, { status: 400, message: `generation got ${JSON.stringify(generationText)}; accepted: a positive integer` });
      }
      if (drainMatch[2] !== undefined) {
        const doc = await drainDocument(options.store, id, generation);
        if (doc === undefined) return sendError(req, res, { status: 404, message: `no instance ${id} in the registry` });
        res.setHeader('Content-Disposition', `attachment; filename="drain-${id}-${String(doc.instance.generation)}${doc.instance.pid === null ? '' : `-pid${doc.instance.pid}`}.json"`);
        return send(res, 200, 'application/json', `${JSON.stringify(doc, null, 2)}\n`);
      }
      const body = await drainBody(options.store, id, generation);
      if (body === undefined) return sendError(req, res, { status: 404, message: `no instance ${id} in the registry` });
      return sendPageOrFragment(res, url, 200, { title: `Instance ${id}`, view: 'drain', settings, live: true, body });
    }
    return sendError(req, res, { status: 404, message: `nothing at ${path}; pages: /, /audit, /instances/<id>` });
  }

  function login(req: IncomingMessage, res: ServerResponse, g: Guard, params: URLSearchParams): void {
    const code = params.get('code');
    if (code !== null) {
      if (!signInCodes.redeem(code)) return sendError(req, res, { status: 403, message: 'this sign-in link was already used, has expired (links last 10 minutes) or belongs to another dashboard process' }, NEW_LINK);
      return signedIn(res, g);
    }
    const candidate = params.get('token') ?? '';
    const outcome = g.signInWithToken(candidate);
    if (outcome === 'already-used') return sendError(req, res, { status: 403, message: 'this sign-in link was already used: the printed URL signs one browser in, once per dashboard process' }, NEW_LINK);
    if (outcome === 'wrong') return sendError(req, res, { status: 401, message: candidate === '' ? 'sign-in needs the token: open the URL that `drainkit dashboard` printed' : 'wrong token' }, signInForm());
    signedIn(res, g);
  }

  function signedIn(res: ServerResponse, g: Guard): void {
    // The token leaves the address bar (and the history) at once; the cookie carries the session.
    res.writeHead(303, { 'Set-Cookie': g.sessionCookie(), Location: '/' });
    res.end();
  }

  async function fleetPage(res: ServerResponse, url: URL): Promise<void> {
    await feed.refresh();
    const { filter, errors } = parseFilter(url.searchParams);
    const flashId = url.searchParams.get('notice');
    const flash = flashId === null ? undefined : flashes.get(flashId);
    const body = (flash?.kind === 'error' ? notice(flash.text, 'error') : '') + fleetBody(feed.instances(), filter, errors, settings, flash?.kind === 'ok' ? flash.text : undefined);
    sendPage(res, 200, { title: 'Fleet', view: 'fleet', settings, live: true, body });
  }

  function eventStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    const write = (event: string, id: string | undefined, data: unknown): void => {
      res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const lastId = req.headers['last-event-id'];
    const missed = typeof lastId === 'string' ? feed.since(lastId) : undefined;
    if (missed === undefined) {
      const { id, snapshot } = feed.snapshot();
      write('snapshot', id, snapshot);
    } else {
      for (const c of missed) write('change', c.id, c.change);
    }
    const unsubscribe = feed.subscribe((c) => write('change', c.id, c.change));
    const tick = (): void => write('tick', undefined, { now: new Date().toISOString(), registryError: feed.registryError });
    tick();
    const timer = setInterval(tick, SSE_TICK_MS);
    streams.add(res);
    res.on('close', () => {
      clearInterval(timer);
      unsubscribe();
      streams.delete(res);
    });
  }

  async function action(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const form = await readForm(req);
    if (typeof form === 'string') return sendError(req, res, { status: 400, message: form });
    let result: ActionResult;
    if (path === '/actions/drain') {
      const instanceId = Number(form.get('instance') ?? '');
      if (!Number.isInteger(instanceId) || instanceId < 1) return sendError(req, res, { status: 400, message: `instance got ${JSON.stringify(form.get('instance') ?? null)}; accepted: an instance id` });
      const generationText = form.get('generation');
      const generation = generationText === null || generationText === '' ? undefined : Number(generationText);
      if (generation !== undefined && (!Number.isInteger(generation) || generation < 1)) return sendError(req, res, { status: 400, message: `generation got ${JSON.stringify(generationText)}; accepted: a positive integer` });
      const who = (form.get('by') ?? '').trim();
      result = await drainAction(options.store, {
        instanceId,
        generation,
        reason: form.get('reason') ?? '',
        force: form.get('force') === '1' || form.get('force') === 'true',
        requestedBy: `${who === '' ? 'dashboard user' : who.slice(0, 200)} via drainkit dashboard from ${req.socket.remoteAddress ?? 'unknown address'}`,
      });
    } else if (path === '/actions/reap') {
      result = await reapAction(options.store, options.reapTtlMs ?? 30_000, `drainkit dashboard pid ${process.pid}`);
    } else {
      return sendError(req, res, { status: 404, message: `no action ${path}; actions: /actions/drain, /actions/reap` });
    }
    await feed.refresh();
    if (wantsJson(req)) return send(res, result.status, 'application/json', JSON.stringify(result.ok ? { ok: true, message: result.message, ...result.body } : { ok: false, error: result.message }));
    // Post/Redirect/Get: a reload shows the result instead of posting again.
    flashSeq += 1;
    const key = String(flashSeq);
    flashes.set(key, { text: result.message, kind: result.ok ? 'ok' : 'error' });
    if (flashes.size > 100) flashes.delete(flashes.keys().next().value as string);
    // Back to the page's filters (only the fleet's own filter fields are taken from the form).
    const back = new URLSearchParams();
    for (const [k, v] of new URLSearchParams(form.get('back') ?? '')) if (k === 'status' || k === 'label' || k === 'host') back.append(k, v);
    back.set('notice', key);
    res.writeHead(303, { Location: `/?${back.toString()}` });
    res.end();
  }

  async function serveAsset(res: ServerResponse, name: string): Promise<void> {
    if (name === 'dashboard.css') return send(res, 200, 'text/css; charset=utf-8', STYLESHEET);
    if (!SCRIPTS.has(name)) return send(res, 404, 'text/plain; charset=utf-8', `no asset ${name}`);
    try {
      send(res, 200, 'text/javascript; charset=utf-8', await readFile(new URL(name, ASSETS), 'utf8'));
    } catch (err) {
      send(res, 500, 'text/plain; charset=utf-8', `the browser module ${name} is missing next to the server (${(err as Error).message}); build with npm run build`);
    }
  }

  function sendPage(res: ServerResponse, status: number, frame: Parameters<typeof page>[0]): void {
    // Sign out is for a browser session; a Bearer script has nothing to sign out of.
    send(res, status, 'text/html; charset=utf-8', page({ ...frame, signOut: ready.guard?.authenticate(res.req) === 'cookie' }));
  }

  /**
   * A page with a live part, or with `?fragment=1` its body alone, without the frame: the page's
   * module fetches that on each change it follows and takes its live part (#drain-view,
   * #audit-view) from it, so the renderer of the first paint draws every update.
   */
  function sendPageOrFragment(res: ServerResponse, url: URL, status: number, frame: Parameters<typeof page>[0]): void {
    if (url.searchParams.get('fragment') === '1') return send(res, status, 'text/html; charset=utf-8', frame.body);
    sendPage(res, status, frame);
  }

  function sendError(req: IncomingMessage, res: ServerResponse, r: Refusal, extra?: string, headers: Record<string, string> = {}): void {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (wantsJson(req)) return send(res, r.status, 'application/json', JSON.stringify({ ok: false, error: r.message }));
    sendPage(res, r.status, { title: 'Refused', view: 'error', settings, live: false, body: `${notice(r.message, 'error')}${extra ?? ''}<p><a href="/">Back to the fleet</a></p>` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  ready.guard = new Guard(token, allowedHosts(host, port, allowed, interfaceAddresses()));
  ready.origin = `http://${urlHost(host, port, allowed)}`;
  return {
    port,
    token,
    url: `${ready.origin}/login?token=${encodeURIComponent(token)}`,
    async close() {
      for (const s of streams) s.end();
      await feed.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The machine's own addresses, for a wildcard bind's Host allowlist. */
function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => i.scopeid === undefined || i.scopeid === 0).map((i) => i.address.toLowerCase()));
}

/** How to get another one-time link, on the page that refuses a used one. */
const NEW_LINK = '<p>For a new link, ask the dashboard from a signed-in script: <code>curl -X POST -H "Authorization: Bearer $DRAINKIT_DASHBOARD_TOKEN" http://&lt;dashboard&gt;/sign-in-links</code> answers <code>{"url": "…/login?code=…"}</code>, good once within 10 minutes. Restarting <code>drainkit dashboard</code> also prints a fresh URL.</p>';
const SIGN_IN_AGAIN = `<p>To sign in again, open a new one-time link.</p>${NEW_LINK}`;

function signInForm(): string {
  return `<form method="get" action="/login"><input name="token" type="password" placeholder="token" aria-label="token" required> <button type="submit">Sign in</button></form>`;
}

function wantsJson(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('application/json') || (req.headers['content-type'] ?? '').startsWith('application/json');
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** A form or JSON body as fields, or the reason it cannot be read. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return `the request body is over ${MAX_BODY} bytes`;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    let value: unknown;
    try {
      value = JSON.parse(text === '' ? '{}' : text);
    } catch {
      return 'the body is not valid JSON';
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the JSON body must be an object';
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(value)) out.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    return out;
  }
  if (type === '' || type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams(text);
  return `Content-Type ${type} is not accepted; accepted: application/x-www-form-urlencoded, application/json`;
}
