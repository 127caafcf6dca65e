/**
 * The registry commands that wait or stream, as an operator runs them: `registry drain --wait`
 * ends with an exit code that says how the drain ended (0 clean, 70 forced, 5 lost, 6 the wait
 * timed out), and `registry instances --watch` / `registry events --follow` stream changes until
 * they are interrupted (exit 0). The built CLI against real Postgres and a PGlite served over
 * pglite-socket, with real example servers. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { listInstances, type DrainEventRow, type Instance } from '../../src/registry/index.js';
import { onPty } from '../cli/pty.js';
import { waitFor, withDeadline } from '../helpers/deadline.js';
import { killAll, signalAndWait, spawnServer, track, type ExitStatus, type ServerProcess } from '../helpers/processes.js';
import { DATABASE_KINDS, createDatabase, eventually, postgresSkip, type TestDatabase } from './databases.js';

const MAIN = 'dist/cli/main.js';

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cliEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'NO_COLOR', 'FORCE_COLOR']) delete env[name];
  return env;
}

/** The CLI, asynchronously (the PGlite suite's database lives in this process); 60 s hang guard. */
function cli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: cliEnv(), timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

/** A streaming CLI command: its stdout lines as they come, its exit. */
function stream(args: readonly string[]): { lines: string[]; stderr: () => string; closed: Promise<ExitStatus>; interrupt(): void } {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = track(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  return { lines, stderr: () => stderr, closed, interrupt: () => child.kill('SIGINT') };
}

for (const kind of DATABASE_KINDS) {
  describe(`drainkit registry waits and streams on ${kind}`, { skip: kind === 'postgres' ? await postgresSkip() : false, timeout: 180_000 }, () => {
    let db: TestDatabase;
    const children: ServerProcess[] = [];

    before(async () => {
      assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
      db = await createDatabase(kind);
    });
    after(async () => {
      await killAll(children);
      await db?.close();
    });

    async function server(label: string, extra: readonly string[] = []): Promise<{ proc: ServerProcess; id: number }> {
      const proc = await spawnServer({
        env: { ...process.env, DRAINKIT_INSTANCE_HOST: '127.0.0.1' },
        args: [MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--deregister-mode', 'fixed', '--deregister-delay-ms', '200',
          '--database-url', db.url, '--heartbeat-ms', '100', '--liveness-write-ms', '200', '--label', `t=${label}`, ...extra],
      });
      children.push(proc);
      const row = await eventually('the server to register', async () => (await listInstances(db.store, { labels: { t: label } })).find((i) => i.status === 'active'));
      return { proc, id: row.id };
    }

    it('drain --wait exits 0 after a clean drain, with the final line in colour only when forced to', async () => {
      const { proc, id } = await server('clean');
      const r = await cli(['registry', 'drain', String(id), '--reason', 'clean', '--wait', '--database-url', db.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`instance ${id} stopped: drained cleanly`));
      assert.match(r.stderr.trimEnd().split('\n').at(-1)!, new RegExp(`^instance ${id} stopped: drained cleanly`));
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(r.stderr, /\x1b\[/, 'a pipe gets neither colour nor redraws');
      assert.deepEqual(await proc.closed, { code: 0, signal: null });
    });

    it('drain --wait on a terminal redraws its line in place, in colour', async () => {
      const { proc, id } = await server('tty', ['--deregister-delay-ms', '1500']);
      const pty = onPty(['env', '-u', 'NO_COLOR', '-u', 'FORCE_COLOR', process.execPath, MAIN, 'registry', 'drain', String(id), '--reason', 'tty', '--wait', '--database-url', db.url]);
      const code = await withDeadline(pty.closed, 60_000, 'drain --wait on a terminal to end');
      const text = pty.output();
      assert.equal(code, 0, text);
      // eslint-disable-next-line no-control-regex
      assert.match(text, /\x1b\[1F\x1b\[2Kinstance \d+ /, 'the line redrawn in place');
      // eslint-disable-next-line no-control-regex
      assert.match(text, /\x1b\[32m: drained cleanly/, 'the outcome in colour');
      assert.deepEqual(await proc.closed, { code: 0, signal: null });
    });

    it('drain --wait exits 70 when the instance reports a forced drain', async () => {
      const { proc, id } = await server('forced', ['--drain-timeout-ms', '0']);
      // A request the drain cannot wait for: forced once the window ends.
      const held = new Promise<void>((resolve) => {
        const req = http.get(`http://127.0.0.1:${proc.port}/work?ms=30000`, (res) => {
          res.resume();
          res.on('close', resolve);
        });
        req.on('error', () => resolve());
      });
      await eventually('the request to be in flight', async () => ((await listInstances(db.store, { labels: { t: 'forced' } }))[0]?.inflightCount === 1 ? true : undefined));
      const r = await cli(['registry', 'drain', String(id), '--reason', 'force it', '--wait', '--json', '--database-url', db.url]);
      assert.equal(r.code, 70, r.stderr);
      const out = JSON.parse(r.stdout) as { final: Instance & { outcome: DrainEventRow } };
      assert.equal(out.final.outcome.details?.success, false);
      assert.match(r.stderr, new RegExp(`instance ${id} stopped: drain forced`));
      await withDeadline(held, 30_000, 'the forced request to end');
      await proc.closed;
    });

    it('drain --wait exits 6 when the wait times out, and says the request stands', async () => {
      const { proc, id } = await server('slow', ['--deregister-delay-ms', '20000']);
      const r = await cli(['registry', 'drain', String(id), '--reason', 'slow', '--wait', '--wait-timeout', '1s', '--database-url', db.url]);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, new RegExp(`drainkit: instance ${id} is still draining after 1\\.0s; the drain request stands`));
      await signalAndWait(proc, 'SIGKILL');
    });

    it('drain --wait exits 5 when the instance is lost before it reports its drain', async () => {
      const { proc, id } = await server('lost', ['--deregister-delay-ms', '20000']);
      const waiting = cli(['registry', 'drain', String(id), '--reason', 'lost', '--wait', '--database-url', db.url]);
      await eventually('the instance to be draining', async () => ((await listInstances(db.store, { labels: { t: 'lost' } }))[0]?.status === 'draining' ? true : undefined));
      // Frozen: no more heartbeats, as a hung or partitioned process. The reaper marks it lost.
      proc.child.kill('SIGSTOP');
      try {
        await eventually('the reaper to mark it lost', async () => {
          const r = await cli(['registry', 'reap', '--ttl', '1s', '--liveness-write', '200ms', '--json', '--database-url', db.url]);
          return (JSON.parse(r.stdout) as { id: number }[]).some((l) => l.id === id) ? true : undefined;
        });
        const r = await withDeadline(waiting, 30_000, 'drain --wait to end after the loss');
        assert.equal(r.code, 5, r.stderr);
        assert.match(r.stderr, new RegExp(`drainkit: instance ${id} was lost: it stopped heartbeating before it reported its drain`));
      } finally {
        await signalAndWait(proc, 'SIGKILL');
      }
    });

    it('instances --watch prints each change until interrupted, then exits 0', async () => {
      // A window of 1.5 s: the watch samples every 500 ms, so a draining state that short is seen.
      const { proc, id } = await server('watch', ['--deregister-delay-ms', '1500']);
      const watch = stream(['registry', 'instances', '--watch', '--json', '--label', 't=watch', '--database-url', db.url]);
      const states = (): string[] => watch.lines.map((l) => (JSON.parse(l) as { instance?: Instance }).instance?.status ?? 'gone');
      await waitFor('the first snapshot', () => watch.lines.length >= 1, 20_000, 20);
      // The row as the registry has it, but for its heartbeat time, which a heartbeat between the
      // watch's read and this one may have moved on.
      const withoutHeartbeat = (line: { instance?: Record<string, unknown> }): unknown => ({ ...line, instance: { ...line.instance, lastHeartbeatAt: undefined } });
      const now = JSON.parse(JSON.stringify((await listInstances(db.store, { labels: { t: 'watch' } }))[0])) as Record<string, unknown>;
      assert.deepEqual(withoutHeartbeat(JSON.parse(watch.lines[0]!) as { instance?: Record<string, unknown> }), withoutHeartbeat({ change: 'instance', instance: now } as { instance?: Record<string, unknown> }));
      await signalAndWait(proc, 'SIGTERM');
      await waitFor(`a stopped line (saw ${watch.lines.length} lines)`, () => states().includes('stopped'), 20_000, 20);
      assert.ok(states().includes('draining'), `draining before stopped: ${states().join(', ')}`);
      assert.ok(watch.lines.every((l) => (JSON.parse(l) as { instance: Instance }).instance.id === id));
      watch.interrupt();
      assert.deepEqual(await withDeadline(watch.closed, 10_000, 'the watch to end on SIGINT'), { code: 0, signal: null }, watch.stderr());
    });

    it('events --follow prints the recent events, then each new one, until interrupted, then exits 0', async () => {
      const { proc, id } = await server('follow');
      const follow = stream(['registry', 'events', '--follow', '--instance', String(id), '--database-url', db.url]);
      await waitFor('the registered event', () => follow.lines.some((l) => /\bregistered\b/.test(l)), 20_000, 20);
      await signalAndWait(proc, 'SIGTERM');
      await waitFor(`drain_complete (saw: ${follow.lines.join(' | ')})`, () => follow.lines.some((l) => /\bdrain_complete\b/.test(l)), 20_000, 20);
      const types = follow.lines.map((l) => l.split(/\s+/)[3]);
      assert.equal(types[0], 'registered');
      assert.ok(types.indexOf('drain_start') < types.indexOf('drain_complete'), `in time order: ${types.join(', ')}`);
      assert.equal(new Set(follow.lines).size, follow.lines.length, 'no event printed twice');
      follow.interrupt();
      assert.deepEqual(await withDeadline(follow.closed, 10_000, 'the follow to end on SIGINT'), { code: 0, signal: null }, follow.stderr());
      const bad = await cli(['registry', 'events', '--follow', '--oldest-first', '--database-url', db.url]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--follow streams from now on: it cannot be combined with --until or --oldest-first/);
    });
  });
}
