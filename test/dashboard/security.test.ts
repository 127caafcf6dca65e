/**
 * Every access rule of the dashboard over plain HTTP, against a real `drainkit dashboard`
 * process: a wrong Host (DNS rebinding), no session, a wrong token, a cross-site POST, a POST
 * without Sec-Fetch-Site or Origin, a GET on an action, read-only mode, a non-loopback bind
 * without a token; and the headers that keep the page out of frames and inline scripts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { killTracked, signalAndWait } from '../helpers/processes.js';
import { MAIN, NOT_BUILT, request, signIn, spawnDashboard, type DashboardProcess } from './harness.js';

describe('dashboard security over plain HTTP', { skip: NOT_BUILT, timeout: 120_000 }, () => {
  let d: DashboardProcess;
  let cookie: string;

  before(async () => {
    d = await spawnDashboard(['--data-dir', 'memory://']);
    cookie = await signIn(d);
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

  it('exchanges the token for an HttpOnly, SameSite=Strict cookie and leaves the token out of the address', async () => {
    const r = await request(d.origin, `/login?token=${encodeURIComponent(d.token)}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/');
    const set = [r.headers['set-cookie'] ?? []].flat()[0] ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
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

describe('dashboard security: binding and read-only', { skip: NOT_BUILT, timeout: 120_000 }, () => {
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
      assert.doesNotMatch(page.body, /<form[^>]*method="post"/);
      const r = await request(d.origin, '/actions/reap', { method: 'POST', headers: { Authorization: `Bearer ${d.token}`, Accept: 'application/json' } });
      assert.equal(r.status, 403);
      assert.match(r.body, /read-only/);
    } finally {
      await signalAndWait(d);
    }
  });
});
