/**
 * Every access rule of the dashboard over plain HTTP, against a real `drainkit dashboard`
 * process: a wrong Host (DNS rebinding), no session, a wrong token, a cross-site POST, a POST
 * without Sec-Fetch-Site or Origin, a GET on an action, read-only mode, a non-loopback bind
 * without a token; and the headers that keep the page out of frames and inline scripts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { killTracked, signalAndWait } from '../helpers/processes.js';
import { MAIN, NOT_BUILT, mintSignInLink, request, signIn, spawnDashboard, type DashboardProcess, type Reply } from './harness.js';
import { SignInCodes } from '../../src/dashboard/security.js';

describe('dashboard security over plain HTTP', { skip: NOT_BUILT, timeout: 120_000 }, () => {
  let d: DashboardProcess;
  let cookie: string;
  /** The answer to the one use of the printed URL this process allows. */
  let firstSignIn: Reply;

  before(async () => {
    d = await spawnDashboard(['--data-dir', 'memory://']);
    firstSignIn = await request(d.origin, pathOf(d.url));
    cookie = cookieOf(firstSignIn);
  });
  after(async () => {
    if (d !== undefined) await signalAndWait(d);
    await killTracked();
  });

  it('prints one listening line with port, pid and a URL carrying a token', () => {
    const line = d.events[0];
    assert.equal(line?.event, 'listening');
    assert.equal(line?.pid, d.child.pid);
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/login\?token=[\w-]{20,}$/);
  });

  it('exchanges the token for an HttpOnly, SameSite=Strict cookie that expires in 12 h, and leaves the token out of the address', async () => {
    const r = firstSignIn;
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/');
    const set = [r.headers['set-cookie'] ?? []].flat()[0] ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Max-Age=43200(;|$)/);
    assert.ok(!set.includes(d.token), 'the cookie is not the token itself');
    const page = await request(d.origin, '/', { headers: { Cookie: cookie } });
    assert.equal(page.status, 200);
    assert.match(page.body, /<table id="fleet">/);
  });

  it('refuses a page without a session, with a wrong token, and with a wrong Bearer', async () => {
    assert.equal((await request(d.origin, '/')).status, 401);
    assert.equal((await request(d.origin, '/events')).status, 401);
    assert.equal((await request(d.origin, '/login?token=wrong-token-wrong-token')).status, 401);
    assert.equal((await request(d.origin, '/login')).status, 401);
    assert.equal((await request(d.origin, '/api/fleet', { headers: { Authorization: 'Bearer nope-nope-nope-nope' } })).status, 401);
    assert.equal((await request(d.origin, '/api/fleet', { headers: { Authorization: `Bearer ${d.token}` } })).status, 200);
  });

  it('signs in through the printed URL once: a second use is refused with 403 and says how to get a new link, while Bearer keeps working', async () => {
    const again = await request(d.origin, pathOf(d.url));
    assert.equal(again.status, 403);
    assert.equal(again.headers['set-cookie'], undefined, 'no session for a used link');
    assert.match(again.body, /already used/);
    assert.match(again.body, /\/sign-in-links/, 'the refusal says how to mint a new link');
    assert.equal((await request(d.origin, pathOf(d.url))).status, 403, 'and stays refused');
    assert.equal((await request(d.origin, '/api/fleet', { headers: { Authorization: `Bearer ${d.token}` } })).status, 200);
    assert.equal((await request(d.origin, '/', { headers: { Cookie: cookie } })).status, 200, 'the session it gave stays signed in');
  });

  it('mints one-time links with Bearer or a same-origin cookie session: each signs in once, then is refused', async () => {
    const link = await mintSignInLink(d);
    assert.match(link, new RegExp(`^${d.origin.replace(/\./g, '\\.')}/login\\?code=[\\w-]{22,}$`));
    assert.notEqual(await mintSignInLink(d), link, 'every link is new');
    const other = await signIn(d, link);
    assert.equal((await request(d.origin, '/', { headers: { Cookie: other } })).status, 200);
    const reused = await request(d.origin, pathOf(link));
    assert.equal(reused.status, 403);
    assert.match(reused.body, /already used, has expired/);
    assert.equal((await request(d.origin, '/login?code=made-up-code-made-up-code')).status, 403);

    const byCookie = await request(d.origin, '/sign-in-links', { method: 'POST', headers: { Cookie: cookie, 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(byCookie.status, 200, byCookie.body);
    assert.equal((await request(d.origin, pathOf((JSON.parse(byCookie.body) as { url: string }).url))).status, 303);
    assert.equal((await request(d.origin, '/sign-in-links', { method: 'POST', headers: { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site' } })).status, 403, 'another site cannot mint a link');
    assert.equal((await request(d.origin, '/sign-in-links', { method: 'POST', headers: { Cookie: cookie } })).status, 403, 'a cookie POST needs Sec-Fetch-Site or Origin');
    assert.equal((await request(d.origin, '/sign-in-links', { method: 'POST' })).status, 401);
    assert.equal((await request(d.origin, '/sign-in-links', { headers: { Authorization: `Bearer ${d.token}` } })).status, 405);
  });

  it('refuses a forged, expired or future cookie with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stamped = (issuedAt: number, key = d.token) => `drainkit_session=${issuedAt}.${createHmac('sha256', key).update(`drainkit dashboard session ${issuedAt}`).digest('base64url')}`;
    const status = async (c: string) => (await request(d.origin, '/api/fleet', { headers: { Cookie: c } })).status;
    assert.equal(await status(stamped(now - 60)), 200, 'the test computes the cookie as the server does');
    assert.equal(await status(stamped(now - 12 * 3600 + 120)), 200, 'within 12 hours');
    assert.equal(await status(stamped(now - 12 * 3600 - 120)), 401, 'older than 12 hours');
    assert.equal(await status(stamped(now + 3600)), 401, 'issued an hour in the future');
    assert.equal(await status(stamped(now, 'another-token-another-token')), 401, 'signed with another key');
    const value = cookie.slice(cookie.indexOf('=') + 1);
    const [issuedAt = '', mac = ''] = value.split('.');
    assert.equal(await status(`drainkit_session=${Number(issuedAt) - 1}.${mac}`), 401, 'a moved timestamp breaks the HMAC');
    assert.equal(await status(`drainkit_session=${issuedAt}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`), 401, 'a changed HMAC');
    const unstamped = createHmac('sha256', d.token).update('drainkit dashboard session').digest('base64url');
    assert.equal(await status(`drainkit_session=${unstamped}`), 401, 'the old, never-expiring form');
  });

  it('signs out: POST /logout clears the cookie and lands on a signed-out page; the page header has the button', async () => {
    const c = await signIn(d, await mintSignInLink(d));
    const fleet = await request(d.origin, '/', { headers: { Cookie: c } });
    assert.match(fleet.body, /<header>.*<form class="sign-out" method="post" action="\/logout"><button type="submit">Sign out<\/button><\/form><\/header>/);
    const bearerPage = await request(d.origin, '/', { headers: { Authorization: `Bearer ${d.token}` } });
    assert.doesNotMatch(bearerPage.body, /Sign out/, 'a script has no session to sign out of');
    assert.equal((await request(d.origin, '/logout', { method: 'POST', headers: { Cookie: c, 'Sec-Fetch-Site': 'cross-site' } })).status, 403, 'another site cannot sign the browser out');
    assert.equal((await request(d.origin, '/logout', { headers: { Cookie: c } })).status, 405);
    const out = await request(d.origin, '/logout', { method: 'POST', headers: { Cookie: c, 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.equal(out.headers.location, '/signed-out');
    const set = [out.headers['set-cookie'] ?? []].flat()[0] ?? '';
    assert.match(set, /^drainkit_session=;/);
    assert.match(set, /Max-Age=0(;|$)/);
    const signedOut = await request(d.origin, '/signed-out');
    assert.equal(signedOut.status, 200);
    assert.match(signedOut.body, /Signed out/);
    assert.doesNotMatch(signedOut.body, /Sign out<\/button>/);
  });

  it('refuses a wrong Host (DNS rebinding), even with a valid session', async () => {
    const r = await request(d.origin, '/', { headers: { Host: `attacker.example:${new URL(d.origin).port}`, Cookie: cookie } });
    assert.equal(r.status, 421);
    assert.match(r.body, /not served here/);
    assert.equal((await request(d.origin, '/', { headers: { Host: `localhost:${new URL(d.origin).port}`, Cookie: cookie } })).status, 200);
  });

  it('refuses a cross-site POST, a POST without the session, and a cookie POST with neither Sec-Fetch-Site nor Origin', async () => {
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const crossSite = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie, 'Sec-Fetch-Site': 'cross-site' }, body: '' });
    assert.equal(crossSite.status, 403);
    assert.match(crossSite.body, /cross-site request refused/);
    const sameSite = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie, 'Sec-Fetch-Site': 'same-site' }, body: '' });
    assert.equal(sameSite.status, 403, 'another port or subdomain of the same site is not this dashboard');
    const foreignOrigin = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie, Origin: 'http://attacker.example' }, body: '' });
    assert.equal(foreignOrigin.status, 403);
    const bare = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie }, body: '' });
    assert.equal(bare.status, 403);
    const noSession = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, 'Sec-Fetch-Site': 'same-origin' }, body: '' });
    assert.equal(noSession.status, 401);
    // And the same POST from the dashboard's own page, or from a script with the token, passes.
    const own = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie, 'Sec-Fetch-Site': 'same-origin' }, body: '' });
    assert.equal(own.status, 303);
    const ownOrigin = await request(d.origin, '/actions/reap', { method: 'POST', headers: { ...form, Cookie: cookie, Origin: d.origin }, body: '' });
    assert.equal(ownOrigin.status, 303);
    const script = await request(d.origin, '/actions/reap', { method: 'POST', headers: { Authorization: `Bearer ${d.token}`, Accept: 'application/json' } });
    assert.equal(script.status, 200);
    assert.deepEqual(JSON.parse(script.body).reaped, []);
  });

  it('serves a favicon without a session, and an action\'s answer keeps the page\'s filters', async () => {
    const icon = await request(d.origin, '/favicon.ico');
    assert.equal(icon.status, 200);
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    const form = { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie, 'Sec-Fetch-Site': 'same-origin' };
    const r = await request(d.origin, '/actions/reap', { method: 'POST', headers: form, body: `back=${encodeURIComponent('status=active&label=app=web&evil=1')}` });
    assert.equal(r.status, 303);
    assert.match(String(r.headers.location), /^\/\?status=active&label=app%3Dweb&notice=\d+$/, 'the filters come back, nothing else');
    const page = await request(d.origin, String(r.headers.location), { headers: { Cookie: cookie } });
    assert.match(page.body, /<p class="notice" role="status">no instance missed its heartbeat/);
    assert.match(page.body, /<option value="active" selected>/);
  });

  it('takes actions by POST only', async () => {
    const r = await request(d.origin, '/actions/reap', { headers: { Cookie: cookie } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
  });

  it('sends a strict CSP with no inline script, denies frames, and its page has no inline script', async () => {
    const r = await request(d.origin, '/', { headers: { Cookie: cookie } });
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.doesNotMatch(r.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src');
    assert.doesNotMatch(r.body, / on[a-z]+="/, 'no inline event handlers');
  });
});

describe('one-time sign-in codes', () => {
  it('expire after 10 minutes, are used once, and at most 100 are kept (the oldest dropped)', () => {
    let now = 1_000_000;
    const codes = new SignInCodes(() => now);
    const a = codes.mint();
    const b = codes.mint();
    now += 10 * 60 * 1000 - 1;
    assert.equal(codes.redeem(a), true, 'still good just under 10 minutes');
    assert.equal(codes.redeem(a), false, 'used once');
    now += 1;
    assert.equal(codes.redeem(b), false, 'expired at 10 minutes');
    const first = codes.mint();
    for (let i = 0; i < 100; i += 1) codes.mint();
    assert.equal(codes.outstanding, 100);
    assert.equal(codes.redeem(first), false, 'the oldest was dropped');
  });
});

// A hang guard for the whole suite: it starts three embedded-registry dashboards one after the
// other, and under two CPU burners on a loaded 2-core machine each took 35-45 s to listen
// (120 s was hit there).
describe('dashboard security: binding and read-only', { skip: NOT_BUILT, timeout: 300_000 }, () => {
  after(() => killTracked());

  it('refuses to bind a non-loopback address without a token (usage error, exit 2)', () => {
    const env = { ...process.env };
    delete env.DRAINKIT_DASHBOARD_TOKEN;
    const r = spawnSync(process.execPath, [MAIN, 'dashboard', '--data-dir', 'memory://', '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', timeout: 30_000, env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /refusing to serve on 0\.0\.0\.0 without a token/);
    assert.equal(r.stdout, '', 'nothing listened');
  });

  it('refuses a wildcard bind without an allowed host, naming the flag (usage error, exit 2)', () => {
    const env = { ...process.env };
    delete env.DRAINKIT_DASHBOARD_ALLOWED_HOSTS;
    const r = spawnSync(process.execPath, [MAIN, 'dashboard', '--data-dir', 'memory://', '--host', '0.0.0.0', '--port', '0', '--token', 'a-token-of-enough-length'], { encoding: 'utf8', timeout: 30_000, env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /needs --allowed-host <name\[:port\]>/);
    assert.equal(r.stdout, '', 'nothing listened');
    const bad = spawnSync(process.execPath, [MAIN, 'dashboard', '--data-dir', 'memory://', '--host', '0.0.0.0', '--allowed-host', 'not a host', '--token', 'a-token-of-enough-length'], { encoding: 'utf8', timeout: 30_000, env });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--allowed-host[\s\S]*"not a host" is not a host; accepted: a host name or address/);
  });

  it('binds a wildcard address with a token and allowed hosts: prints the first, accepts them, the loopback and interface addresses, and nothing else', async () => {
    const d = await spawnDashboard(['--data-dir', 'memory://', '--host', '0.0.0.0', '--token', 'a-token-of-enough-length', '--allowed-host', 'dash.test', '--allowed-host', 'proxy.test:8443']);
    try {
      const port = new URL(d.origin).port;
      assert.match(d.url, new RegExp(`^http://dash\\.test:${port}/login\\?token=`), 'the printed URL names the first allowed host, not 0.0.0.0');
      const bearer = { Authorization: 'Bearer a-token-of-enough-length' };
      const status = async (host: string) => (await request(`http://127.0.0.1:${port}`, '/api/fleet', { headers: { Host: host, ...bearer } })).status;
      assert.equal(await status(`127.0.0.1:${port}`), 200, 'loopback still reaches a wildcard bind');
      assert.equal(await status(`localhost:${port}`), 200);
      assert.equal(await status(`dash.test:${port}`), 200, 'an allowed host with the port');
      assert.equal(await status('dash.test'), 200, 'an allowed host without a port (through a proxy on 80/443)');
      assert.equal(await status('proxy.test:8443'), 200, 'an allowed host with its own port');
      assert.equal(await status(`proxy.test:${port}`), 421, 'an allowed host given with a port is accepted with that port only');
      assert.equal(await status(`attacker.example:${port}`), 421, 'any other name is refused');
      assert.equal(await status(`0.0.0.0:${port}`), 421, 'the wildcard is no name to reach it by');
      const lan = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
      if (lan !== undefined) assert.equal(await status(`${lan.address}:${port}`), 200, `the interface address ${lan.address} typed in the address bar`);
    } finally {
      await signalAndWait(d);
    }
  });

  it('takes allowed hosts from DRAINKIT_DASHBOARD_ALLOWED_HOSTS, comma-separated', async () => {
    const d = await spawnDashboard(['--data-dir', 'memory://', '--host', '0.0.0.0', '--token', 'a-token-of-enough-length'], { DRAINKIT_DASHBOARD_ALLOWED_HOSTS: 'one.test, two.test' });
    try {
      const port = new URL(d.origin).port;
      assert.match(d.url, /^http:\/\/one\.test:/);
      const r = await request(`http://127.0.0.1:${port}`, '/api/fleet', { headers: { Host: `two.test:${port}`, Authorization: 'Bearer a-token-of-enough-length' } });
      assert.equal(r.status, 200);
    } finally {
      await signalAndWait(d);
    }
  });

  it('read-only renders no actions and refuses them, even with the token', async () => {
    const d = await spawnDashboard(['--data-dir', 'memory://', '--read-only']);
    try {
      const cookie = await signIn(d);
      const page = await request(d.origin, '/', { headers: { Cookie: cookie } });
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.body, /<form(?![^>]*action="\/logout")[^>]*method="post"/, 'no POST form but Sign out');
      assert.match(page.body, /<form class="sign-out" method="post" action="\/logout">/, 'a read-only viewer can still sign out');
      const r = await request(d.origin, '/actions/reap', { method: 'POST', headers: { Authorization: `Bearer ${d.token}`, Accept: 'application/json' } });
      assert.equal(r.status, 403);
      assert.match(r.body, /read-only/);
    } finally {
      await signalAndWait(d);
    }
  });
});

function pathOf(link: string): string {
  const u = new URL(link);
  return u.pathname + u.search;
}

function cookieOf(r: Reply): string {
  const set = [r.headers['set-cookie'] ?? []].flat()[0];
  if (r.status !== 303 || set === undefined) throw new Error(`sign-in answered ${r.status} without a cookie: ${r.body.slice(0, 200)}`);
  return set.split(';')[0] ?? '';
}
