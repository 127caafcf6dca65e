/**
 * The dashboard's access rules. It can drain production servers, so it is treated as an admin
 * interface from the start: a token, printed as a URL that signs one browser in once, exchanged
 * for an HttpOnly, SameSite=Strict cookie that expires; one-time links minted for more browsers;
 * the token sent as `Authorization: Bearer` by scripts; a Host allowlist, so a
 * DNS-rebinding page cannot reach a loopback dashboard under its own name; every POST checked
 * for a same-origin browser request; a strict CSP; no framing.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export const SESSION_COOKIE = 'drainkit_session';

/** Loopback addresses and the name that always means them. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

export function randomToken(): string {
  return randomBytes(24).toString('base64url');
}

/** How long a browser session lasts: a working day and then some, not forever. */
export const SESSION_LIFETIME_S = 12 * 60 * 60;
/** A cookie issued "in the future" by at most this much is a clock step, not a forgery. */
const SESSION_CLOCK_SKEW_S = 60;
/** How long a minted sign-in link works: long enough to paste it into another browser. */
export const SIGN_IN_CODE_LIFETIME_MS = 10 * 60 * 1000;
/** Outstanding sign-in links kept; minting one more drops the oldest (memory stays bounded). */
export const MAX_SIGN_IN_CODES = 100;

/**
 * The cookie's value, `<issuedAtSeconds>.<HMAC(token, issuedAt)>`: derived from the token, so
 * that a dashboard restarted with the same token keeps its tabs signed in and one started with a
 * new token signs every old tab out; stamped, so that a copied cookie stops working after
 * {@link SESSION_LIFETIME_S}. Nothing is kept on the server.
 */
export function sessionFor(token: string, issuedAtSeconds: number): string {
  return `${issuedAtSeconds}.${createHmac('sha256', token).update(`drainkit dashboard session ${issuedAtSeconds}`).digest('base64url')}`;
}

/** Whether `value` is a session this token issued, no older than the lifetime, not from the future. */
export function sessionValid(token: string, value: string, nowSeconds: number): boolean {
  const m = /^(\d{1,12})\.[\w-]{43}$/.exec(value);
  if (m === null) return false;
  const issuedAt = Number(m[1]);
  if (issuedAt > nowSeconds + SESSION_CLOCK_SKEW_S || nowSeconds - issuedAt > SESSION_LIFETIME_S) return false;
  return sameSecret(value, sessionFor(token, issuedAt));
}

/**
 * One-time sign-in codes for `/login?code=…`, minted on request by someone already signed in:
 * random, used once, gone after {@link SIGN_IN_CODE_LIFETIME_MS}, at most
 * {@link MAX_SIGN_IN_CODES} outstanding. Kept in memory: a restart forgets them (the cookies they
 * gave stay valid, being derived from the token).
 */
export class SignInCodes {
  /** code → expiry (ms); a Map keeps insertion order, so the first key is the oldest. */
  readonly #expiry = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  mint(): string {
    this.#dropExpired();
    const code = randomBytes(24).toString('base64url');
    this.#expiry.set(code, this.#now() + SIGN_IN_CODE_LIFETIME_MS);
    while (this.#expiry.size > MAX_SIGN_IN_CODES) this.#expiry.delete(this.#expiry.keys().next().value as string);
    return code;
  }

  /** True once for a code minted here and not yet expired; it is spent either way. */
  redeem(candidate: string): boolean {
    this.#dropExpired();
    // The Map lookup is by value, but a code is 192 random bits: guessing one by timing is not a
    // practical attack, unlike the token, which is compared in constant time.
    const expiry = this.#expiry.get(candidate);
    if (expiry === undefined) return false;
    this.#expiry.delete(candidate);
    return true;
  }

  get outstanding(): number {
    this.#dropExpired();
    return this.#expiry.size;
  }

  #dropExpired(): void {
    const now = this.#now();
    for (const [code, expiry] of this.#expiry) if (expiry <= now) this.#expiry.delete(code);
  }
}

/** What the printed URL's token did at `/login`. */
export type TokenSignIn = 'signed-in' | 'already-used' | 'wrong';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** An address that binds every interface: the bound address itself is no name to reach it by. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** One `--allowed-host` value: a name or address, and the port when one was given. */
export interface AllowedHost {
  readonly name: string;
  readonly port: number | undefined;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses `name[:port]` (`[v6]:port` for an IPv6 address), or says what is wrong with it. */
export function parseAllowedHost(text: string): AllowedHost | string {
  const value = text.trim().toLowerCase();
  const accepted = 'accepted: a host name or address with an optional port, such as dash.example.com, dash.example.com:8443, 192.0.2.7 or [2001:db8::7]:8080';
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value);
  if (m === null) return `${JSON.stringify(text)} is not a host; ${accepted}`;
  const [, name = '', portText] = m;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65_535)) return `${JSON.stringify(text)} has port ${portText}; accepted: a port from 1 to 65535`;
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  if (name.startsWith('[') ? isIP(bare) !== 6 : isIP(bare) !== 4 && !HOST_NAME.test(bare)) return `${JSON.stringify(text)} is not a host; ${accepted}`;
  if (isWildcard(name)) return `${JSON.stringify(text)} is the wildcard address, which no browser sends; ${accepted}`;
  return { name, port };
}

/** `name:port` as a Host header and a URL write it. */
function hostPort(name: string, port: number): string {
  return `${name.includes(':') && !name.startsWith('[') ? `[${name}]` : name}:${port}`;
}

/**
 * The Host values accepted, each with the dashboard's port unless an allowed host names its own:
 * - the bound address, unless it is a wildcard (0.0.0.0, ::);
 * - on a loopback or wildcard bind, the loopback names (127.0.0.1, localhost, [::1]);
 * - on a wildcard bind, the machine's interface addresses: an address typed in the address bar
 *   cannot be a DNS-rebinding page (whose browser sends the attacker's name);
 * - every allowed host; one without a port also as a bare name (a reverse proxy on 80 or 443
 *   that keeps the Host header sends no port).
 */
export function allowedHosts(bindHost: string, port: number, allowed: readonly AllowedHost[] = [], interfaceAddresses: readonly string[] = []): Set<string> {
  const out = new Set<string>();
  if (!isWildcard(bindHost)) out.add(hostPort(bindHost, port));
  if (isLoopback(bindHost) || isWildcard(bindHost)) for (const n of ['127.0.0.1', 'localhost', '::1']) out.add(hostPort(n, port));
  if (isWildcard(bindHost)) for (const a of interfaceAddresses) out.add(hostPort(a, port));
  for (const a of allowed) {
    out.add(hostPort(a.name, a.port ?? port));
    if (a.port === undefined) out.add(a.name);
  }
  return out;
}

/** The address to print: the first allowed host, else the bound address. */
export function urlHost(bindHost: string, port: number, allowed: readonly AllowedHost[]): string {
  const first = allowed[0];
  return first === undefined ? hostPort(bindHost, port) : hostPort(first.name, first.port ?? port);
}

export type Refusal = { readonly status: number; readonly message: string };

export class Guard {
  readonly #token: string;
  readonly #hosts: Set<string>;
  readonly #now: () => number;
  /** The printed URL signs one browser in per process; later ones use a minted link. */
  #tokenUrlUsed = false;

  constructor(token: string, hosts: Set<string>, now: () => number = Date.now) {
    this.#token = token;
    this.#hosts = hosts;
    this.#now = now;
  }

  /** Wrong or missing Host: refused before anything else (DNS rebinding). */
  checkHost(req: IncomingMessage): Refusal | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    if (this.#hosts.has(host)) return undefined;
    return { status: 421, message: `Host ${JSON.stringify(req.headers.host ?? '')} is not served here; accepted: ${[...this.#hosts].join(', ')}` };
  }

  tokenMatches(candidate: string): boolean {
    return sameSecret(candidate, this.#token);
  }

  /**
   * `/login?token=…`: the first match signs in; any later one is refused, so a URL left in a
   * shell history, a log or a screen share signs nobody else in. A wrong token uses nothing up.
   */
  signInWithToken(candidate: string): TokenSignIn {
    if (!this.tokenMatches(candidate)) return 'wrong';
    if (this.#tokenUrlUsed) return 'already-used';
    this.#tokenUrlUsed = true;
    return 'signed-in';
  }

  /** How the request is signed in, or undefined when it is not. */
  authenticate(req: IncomingMessage): 'cookie' | 'bearer' | undefined {
    const auth = req.headers.authorization;
    if (auth !== undefined && /^Bearer /i.test(auth) && this.tokenMatches(auth.slice(7).trim())) return 'bearer';
    const cookie = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (cookie !== undefined && sessionValid(this.#token, cookie, Math.floor(this.#now() / 1000))) return 'cookie';
    return undefined;
  }

  /**
   * A POST signed in by cookie must come from one of this dashboard's own pages: the browser
   * says so in `Sec-Fetch-Site`, or (older browsers) in an Origin equal to the Host. Neither
   * header is refused, unlike HAProxy's check: a browser always sends one on a POST, and a
   * script has the Bearer token. A Bearer request cannot be forged cross-site (browsers never
   * add that header on their own), so it passes.
   */
  checkPostOrigin(req: IncomingMessage, by: 'cookie' | 'bearer'): Refusal | undefined {
    if (by === 'bearer') return undefined;
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string') {
      return site === 'same-origin' ? undefined : { status: 403, message: `cross-site request refused (Sec-Fetch-Site: ${site}); actions are taken from this dashboard's own pages or with Authorization: Bearer` };
    }
    const origin = req.headers.origin;
    if (typeof origin === 'string') {
      // https: behind a TLS reverse proxy that keeps the Host header.
      const host = req.headers.host ?? '';
      return origin === `http://${host}` || origin === `https://${host}` ? undefined : { status: 403, message: `cross-site request refused (Origin ${origin} is not http://${host} or https://${host})` };
    }
    return { status: 403, message: 'request refused: a POST signed in by cookie must carry Sec-Fetch-Site or Origin; scripts use Authorization: Bearer <token>' };
  }

  /** A new session, issued now, and dropped by the browser when the server stops accepting it. */
  sessionCookie(): string {
    return `${SESSION_COOKIE}=${sessionFor(this.#token, Math.floor(this.#now() / 1000))}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_LIFETIME_S}`;
  }

  /** Sign-out: the browser forgets the cookie. */
  clearedCookie(): string {
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Sent on every response. Scripts and styles only from this server, nothing inline, no frames. */
export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}
