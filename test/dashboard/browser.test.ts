/**
 * The dashboard in headless Chromium (Debian's package, driven by playwright-core), against real
 * Postgres (the LISTEN/NOTIFY path) and real example servers: rows appear; a SIGTERM shows
 * draining then stopped without a reload; a drain from the page (refused as the last of its
 * group, then forced) reaches the instance and is audited with its reason; the page reconnects
 * after the dashboard restarts; read-only has no actions. Every wait is on page state (data-*
 * attributes), never on network idle: the event stream keeps the network busy by design.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { listDrainRequests } from '../../src/registry/fleet-view.js';
import { listInstances } from '../../src/registry/index.js';
import { skipUnlessAvailable } from '../helpers/ci.js';
import { killTracked, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { createDatabase, eventually, postgresSkip, type TestDatabase } from '../registry/databases.js';
import { MAIN, mintSignInLink, NOT_BUILT, spawnDashboard, type DashboardProcess } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-token-0123456789';
/** Generous: a bound that catches a hang on a shared machine, not a timing assertion. */
const WAIT_MS = 30_000;

const skip = NOT_BUILT || skipUnlessAvailable(existsSync(CHROMIUM), `Chromium at ${CHROMIUM}`, 'apt-get install -y chromium') || (await postgresSkip());

async function exampleServer(url: string, labels: readonly string[]): Promise<ServerProcess> {
  return spawnServer({
    args: [MAIN, 'example-server', '--port', '0', '--database-url', url, '--heartbeat-ms', '200', '--deregister-mode', 'fixed', '--deregister-delay-ms', '1500',
      '--drain-timeout-ms', '10000', '--linger-ms', '0', '--log-level', 'warn', ...labels.flatMap((l) => ['--label', l])],
  });
}

async function idOf(db: TestDatabase, port: number): Promise<number> {
  const i = await eventually(`instance on port ${port} registered`, async () => (await listInstances(db.store)).find((x) => x.port === port));
  return i.id;
}

function row(id: number, status?: string): string {
  return `tr[data-instance-id="${id}"]${status === undefined ? '' : `[data-status="${status}"]`}`;
}

async function waitRow(page: Page, id: number, status: string): Promise<void> {
  await page.waitForSelector(row(id, status), { timeout: WAIT_MS, state: 'attached' }).catch((err: Error) => {
    throw new Error(`waited ${WAIT_MS} ms for instance ${id} to show ${status}: ${err.message.split('\n')[0]}`);
  });
}

async function waitLive(page: Page, ...states: readonly string[]): Promise<void> {
  const selector = states.map((st) => `#live[data-live="${st}"]`).join(', ');
  await page.waitForSelector(selector, { timeout: WAIT_MS, state: 'attached' }).catch((err: Error) => {
    throw new Error(`waited ${WAIT_MS} ms for the live indicator to read ${states.join(' or ')}: ${err.message.split('\n')[0]}`);
  });
}

describe('dashboard in headless Chromium', { skip, timeout: 300_000 }, () => {
  let db: TestDatabase;
  let dashboard: DashboardProcess;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const servers: ServerProcess[] = [];

  before(async () => {
    db = await createDatabase('postgres');
    dashboard = await spawnDashboard(['--database-url', db.url, '--token', TOKEN]);
    userDataDir = mkdtempSync(join(tmpdir(), 'drainkit-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
    await killTracked();
    await db?.close();
  });

  it('shows a row per running instance, live, and a SIGTERM as draining then stopped without a reload', async () => {
    const a = await exampleServer(db.url, ['app=web']);
    const b = await exampleServer(db.url, ['app=web']);
    servers.push(a, b);
    const [idA, idB] = [await idOf(db, a.port), await idOf(db, b.port)];
    await page.goto(dashboard.url); // the one-time URL: signs in, lands on the fleet
    assert.equal(new URL(page.url()).pathname, '/');
    await waitRow(page, idA, 'active');
    await waitRow(page, idB, 'active');
    await waitLive(page, 'live');
    // A mark on this document: if the page reloaded, it would be gone.
    await page.evaluate("document.body.setAttribute('data-test-mark', 'kept')");
    a.child.kill('SIGTERM');
    await waitRow(page, idA, 'draining');
    await waitRow(page, idA, 'stopped');
    assert.equal(await page.getAttribute('body', 'data-test-mark'), 'kept', 'the page was not reloaded');
    assert.equal((await a.closed).code, 0);
    mkdirSync('.tmp', { recursive: true });
    await page.screenshot({ path: '.tmp/dashboard-fleet.png', fullPage: true });
  });

  it('drains from the page: refused as the last active of its group, then forced, reaching the instance and audited with its reason', async () => {
    const b = servers[1]!;
    const idB = await idOf(db, b.port);
    const reason = `browser test ${Date.now()}: rotate certificates`;
    await page.fill(`${row(idB)} input[name="reason"]`, reason);
    await page.click(`${row(idB)} button[type="submit"]`);
    await page.waitForSelector('.notice.error', { timeout: WAIT_MS });
    assert.match(await page.textContent('.notice.error') ?? '', /would leave no available instance in app=web/);
    await waitRow(page, idB, 'active');
    assert.equal((await listDrainRequests(db.store, { instanceId: idB })).length, 0, 'the refused drain recorded nothing');

    await page.fill(`${row(idB)} input[name="reason"]`, reason);
    await page.fill(`${row(idB)} input[name="by"]`, 'carol');
    await page.check(`${row(idB)} input[name="force"]`);
    await page.click(`${row(idB)} button[type="submit"]`);
    await page.waitForSelector('.notice:not(.error)', { timeout: WAIT_MS });
    // Who asked is remembered by the page for the next drain form.
    assert.equal(await page.evaluate('localStorage.getItem("drainkit.dashboard.by")'), 'carol');
    await waitRow(page, idB, 'stopped');
    assert.equal((await b.closed).code, 0, 'the instance drained and exited');
    const [request] = await listDrainRequests(db.store, { instanceId: idB });
    assert.equal(request?.reason, reason);
    assert.match(request?.requestedBy ?? '', /^carol via drainkit dashboard/);
    assert.equal(request?.outcome, 'draining');

    await page.goto(new URL(`/audit?instance=${idB}`, dashboard.origin).href);
    const audit = await page.textContent('#audit') ?? '';
    assert.ok(audit.includes(reason), `the audit view shows the reason: ${audit.slice(0, 500)}`);
    assert.match(audit, /drain_requested/);
    await page.goto(new URL(`/instances/${idB}`, dashboard.origin).href);
    assert.match(await page.textContent('#drain-summary') ?? '', /of .* (in the deregistration window|waiting|closing|in shutdown hooks)/);
    assert.ok((await page.textContent('#drain') ?? '').includes(reason));
    await page.screenshot({ path: '.tmp/dashboard-drain.png', fullPage: true });
  });

  it('the drain view (and an audit tab) follow a drain as it happens: phases, counts, outcome and sentence, without a reload', async () => {
    const s = await exampleServer(db.url, ['app=drainview']);
    const id = await idOf(db, s.port);
    await page.goto(new URL(`/instances/${id}`, dashboard.origin).href);
    await page.waitForSelector('#no-drain', { timeout: WAIT_MS, state: 'attached' });
    await waitLive(page, 'live');
    await page.evaluate("document.body.setAttribute('data-test-mark', 'kept')");
    // A second tab on the instance's audit: it follows the same feed and gets the drain's events.
    const audit = await context.newPage();
    await audit.goto(new URL(`/audit?instance=${id}`, dashboard.origin).href);
    await audit.waitForSelector('#audit-view[data-follow="events"] #audit tr[data-kind="registered"]', { timeout: WAIT_MS, state: 'attached' });
    await waitLive(audit, 'live');
    await audit.evaluate("document.body.setAttribute('data-test-mark', 'kept')");
    // A request in flight through the window, so the drain waits for it in its own phase.
    const slow = fetch(`http://127.0.0.1:${s.port}/work?ms=5000`).then((r) => r.text());
    await eventually('the request counted in flight', async () => ((await listInstances(db.store)).find((x) => x.id === id)?.inflightCount === 1 ? true : undefined));
    s.child.kill('SIGTERM');
    const until = async (selector: string, what: string): Promise<void> => {
      await page.waitForSelector(selector, { timeout: WAIT_MS, state: 'attached' }).catch((err: Error) => {
        throw new Error(`waited ${WAIT_MS} ms for the drain view to show ${what}: ${err.message.split('\n')[0]}`);
      });
    };
    await until('#drain[data-running="true"]', 'the drain running');
    await until('#drain[data-running="true"][data-phases~="waiting"] #drain-now[data-inflight="1"]', 'the waiting phase with its request in flight');
    await until('#drain[data-running="false"][data-outcome="completed"]', 'the outcome');
    assert.equal(await slow, 'worked 5000 ms\n', 'the request in flight was answered');
    const phases = (await page.getAttribute('#drain', 'data-phases')) ?? '';
    assert.match(phases, /^deregistering closing .*waiting/, `the phases in order: ${phases}`);
    assert.match(await page.textContent('#drain-summary') ?? '', /^\d+(\.\d)? s of \d+(\.\d)? s waiting for 1 request to \/work\.$/);
    assert.ok(Number(await page.getAttribute('svg.chart', 'data-points')) >= 2, 'the chart has the counts over the drain');
    assert.equal(await page.locator('svg.timeline rect[data-phase="waiting"]').count(), 1);
    assert.equal(await page.getAttribute('#live', 'data-live'), 'live');
    assert.equal(await page.getAttribute('body', 'data-test-mark'), 'kept', 'the page was not reloaded');
    assert.equal((await s.closed).code, 0);
    await page.screenshot({ path: '.tmp/dashboard-drain-live.png', fullPage: true });
    await audit.waitForSelector('#audit tr[data-kind="drain_complete"]', { timeout: WAIT_MS, state: 'attached' }).catch((err: Error) => {
      throw new Error(`waited ${WAIT_MS} ms for the audit tab to show drain_complete: ${err.message.split('\n')[0]}`);
    });
    assert.equal(await audit.locator('#audit tr[data-kind="waiting"]').count(), 1, 'the audit tab got the waiting phase too');
    assert.equal(await audit.getAttribute('body', 'data-test-mark'), 'kept', 'the audit tab was not reloaded');
    await audit.close();
  });

  it('reconnects after the dashboard restarts, and follows the registry again', async () => {
    await page.goto(new URL('/', dashboard.origin).href);
    await waitLive(page, 'live');
    const port = new URL(dashboard.origin).port;
    await signalAndWait(dashboard);
    await waitLive(page, 'reconnecting', 'stale');
    dashboard = await spawnDashboard(['--database-url', db.url, '--token', TOKEN, '--port', port]);
    await waitLive(page, 'live');
    const c = await exampleServer(db.url, ['app=api']);
    servers.push(c);
    await waitRow(page, await idOf(db, c.port), 'active');
  });

  it('read-only renders no actions', async () => {
    const ro = await spawnDashboard(['--database-url', db.url, '--read-only', '--token', TOKEN]);
    try {
      const p = await context.newPage();
      await p.goto(ro.url);
      const c = servers[2]!;
      await waitRow(p, await idOf(db, c.port), 'active');
      await waitLive(p, 'live');
      assert.equal(await p.locator('form[method="post"]:not(.sign-out)').count(), 0, 'no POST form but Sign out');
      assert.equal(await p.locator('button:has-text("Drain"), button:has-text("Reap")').count(), 0);
      assert.equal(await p.getAttribute('body', 'data-read-only'), 'true');
      await p.close();
    } finally {
      await signalAndWait(ro);
      await signalAndWait(servers[2]!);
    }
  });

  it('signs out from the header, and signs in again through a minted one-time link', async () => {
    await page.goto(new URL('/', dashboard.origin).href);
    await waitLive(page, 'live');
    await page.click('form.sign-out button[type="submit"]');
    await page.waitForURL((u) => u.pathname === '/signed-out', { timeout: WAIT_MS });
    assert.equal(await page.locator('form.sign-out').count(), 0);
    assert.equal((await page.goto(new URL('/', dashboard.origin).href))?.status(), 401, 'the cookie is gone');
    await page.goto(await mintSignInLink(dashboard));
    assert.equal(new URL(page.url()).pathname, '/');
    await waitLive(page, 'live');
    assert.equal(await page.locator('form.sign-out').count(), 1);
  });
});
