/**
 * `drainkit` as a newcomer types it: --version, a typo in a flag, the help text, and a registry
 * command on a machine without the database driver. Runs the built CLI (`npm run build`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAll, signalAndWait, spawnServer } from '../helpers/processes.js';

const MAIN = 'dist/cli/main.js';

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function drainkit(args: readonly string[], main = MAIN) {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000, env });
}

describe('drainkit usage', { timeout: 120_000 }, () => {
  before(() => assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`));

  it('--version prints the version from package.json', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = drainkit([flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    }
  });

  it('names an unknown option before complaining about a missing required one', () => {
    const r = drainkit(['example-server', '--prot', '3000']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option '--prot'/);
    assert.match(r.stderr, /Did you mean --port\?/);
    assert.doesNotMatch(r.stderr, /required option/);
    // Without the typo, the missing required option is still reported, with the usage exit code.
    const missing = drainkit(['example-server']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /required option '--port <n>' not specified/);
    const reason = drainkit(['registry', 'drain', '3', '--resaon', 'x', '--database-url', 'postgres://h/db']);
    assert.equal(reason.status, 2);
    assert.match(reason.stderr, /unknown option '--resaon'/);
  });

  it('help shows no "(default: {})" and documents the exit codes', () => {
    const help = drainkit(['example-server', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--label <key=value> +registry label \(repeatable\)\n/);
    assert.doesNotMatch(help.stdout, /default: \{\}/);
    assert.match(help.stdout, /--log-format <format>/);
    const top = drainkit(['--help']);
    assert.match(top.stdout, /Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 {3}usage.*\n {2}3 {3}the registry could not be reached.*\n {2}4 {3}a driver package is not installed.*\n {2}5 {3}an instance was lost.*\n {2}6 {3}a wait timed out.*\n {2}7 {3}registry roll stopped.*\n {2}8 {3}drainkit doctor found errors.*\n {2}70 /);
  });

  it('a reader that closes the pipe early (| head) ends the output quietly, not with an EPIPE stack', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [MAIN, 'registry', 'reap', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed long before the child has booted and written: every write of its meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = await within(new Promise<[number | null]>((resolve) => child.once('close', (c) => resolve([c]))), 20_000, 'the CLI to exit');
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('example-server refuses a --database-url the registry cannot take, before listening', () => {
    const r = drainkit(['example-server', '--port', '0', '--database-url', 'mysql://db/x']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--database-url got "mysql:\/\/db\/x" \(a mysql:\/\/ URL\); accepted: a postgres:\/\/ or postgresql:\/\//);
    assert.equal(r.stdout, '');
  });

  describe('without the database drivers installed', () => {
    // A copy of the package with commander as its only dependency: `pg` and PGlite cannot be
    // resolved from there, as in an app that installed drainkit alone.
    let dir: string;
    let main: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'drainkit-no-drivers-'));
      cpSync('dist', join(dir, 'dist'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), readFileSync('package.json'));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(resolve('node_modules/commander'), join(dir, 'node_modules/commander'), 'dir');
      main = join(dir, MAIN);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('a registry command names "pg" and how to install it, with exit code 4', () => {
      const r = drainkit(['registry', 'summary', '--database-url', 'postgres://127.0.0.1:1/none'], main);
      assert.equal(r.status, 4, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /"pg"/);
      assert.match(r.stderr, /npm install pg/);
      assert.doesNotMatch(r.stderr, /unexpected error/);
    });

    it('registry-host names the PGlite package and how to install it, with exit code 4', () => {
      const r = drainkit(['registry-host', '--data-dir', 'memory://'], main);
      assert.equal(r.status, 4, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /npm install @electric-sql\/pglite/);
      assert.doesNotMatch(r.stderr, /unexpected error/);
    });

    it('example-server --database-url stops before listening, naming "pg", with exit code 4', () => {
      const r = drainkit(['example-server', '--port', '0', '--database-url', 'postgres://127.0.0.1:1/none'], main);
      assert.equal(r.status, 4, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /npm install pg/);
      assert.equal(r.stdout, '', 'never started listening');
    });

    it('the example server runs without them (and without ws and prom-client: 501 naming them)', async () => {
      const p = await spawnServer({ args: [main, 'example-server', '--port', '0', '--deregister-mode', 'fixed', '--deregister-delay-ms', '0'] });
      try {
        const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
        assert.equal(res.status, 501);
        assert.match(await res.text(), /install the "prom-client" package/);
        assert.deepEqual(await signalAndWait(p, 'SIGTERM'), { code: 0, signal: null });
      } finally {
        await killAll([p]);
      }
    });
  });
});
