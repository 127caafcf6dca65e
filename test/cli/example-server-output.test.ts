/**
 * What `drainkit example-server` prints: on a terminal (a real pty through `script`), a readable
 * start (URL, routes, what to try, what Ctrl-C does) and a few plain lines on Ctrl-C, which
 * drains and exits 0; through a pipe, the JSON lines scripts rely on, with the drain result
 * printed once. Needs `npm run build` (dist/cli/main.js).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { killAll, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { onPty, type PtyProcess } from './pty.js';

const MAIN = 'dist/cli/main.js';
const started: { child: ServerProcess['child']; closed: ServerProcess['closed'] }[] = [];

function onTerminal(...flags: string[]): PtyProcess {
  const p = onPty([process.execPath, MAIN, 'example-server', '--port', '0', ...flags]);
  started.push({ child: p.child, closed: p.closed.then((code) => ({ code, signal: null })) });
  return p;
}

describe('example-server output', { timeout: 120_000 }, () => {
  before(() => assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`));
  after(() => killAll(started));

  it('on a terminal: URL, routes, what to try; Ctrl-C drains an in-flight request, says so in a few lines, exits 0', async () => {
    // A fixed 60 s window: only Ctrl-C's window skip lets this end promptly.
    const term = onTerminal('--deregister-mode', 'fixed', '--deregister-delay-ms', '60000');
    const [, url] = await term.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+) \(pid \d+\)/, 'the listening line');
    await term.waitFor(/--log-format json/, 'the end of the start-up text');
    const banner = term.output();
    for (const route of ['GET  /work?ms=<n>', 'GET  /readyz', 'GET  /healthz', 'GET  /ws', 'GET  /sse', 'GET  /poll?timeoutMs=<n>', 'POST /publish', 'GET  /metrics']) {
      assert.ok(banner.includes(route), `route ${route} listed in:\n${banner}`);
    }
    assert.ok(banner.includes(`curl '${url}/work?ms=5000'`), banner);
    assert.ok(banner.includes(`curl -i ${url}/readyz`), banner);
    assert.match(banner, /Ctrl-C drains: readiness turns 503, in-flight requests finish, then the process exits 0/);
    assert.doesNotMatch(banner, /\{"/, 'no JSON on a terminal');

    const inflight = fetch(`${url}/work?ms=1500`).then(async (r) => [r.status, await r.text()] as const);
    // The request is in flight once /metrics counts it (the scrape itself is the other one).
    await until(async () => (await (await fetch(`${url}/metrics`)).text()).includes('drainkit_inflight_requests 2'), 'the /work request in flight');
    const before = term.output().length;
    term.type('\x03');
    assert.equal(await term.closed, 0, `exit code after Ctrl-C; the terminal showed:\n${term.output()}`);
    assert.deepEqual(await inflight, [200, 'worked 1500 ms\n']);

    const drain = term.output().slice(before).split('\n').map((l) => l.replace(/^\^C/, '').trim()).filter((l) => l !== '');
    assert.ok(drain.length <= 4, `a few lines on drain, got:\n${drain.join('\n')}`);
    assert.match(drain[0]!, /^draining \(SIGINT\): readiness answers 503 now; 1 request in flight/);
    assert.match(drain.at(-1)!, /^drained in \S+: 1 request completed during the drain; exiting 0$/);
    assert.equal(drain.filter((l) => l.startsWith('drained')).length, 1, 'the outcome printed once');
    // (Whether a drain hint shows up is the core's policy; it would be one plain line.)
    assert.ok(!drain.some((l) => l.includes('{"')), `no JSON on a terminal:\n${drain.join('\n')}`);
  });

  it('on a terminal: a second Ctrl-C forces; one line says what was cut, and the exit code is 70', async () => {
    const term = onTerminal('--deregister-mode', 'fixed', '--deregister-delay-ms', '60000');
    const [, url] = await term.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+) /, 'the listening line');
    const hung = fetch(`${url}/work?ms=600000`).then(
      (r) => r.status,
      () => 'cut',
    );
    await until(async () => (await (await fetch(`${url}/metrics`)).text()).includes('drainkit_inflight_requests 2'), 'the /work request in flight');
    term.type('\x03');
    await term.waitFor(/draining \(SIGINT\)/, 'the drain to start');
    term.type('\x03');
    assert.equal(await term.closed, 70, `exit code after a second Ctrl-C; the terminal showed:\n${term.output()}`);
    assert.equal(await hung, 'cut');
    assert.match(term.output(), /\ndrain forced \(signal\) after \S+: 1 request and 0 persistent connections cut, 1 connection destroyed; exiting 70\n/);
  });

  it('through a pipe: JSON lines, and the drain result once (stdout), not again in the stderr log', async () => {
    const p = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0'] });
    started.push(p);
    assert.deepEqual(await signalAndWait(p, 'SIGTERM'), { code: 0, signal: null });
    assert.deepEqual(p.events.map((e) => e.event), ['listening', 'drain_complete']);
    const logs = p.stderr.map((l) => JSON.parse(l.text) as { event?: string });
    assert.ok(logs.some((l) => l.event === 'drain_start'), 'stderr still logs the drain');
    assert.equal(logs.filter((l) => l.event === 'drain_complete').length, 0, 'the result is not repeated on stderr');
  });

  it('--log-format json on a terminal, --log-format pretty through a pipe', async () => {
    const term = onTerminal('--log-format', 'json', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0');
    await term.waitFor(/\{"event":"listening","host":"127\.0\.0\.1","port":\d+,"pid":\d+\}/, 'the JSON listening line');
    term.type('\x03');
    assert.equal(await term.closed, 0);
    assert.match(term.output(), /\{"event":"drain_complete","pid":\d+,"success":true/);
    assert.doesNotMatch(term.output(), /Routes:/);

    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [MAIN, 'example-server', '--port', '0', '--log-format', 'pretty', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    started.push({ child, closed });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until(() => Promise.resolve(out.includes('--log-format json')), 'the pretty start-up text through a pipe');
    assert.match(out, /^drainkit example server listening on http:\/\/127\.0\.0\.1:\d+/);
    child.kill('SIGTERM');
    assert.deepEqual(await closed, { code: 0, signal: null });
    assert.match(out, /drained in \S+: 0 requests completed during the drain; exiting 0\n$/);
  });

  it('rejects an unknown --log-format', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [MAIN, 'example-server', '--port', '0', '--log-format', 'yaml'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--log-format <format>' argument 'yaml' is invalid\. Allowed choices are pretty, json/);
  });
});

/** Retries `check` every 25 ms until it holds; fails after 10 s naming `what`. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after 10 s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
