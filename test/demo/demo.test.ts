/**
 * `drainkit demo` as a user runs it, the built CLI as a child process: a short unattended run
 * (exit 0, nothing failed, reloads and drains with phases read from the registry, the dashboard
 * answering with the demo's instance on it), the negative control (workers that exit without
 * draining: the same load counts failures, exit 1), and Ctrl-C mid-run (report, exit 0). The
 * first runs alone, the other two together; each bounds itself with --duration or a signal.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { killTracked, signalAndWait, track, type ExitStatus } from '../helpers/processes.js';
import { waitFor, withDeadline } from '../helpers/deadline.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface DemoRun {
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  readonly stderr: string[];
  stdout(): string;
}

function demo(args: readonly string[]): DemoRun {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = track(child);
  const stderr: string[] = [];
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  return { child, closed, stderr, stdout: () => out };
}

/** Exit status and the JSON report of a `--json` run. */
async function finished(run: DemoRun, ms: number): Promise<{ status: ExitStatus; report: Record<string, unknown> & Report }> {
  const status = await withDeadline(run.closed, ms, 'the demo to end');
  let report: Report;
  try {
    report = JSON.parse(run.stdout()) as Report;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${run.stdout()}\nstderr:\n${run.stderr.join('\n')}`);
  }
  return { status, report: report as Record<string, unknown> & Report };
}

interface Report {
  ok: boolean;
  failed: number;
  dashboardUrl: string;
  http: { sent: number; failed: number; failures: Record<string, number>; latencyMs: { p50: number; p99: number } };
  persistent: { websocket: { closedProperly: number; failed: number }; sse: { closedProperly: number; failed: number } };
  history: { reloads: { ok: boolean }[]; drains: { during: number | 'stop'; success: boolean; outcome: string; phases: { phase: string; durationMs: number }[] }[] };
}

const dashboardLine = (run: DemoRun): string | undefined => run.stderr.find((l) => l.startsWith('drainkit demo: dashboard: '))?.slice('drainkit demo: dashboard: '.length);

describe('drainkit demo', { timeout: 300_000 }, () => {
  after(() => killTracked());

  it('runs unattended with zero failures; the negative control counts failures; Ctrl-C reports', async () => {
    // Alone first: the main claim should not share the two cores with the other two runs.
    const good = demo(['--duration', '8', '--reload-every', '2', '--json']);

    // The dashboard answers while the demo runs, and shows the demo's cluster.
    await waitFor('the dashboard URL on stderr', () => dashboardLine(good) !== undefined, 90_000, 50);
    const url = new URL(dashboardLine(good)!);
    const token = url.searchParams.get('token')!;
    const page = await fetch(new URL('/', url), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /data-instance-id="\d+"/, 'the demo cluster is a row of the dashboard');
    assert.match(html, /<tr class="worker" data-worker-of="\d+" data-worker-pid="\d+" data-status="(starting|ready)"/, 'its workers are sub-rows of it');

    // A reload drains the workers one by one while the cluster's own row stays active: the page
    // shows a worker row going draining, with its phase.
    const deadline = Date.now() + 60_000;
    let draining: RegExpExecArray | null = null;
    while (draining === null) {
      if (Date.now() > deadline || good.child.exitCode !== null) {
        throw new Error(`no worker row with data-status="draining" on the fleet page within 60 s of polling while the demo ran\n${good.stderr.join('\n')}`);
      }
      const r = await fetch(new URL('/', url), { headers: { authorization: `Bearer ${token}` } });
      draining = /<tr class="worker" data-worker-of="\d+" data-worker-pid="(\d+)" data-status="draining" data-phase="([^"]*)"/.exec(await r.text());
      if (draining === null) await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const g = await finished(good, 90_000);
    const detail = JSON.stringify(g.report, null, 1).slice(0, 4_000);
    assert.equal(g.status.code, 0, detail);
    assert.equal(g.report.ok, true);
    assert.equal(g.report.failed, 0, detail);
    assert.ok(g.report.http.sent >= 200, `sent ${g.report.http.sent}: 8 s at 50 req/s`);
    // How many reloads fit in 8 s depends on the machine (a loaded one starts workers slowly);
    // at least one completes, and every completed one replaced all three workers.
    const okReloads = g.report.history.reloads.filter((r) => r.ok).length;
    assert.ok(okReloads >= 1, detail);
    const reloadDrains = g.report.history.drains.filter((d) => d.during !== 'stop');
    assert.ok(reloadDrains.length >= 3 * okReloads, `three workers replaced per reload: ${reloadDrains.length} drains for ${okReloads} reloads`);
    for (const d of g.report.history.drains) {
      assert.equal(d.success, true);
      assert.equal(d.outcome, 'completed');
      assert.deepEqual(d.phases.map((p) => p.phase), ['deregistering', 'closing', 'persistent', 'waiting', 'cleanup']);
    }
    assert.ok(g.report.persistent.websocket.closedProperly >= 4 && g.report.persistent.sse.closedProperly >= 4, 'drains closed WebSocket and SSE clients properly, and they came back');
    assert.equal(g.report.dashboardUrl, url.href);

    // Then the two others together, one worker each.
    const broken = demo(['--duration', '4', '--reload-every', '2', '--workers', '1', '--json', '--exit-without-draining']);
    const interrupted = demo(['--reload-every', '2', '--workers', '1']);

    // Ctrl-C once a reload went by: the report, exit 0.
    await waitFor('a reload line from the interrupted demo', () => interrupted.stderr.some((l) => /reload 1: /.test(l)), 90_000, 50);
    const sigint = await signalAndWait(interrupted, 'SIGINT', 60_000);
    const text = interrupted.stdout();
    assert.equal(sigint.code, 0, `${text}\n${interrupted.stderr.join('\n')}`);
    assert.match(text, /ended by a signal/);
    assert.match(text, /requests +\d+ sent/);
    assert.match(text, /reload 1 at /);
    assert.match(text, /Result: 0 failed requests or connections, every drain completed\./);

    // The same load and accounting against workers that exit without draining: failures, exit 1.
    const b = await finished(broken, 90_000);
    assert.equal(b.status.code, 1, JSON.stringify(b.report).slice(0, 2_000));
    assert.equal(b.report.ok, false);
    assert.ok(b.report.failed > 0);
    assert.ok(b.report.persistent.websocket.failed > 0, 'WebSocket clients saw closes other than 1000/1001');
    assert.ok(b.report.history.drains.some((d) => !d.success), 'the registry shows drains that did not complete');
  });

  it('bad flags: usage error naming the flag, exit 2', async () => {
    for (const [args, flag] of [
      [['--rate', 'fast'], '--rate'],
      [['--workers', '0'], '--workers'],
      [['--duration', '-1'], '--duration'],
      [['--reload-every', '1.5'], '--reload-every'],
      [['--bogus'], '--bogus'],
    ] as const) {
      const run = demo(args);
      const status = await withDeadline(run.closed, 20_000, 'a usage error');
      assert.equal(status.code, 2, `${args.join(' ')}: ${run.stderr.join('\n')}`);
      assert.ok(run.stderr.join('\n').includes(flag), `${flag} named in: ${run.stderr.join('\n')}`);
      assert.equal(run.stdout(), '');
    }
  });

  it('a port in use: exit 1 naming it, before any worker starts', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = String((holder.address() as { port: number }).port);
    try {
      for (const flag of ['--port', '--dashboard-port']) {
        const run = demo([flag, port, '--duration', '1']);
        const status = await withDeadline(run.closed, 30_000, 'the demo to refuse the port');
        assert.equal(status.code, 1, run.stderr.join('\n'));
        assert.match(run.stderr.join('\n'), new RegExp(`port ${port} for the (cluster|dashboard) cannot be used on 127\\.0\\.0\\.1 \\(in use\\)`));
        assert.doesNotMatch(run.stderr.join('\n'), /EADDRINUSE|crash loop/);
      }
    } finally {
      holder.close();
    }
  });

  it('packages it needs are missing: names all of them in one npm install line, exit 4, nothing started', () => {
    // A copy of the package with only commander (then also ws) resolvable, as in an app that
    // installed drainkit alone.
    const dir = mkdtempSync(join(tmpdir(), 'drainkit-demo-no-peers-'));
    try {
      cpSync('dist', join(dir, 'dist'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), readFileSync('package.json'));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(resolve('node_modules/commander'), join(dir, 'node_modules/commander'), 'dir');
      const run = () => spawnSync(process.execPath, [join(dir, 'dist/cli/main.js'), 'demo', '--duration', '1'], { encoding: 'utf8', timeout: 30_000 });
      let r = run();
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /needs the packages "ws", "pg", "@electric-sql\/pglite", "@electric-sql\/pglite-socket".*npm install ws pg @electric-sql\/pglite @electric-sql\/pglite-socket/);
      assert.doesNotMatch(r.stderr, /dashboard:/, 'nothing started');
      for (const pkg of ['ws', 'pg', '@electric-sql/pglite']) {
        mkdirSync(dirname(join(dir, 'node_modules', pkg)), { recursive: true });
        symlinkSync(resolve('node_modules', pkg), join(dir, 'node_modules', pkg), 'dir');
      }
      r = run();
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /needs the package "@electric-sql\/pglite-socket".*npm install @electric-sql\/pglite-socket$/m);
      assert.equal(r.stdout, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
