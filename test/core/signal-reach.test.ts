/**
 * The start warning about a signal that does not reach the process, with real wrappers: `npx tsx`
 * (npm exec → sh -c → tsx → node) and `npm start` running `tsx app.ts` name npm, not the `sh -c`
 * between; tsx started directly is not warned about, and a SIGTERM sent to tsx alone does drain
 * the app (tsx relays it); a test file run by `node --test` under `sh -c` does not warn. tsx is a
 * devDependency; the wrappers run in a temporary directory whose node_modules is this package's.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve('.');
const APP = join(ROOT, 'test/core/fixtures/signal-reach-app.ts');
const UNDER_TEST = join(ROOT, 'test/core/fixtures/signal-reach-under-test.mjs');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

/** The environment of a process started from a shell: no test runner's, no outer npm's. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'NODE_TEST_CONTEXT'));
  return { ...env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}`, ...extra };
}

interface Run {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly closed: Promise<number | null>;
  line(match: (l: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
}

const running: ChildProcess[] = [];

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Run {
  // detached: its own process group, so that the cleanup can end the whole chain.
  const child = spawn(command, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // npm's own output
      }
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return {
    child,
    lines,
    closed,
    async line(match, what, ms = 30_000) {
      const end = Date.now() + ms;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; lines: ${JSON.stringify(lines)}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

function endGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const wrapperLine = (l: Record<string, unknown>): boolean => l.event === 'signal_wrapper';

describe('which wrapper the signal warning names', { timeout: 180_000, skip: process.platform !== 'linux' ? 'Linux only (/proc)' : false }, () => {
  let dir: string;
  before(() => {
    assert.ok(existsSync(TSX), `${TSX} is missing: npm ci`);
    dir = mkdtempSync(join(tmpdir(), 'drainkit-signal-reach-'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'reach', version: '1.0.0', private: true, scripts: { start: `tsx ${APP}` } }));
  });
  after(() => {
    for (const c of running) endGroup(c);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the chain, waits for the app to listen; returns the warning line, if any, and the run. */
  async function started(command: string, args: readonly string[]): Promise<{ r: Run; warning: Record<string, unknown> | undefined }> {
    const r = run(command, args, dir);
    await r.line((l) => l.listening === true, 'the app to listen');
    return { r, warning: r.lines.find(wrapperLine) };
  }

  it('npx tsx app.ts: names npm exec / npx, not the sh -c between', async () => {
    const { r, warning } = await started('npx', ['tsx', APP]);
    assert.ok(warning, `a warning in ${JSON.stringify(r.lines)}`);
    assert.match(String(warning.wrapper), /^npm exec \/ npx \(pid \d+\)$/);
    assert.match(String(warning.msg), /tsx passes the signal on to node when it is started directly/);
    endGroup(r.child);
  });

  it('npm start running "tsx app.ts": names npm run start', async () => {
    const { r, warning } = await started('npm', ['start', '--silent']);
    assert.ok(warning, `a warning in ${JSON.stringify(r.lines)}`);
    assert.match(String(warning.wrapper), /^npm run start \(pid \d+\)$/);
    endGroup(r.child);
  });

  it('tsx started directly: no warning, and a SIGTERM sent to tsx alone drains the app, which exits 0', async () => {
    const { r, warning } = await started(TSX, [APP]);
    assert.equal(warning, undefined, JSON.stringify(r.lines));
    process.kill(r.child.pid!, 'SIGTERM');
    assert.equal(await bounded(r.closed, 20_000, 'tsx to exit after SIGTERM'), 0);
    assert.ok(r.lines.some((l) => l.event === 'drain_complete' || l.event === 'drained'), `the app drained: ${JSON.stringify(r.lines)}`);
  });

  it('a test file run by node --test under sh -c creates a drainer without the warning', async () => {
    const log = join(dir, 'under-test.log');
    const r = run('sh', ['-c', `"${process.execPath}" --test "$0"; exit $?`, UNDER_TEST], dir, { SIGNAL_REACH_LOG: log });
    r.child.stdout!.resume();
    const code = await bounded(r.closed, 60_000, 'node --test to finish');
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    assert.equal(code, 0, text);
    assert.match(text, /"created":true/);
    assert.doesNotMatch(text, /signal_wrapper/);
  });
});
