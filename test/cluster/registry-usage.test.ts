/**
 * The registry flags of `drainkit cluster` and `example-server --workers`, as a user mistypes
 * them: usage errors (exit 2) naming the flag, before any worker starts. Runs the built CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));

function drainkit(args: readonly string[]) {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });
}

describe('cluster registry flags', { timeout: 60_000 }, () => {
  it('--help lists them', () => {
    const r = drainkit(['cluster', '--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const flag of ['--database-url <url>', '--label <key=value>', '--heartbeat-ms <n>', '--liveness-write-ms <n>']) assert.ok(r.stdout.includes(flag), `${flag} in:\n${r.stdout}`);
  });

  it('registry flags without --database-url, a URL of another database, a liveness below the tick: exit 2 naming the flag, nothing started', () => {
    const cases: [string[], RegExp][] = [
      [['cluster', '--workers', '1', '--label', 'a=b', APP], /--label, --heartbeat-ms and --liveness-write-ms apply with --database-url only/],
      [['cluster', '--workers', '1', '--database-url', 'mysql://u:secret@h/db', APP], /--database-url .*mysql/],
      [['cluster', '--workers', '1', '--database-url', 'postgres://h/db', '--heartbeat-ms', '1000', '--liveness-write-ms', '500', APP], /--liveness-write-ms \(500\) must not be below the heartbeat tick/],
      [['example-server', '--workers', '2', '--port', '0', '--database-url', 'mysql://u:secret@h/db'], /--database-url .*mysql/],
    ];
    for (const [args, message] of cases) {
      const r = drainkit(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /secret/);
      assert.equal(r.stdout, '', 'no listening line: nothing started');
    }
  });
});
