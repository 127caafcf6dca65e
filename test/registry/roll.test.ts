/**
 * `drainkit registry roll` end to end: the built CLI against real Postgres and a PGlite served
 * over pglite-socket, over real example servers kept running by a small supervisor that restarts
 * each on its own port when it exits. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { listEvents, listInstances, type Instance } from '../../src/registry/index.js';
import { onPty } from '../cli/pty.js';
import { withDeadline } from '../helpers/deadline.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';
import { SupervisedServer } from './roll-supervisor.js';

const MAIN = 'dist/cli/main.js';

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI, asynchronously (the PGlite suite's database lives in this process); 120 s hang guard. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base = { ...process.env };
  for (const name of ['DATABASE_URL', 'NO_COLOR', 'FORCE_COLOR']) delete base[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, timeout: 120_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

interface RollDoc {
  outcome: string;
  exitCode: number;
  stoppedBecause: { instanceId: number; state: string; note: string } | null;
  steps: { instanceId: number; port: number; state: string; fromGeneration: number; toGeneration: number | null; drainedCleanly: boolean | null; note: string | null }[];
}

// eslint-disable-next-line no-control-regex
const ANSI_COLOR = /\x1b\[3\dm/;
// eslint-disable-next-line no-control-regex
const CURSOR_UP = /\x1b\[\d+F/;

for (const kind of DATABASE_KINDS) {
  describe(`drainkit registry roll on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 300_000 }, () => {
    let db: TestDatabase;
    const fleet: SupervisedServer[] = [];

    before(async () => {
      assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
      db = await createDatabase(kind);
    });
    after(async () => {
      await Promise.all(fleet.map((s) => s.stop()));
      await db?.close();
    });

    /** Three supervised servers with `app=<app>`, registered active; sorted by port (the roll's order). */
    async function group(app: string): Promise<SupervisedServer[]> {
      const started = await Promise.all([0, 1, 2].map(() => SupervisedServer.start(db.url, [`app=${app}`])));
      fleet.push(...started);
      await eventually(`three ${app} instances to register active`, async () => {
        const rows = await listInstances(db.store, { labels: { app }, status: 'active' });
        return rows.length === 3 ? rows : undefined;
      });
      return started.sort((a, b) => a.port - b.port);
    }

    async function rows(app: string): Promise<Instance[]> {
      return listInstances(db.store, { labels: { app } });
    }

    it('rolls three instances one at a time: every generation bumped, every drain clean, progress a line per change', async () => {
      const servers = await group('web');
      const r = await cli(['registry', 'roll', '--label', 'app=web', '--reason', 'deploy v2', '--by', 'ci@example', '--ready-timeout', '30s', '--json', '--database-url', db.url]);
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const doc = JSON.parse(r.stdout) as RollDoc;
      assert.equal(doc.outcome, 'completed');
      assert.equal(doc.exitCode, 0);
      assert.deepEqual(doc.steps.map((s) => [s.port, s.state, s.fromGeneration, s.toGeneration, s.drainedCleanly]), servers.map((s) => [s.port, 'replaced', 1, 2, true]));
      // The registry agrees: the same rows, a new generation each, active.
      assert.deepEqual((await rows('web')).map((i) => [i.port, i.status, i.generation]), servers.map((s) => [s.port, 'active', 2]));
      for (const s of servers) {
        // The first process drained as on SIGTERM and exited 0; its successor is the one running.
        assert.deepEqual(s.exits[0], { code: 0, signal: null });
        assert.equal(s.processes.length, 2);
        const id = doc.steps.find((st) => st.port === s.port)!.instanceId;
        const requested = await listEvents(db.store, { instanceId: id, types: ['drain_requested'] });
        assert.deepEqual(requested.map((e) => [e.generation, e.details?.requestedBy, e.details?.reason]), [[1, 'ci@example', 'deploy v2']]);
      }
      // Not a terminal: a plain line per change, no colour, no cursor movement; each instance was
      // drained, waited for, then replaced, one after the other.
      assert.doesNotMatch(r.stderr, ANSI_COLOR);
      assert.doesNotMatch(r.stderr, CURSOR_UP);
      const lines = r.stderr.trim().split('\n');
      for (const s of servers) {
        const mine = lines.filter((l) => l.includes(`127.0.0.1:${s.port} `));
        assert.match(mine[0]!, /waiting its turn$/);
        assert.ok(mine.some((l) => /draining/.test(l)), `a draining line for ${s.port}:\n${r.stderr}`);
        assert.ok(mine.some((l) => /waiting for a replacement/.test(l)), `a replacing line for ${s.port}:\n${r.stderr}`);
        assert.match(mine.at(-1)!, /replaced: generation 1 -> 2 \(drained cleanly\)$/);
      }
      const replacedAt = servers.map((s) => lines.findIndex((l) => l.includes(`127.0.0.1:${s.port} `) && /replaced:/.test(l)));
      const drainingAt = servers.map((s) => lines.findIndex((l) => l.includes(`127.0.0.1:${s.port} `) && /draining/.test(l)));
      assert.ok(replacedAt[0]! < drainingAt[1]! && replacedAt[1]! < drainingAt[2]!, `one at a time:\n${r.stderr}`);
    });

    it('with FORCE_COLOR and --max-unavailable 2 on a pipe: coloured lines, the next generation, a summary on stdout', async () => {
      const servers = await group('api');
      const r = await cli(['registry', 'roll', '--label', 'app=api', '--max-unavailable', '2', '--reason', 'deploy v3', '--database-url', db.url], { FORCE_COLOR: '1' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^roll completed: 3 of 3 instances replaced in \d+\.\d s\n$/);
      assert.match(r.stderr, ANSI_COLOR);
      assert.doesNotMatch(r.stderr, CURSOR_UP, 'a pipe gets no redraws, even in colour');
      assert.deepEqual((await rows('api')).map((i) => [i.port, i.status, i.generation]), servers.map((s) => [s.port, 'active', 2]));
      // NO_COLOR wins over FORCE_COLOR.
      const plain = await cli(['registry', 'roll', '--label', 'app=api', '--max-unavailable', '3', '--reason', 'deploy v4', '--database-url', db.url], { FORCE_COLOR: '1', NO_COLOR: '1' });
      assert.equal(plain.code, 0, plain.stderr);
      assert.doesNotMatch(plain.stderr, ANSI_COLOR);
      assert.deepEqual((await rows('api')).map((i) => i.generation), [3, 3, 3]);
    });

    it('on a terminal: one line per instance redrawn in place, coloured unless NO_COLOR', async () => {
      await group('tty');
      for (const noColor of [false, true]) {
        const argv = ['env', '-u', 'FORCE_COLOR', '-u', 'NO_COLOR', ...(noColor ? ['NO_COLOR=1'] : []), process.execPath, MAIN, 'registry', 'roll', '--label', 'app=tty', '--reason', 'tty roll', '--database-url', db.url];
        const pty = onPty(argv);
        const code = await withDeadline(pty.closed, 120_000, 'the roll on a terminal to end');
        const text = pty.output();
        assert.equal(code, 0, text);
        assert.match(text, CURSOR_UP, 'redrawn in place');
        if (noColor) assert.doesNotMatch(text, ANSI_COLOR);
        else assert.match(text, ANSI_COLOR);
        assert.match(text, /roll completed: 3 of 3 instances replaced/);
      }
      assert.deepEqual((await rows('tty')).map((i) => i.generation), [3, 3, 3]);
    });

    it('stops when a replacement never comes: exit 7, a clear message, the rest left active and undrained', async () => {
      const servers = await group('batch');
      const [first, ...rest] = servers;
      first!.restart = false; // the replacement that never comes: the first in the roll's order
      const r = await cli(['registry', 'roll', '--label', 'app=batch', '--ready-timeout', '2s', '--reason', 'deploy v5', '--json', '--database-url', db.url]);
      assert.equal(r.code, 7, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`drainkit: roll stopped at instance \\d+ \\(127\\.0\\.0\\.1:${first!.port}\\): no replacement registered active on 127\\.0\\.0\\.1:${first!.port} within 2 s of the drained process stopping; nothing else was drained`));
      const doc = JSON.parse(r.stdout) as RollDoc;
      assert.equal(doc.outcome, 'stopped');
      assert.equal(doc.exitCode, 7);
      assert.deepEqual(doc.steps.map((s) => s.state), ['no_replacement', 'skipped', 'skipped']);
      const after = await rows('batch');
      assert.deepEqual(after.map((i) => [i.port, i.status, i.generation]), [[first!.port, 'stopped', 1], ...rest.map((s) => [s.port, 'active', 1])]);
      for (const s of rest) {
        assert.equal(s.processes.length, 1);
        assert.equal(s.exits.length, 0, 'still running');
        const id = after.find((i) => i.port === s.port)!.id;
        assert.deepEqual(await listEvents(db.store, { instanceId: id, types: ['drain_requested'] }), [], 'never asked to drain');
      }
    });

    it('refuses a roll that selects nothing, and bad values, saying what is accepted', async () => {
      const none = await cli(['registry', 'roll', '--label', 'app=nowhere', '--reason', 'x', '--database-url', db.url]);
      assert.equal(none.code, 1, none.stderr);
      assert.match(none.stderr, /no active instance matches label app=nowhere, so there is nothing to roll/);
      for (const [args, message] of [
        [['--max-unavailable', '0'], /--max-unavailable <n>' argument '0' is invalid\. expected an integer from 1 to 10000/],
        [['--ready-timeout', 'soon'], /--ready-timeout <duration>' argument 'soon' is invalid\. expected a duration/],
        [['--reason', ' '], /--reason must not be empty/],
      ] as const) {
        const r = await cli(['registry', 'roll', '--reason', 'x', ...args, '--database-url', db.url]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
      const noReason = await cli(['registry', 'roll', '--database-url', db.url]);
      assert.equal(noReason.code, 2);
      assert.match(noReason.stderr, /--reason/);
    });
  });
}
