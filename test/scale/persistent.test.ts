/**
 * Persistent connections at scale (issue 12): one example-server process holding 10,000
 * WebSocket clients and 2,000 SSE streams receives SIGTERM while 300 malformed connections
 * arrive during its drain. Every WebSocket must be closed with 1001, every SSE stream ended
 * after a `retry:` field, every malformed connection refused or closed without a 101 or 2xx, and
 * the process must exit 0 with a completed (not forced) drain, within a generous bound.
 *
 * The server and the two client processes run under `ulimit -n` raised as far as the hard limit
 * allows (65,536 when permitted); the test fails, naming the limit, when that is too few. The
 * server's memory (VmRSS, VmHWM) and CPU time (utime + stime from /proc/<pid>/stat) are sampled
 * and printed as a diagnostic: docs/benchmarks.md reports them.
 *
 * SCALE_WS / SCALE_SSE / SCALE_MALFORMED override the counts (for a quick look on a small box).
 * Needs `npm run build` (dist/cli/main.js).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, describe, it, type TestContext } from 'node:test';
import { HTTP1_KINDS, fuzzSeed, malformed, seededRandom, sendRaw, type RawOutcome } from '../fuzz/malformed.js';
import { waitFor, withDeadline } from '../helpers/deadline.js';
import { killTracked, track, type ExitStatus } from '../helpers/processes.js';

const MAIN = 'dist/cli/main.js';
const count = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,6}$/.test(raw)) throw new Error(`${name} is ${JSON.stringify(raw)}; accepted: a non-negative integer`);
  return Number(raw);
};
const WEBSOCKETS = count('SCALE_WS', 10_000);
const EVENT_STREAMS = count('SCALE_SSE', 2_000);
const MALFORMED = count('SCALE_MALFORMED', 300);
/** Descriptors a process needs beyond its connections (Node, the listener, pipes). */
const FD_HEADROOM = 500;
/** The server's drain options, passed explicitly so that the exit bound below is derived from them. */
const WINDOW_MS = 1_500;
const SPREAD_MS = 2_500;
const WS_CLOSE_TIMEOUT_MS = 5_000;
const LINGER_MS = 2_000;
/** Room for 12,000 sockets on 2 shared cores: a hang guard, not a timing claim (measured ~4 s in all). */
const EXIT_MARGIN_MS = 15_000;
/** The latest a completed drain can exit after SIGTERM: the window, the spread, the last close handshake, the linger, the margin. */
const EXIT_BOUND_MS = WINDOW_MS + SPREAD_MS + WS_CLOSE_TIMEOUT_MS + LINGER_MS + EXIT_MARGIN_MS;
const CLK_TCK = 100; // Linux's USER_HZ, what /proc/<pid>/stat counts in

/** A child started through bash after raising its open-files limit; stdout JSON lines collected. */
interface LimitedChild {
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** The first line whose `event` is `event` (already printed or still to come), bounded. */
  line(event: string, ms: number): Promise<Record<string, unknown>>;
  send(cmd: Record<string, unknown>): void;
}

function spawnLimited(args: readonly string[]): LimitedChild {
  // `ulimit -n 65536` where allowed, else the hard limit; the limit reached is printed first.
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; echo "{\\"event\\":\\"ulimit\\",\\"n\\":$(ulimit -n)}"; exec "$@"';
  const child = spawn('bash', ['-c', script, 'bash', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const closed = track(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v === 'object' && v !== null) lines.push(v as Record<string, unknown>);
    } catch {
      // not one of ours
    }
  });
  createInterface({ input: child.stderr }).on('line', (text) => {
    stderr.push(text);
    if (stderr.length > 200) stderr.shift();
  });
  return {
    child,
    closed,
    lines,
    stderr,
    async line(event, ms) {
      let found: Record<string, unknown> | undefined;
      await waitFor(`"${event}" from ${args.join(' ')} (stderr: ${stderr.slice(-5).join(' | ')})`, () => {
        found = lines.find((l) => l.event === event);
        return found !== undefined || child.exitCode !== null || child.signalCode !== null;
      }, ms, 20);
      if (!found) throw new Error(`${args.join(' ')} exited before printing "${event}"; stderr: ${stderr.slice(-10).join('\n')}`);
      return found;
    },
    send(cmd) {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
    },
  };
}

/** The open-files limit a limited child reached; fails the test when below `needed`. */
async function assertLimit(c: LimitedChild, needed: number, who: string): Promise<number> {
  const n = Number((await c.line('ulimit', 10_000)).n);
  assert.ok(n >= needed, `${who}: ulimit -n is ${n} (the hard limit), ${needed} needed; raise the hard limit (e.g. docker --ulimit nofile=65536) or lower SCALE_WS / SCALE_SSE`);
  return n;
}

interface ProcSample { readonly at: number; readonly rssKiB: number; readonly hwmKiB: number; readonly cpuMs: number }

/** VmRSS, VmHWM (peak RSS) and utime + stime of `pid`, or undefined once it is gone. */
function sample(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // Fields 14 and 15 (utime, stime), counted after the `(comm)` field, which may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { at: Date.now(), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK };
  } catch {
    return undefined;
  }
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

describe('persistent connections at scale', { timeout: 240_000 }, () => {
  after(() => killTracked());

  it(`${WEBSOCKETS} WebSockets and ${EVENT_STREAMS} SSE streams drained on SIGTERM, ${MALFORMED} malformed connections during the drain`, async (t) => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
    const seed = fuzzSeed();
    const random = seededRandom(seed);
    let passed = false;
    t.after(() => {
      if (!passed) t.diagnostic(`malformed input seed ${seed} (replay with FUZZ_SEED=${seed})`);
    });

    const { server, exit, exitMs, reports, outcomes, halves, sseHalves } = await drainAtScale(t, random, { websockets: WEBSOCKETS, eventStreams: EVENT_STREAMS, malformed: MALFORMED, secondSignal: false });

    assert.deepEqual(exit, { code: 0, signal: null }, `exit 0 (stderr: ${server.stderr.slice(-10).join('\n')})`);
    const drained = server.lines.find((l) => l.event === 'drain_complete');
    assert.ok(drained, 'a drain_complete line');
    assert.equal(drained.outcome, 'completed', 'the drain completed, nothing was forced');
    assert.equal(drained.persistentRemaining, 0);
    assert.deepEqual(drained.persistentClosed, { websocket: { clean: WEBSOCKETS, terminated: 0 }, sse: { clean: EVENT_STREAMS, terminated: 0 } });

    const ws = reports.map((r) => r.ws as { total: number; ended: number; openLeft: number; closeCodes: Record<string, number> });
    assert.deepEqual(ws.map((w) => w.closeCodes), [{ 1001: halves[0] }, { 1001: halves[1] }], 'every WebSocket closed with 1001');
    const sse = reports.map((r) => r.sse as { endedWithRetry: number; endedWithoutRetry: number; openLeft: number });
    assert.deepEqual(sse.map((s) => [s.endedWithRetry, s.endedWithoutRetry, s.openLeft]), [[sseHalves[0], 0, 0], [sseHalves[1], 0, 0]], 'every SSE stream ended after retry:');

    const hung = outcomes.filter((o) => o.hung);
    assert.deepEqual(hung, [], 'no malformed connection outlived the server');
    const accepted = outcomes.filter((o) => o.status !== undefined && (o.status === 101 || (o.status >= 200 && o.status < 300)));
    assert.deepEqual(accepted, [], 'no malformed connection was upgraded or answered 2xx');
    const answered = outcomes.filter((o) => o.status !== undefined).length;
    const refused = outcomes.filter((o) => o.refused).length;
    t.diagnostic(`malformed: ${answered} answered 4xx/5xx, ${refused} refused, ${MALFORMED - answered - refused} closed without an answer`);
    // Bound, not a timing assertion: the issue measured about 2.1 s; a hang or a forced drain is far beyond.
    assert.ok(exitMs < EXIT_BOUND_MS, `exited ${exitMs} ms after SIGTERM; bound ${WINDOW_MS} window + ${SPREAD_MS} spread + ${WS_CLOSE_TIMEOUT_MS} WebSocket close timeout + ${LINGER_MS} linger + ${EXIT_MARGIN_MS} margin`);
    passed = true;
  });

  it('negative control: a second SIGTERM forces the drain, and the same harness sees WebSockets cut and SSE streams ended without retry:', async (t) => {
    const random = seededRandom(fuzzSeed());
    const { exit, reports, outcomes } = await drainAtScale(t, random, { websockets: 1_000, eventStreams: 200, malformed: 30, secondSignal: true });
    assert.deepEqual(exit, { code: 70, signal: null }, 'a forced drain exits 70');
    const codes = reports.map((r) => (r.ws as { closeCodes: Record<string, number> }).closeCodes);
    const cut = codes.reduce((n, byCode) => n + Object.entries(byCode).filter(([code]) => code !== '1001').reduce((m, [, k]) => m + k, 0), 0);
    assert.ok(cut > 0, `the harness saw no WebSocket closed other than with 1001: ${JSON.stringify(codes)}`);
    const withoutRetry = reports.reduce((n, r) => n + (r.sse as { endedWithoutRetry: number }).endedWithoutRetry, 0);
    assert.ok(withoutRetry > 0, 'the harness saw no SSE stream ended without retry:');
    assert.deepEqual(outcomes.filter((o) => o.hung), [], 'even forced, nothing outlived the server');
  });
});

interface Counts { readonly websockets: number; readonly eventStreams: number; readonly malformed: number; readonly secondSignal: boolean }

/**
 * The scenario: the server and two client processes, the clients connected, SIGTERM (and a
 * second one for the negative control), the malformed connections during the window, the exit,
 * the clients' reports, and the server's memory and CPU (printed as a diagnostic).
 */
async function drainAtScale(t: TestContext, random: () => number, c: Counts) {
    const server = spawnLimited([
      MAIN, 'example-server', '--port', '0', '--log-level', 'warn', '--log-format', 'json',
      // A fixed window long enough for the malformed connections to arrive while the listener
      // is still open (they are answered by the parser), then the persistent shutdown.
      '--deregister-mode', 'fixed', '--deregister-delay-ms', String(WINDOW_MS),
      '--persistent-spread-ms', String(SPREAD_MS), '--ws-close-timeout-ms', String(WS_CLOSE_TIMEOUT_MS), '--linger-ms', String(LINGER_MS),
      '--drain-timeout-ms', '60000', '--sse-interval-ms', '5000',
    ]);
    await assertLimit(server, c.websockets + c.eventStreams + c.malformed + FD_HEADROOM, 'server');
    const listening = await server.line('listening', 20_000);
    const port = Number(listening.port);
    const pid = Number(listening.pid);
    const idle = sample(pid);
    assert.ok(idle, 'the server is in /proc');

    // Two client processes share the clients, so neither holds more than half the descriptors.
    const clients = [spawnNode(), spawnNode()];
    for (const client of clients) await assertLimit(client, Math.ceil((c.websockets + c.eventStreams) / 2) + FD_HEADROOM, 'client');
    await Promise.all(clients.map((client) => client.line('ready', 20_000)));
    const halves = [Math.ceil(c.websockets / 2), Math.floor(c.websockets / 2)];
    const sseHalves = [Math.ceil(c.eventStreams / 2), Math.floor(c.eventStreams / 2)];
    const connectStarted = Date.now();
    clients.forEach((client, i) => client.send({ cmd: 'connect', port, ws: halves[i], sse: sseHalves[i] }));
    const connected = await Promise.all(clients.map((client) => client.line('connected', 150_000)));
    const connectMs = Date.now() - connectStarted;
    assert.deepEqual(connected.map((r) => r.failed), [{}, {}], 'every client connected');
    assert.deepEqual(connected.map((r) => [r.ws, r.sse]), [[halves[0], sseHalves[0]], [halves[1], sseHalves[1]]], 'every client open');
    const loaded = sample(pid)!;

    // Sample the server's memory and CPU through the drain until it is gone.
    const samples: ProcSample[] = [];
    const sampler = setInterval(() => {
      const s = sample(pid);
      if (s) samples.push(s);
    }, 20);
    const atSignal = sample(pid)!;
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');

    // The readiness answer turns 503 once the process has taken the signal. The kernel delivers
    // it asynchronously: a probe sent right after kill() can be answered before the handler runs
    // (seen in CI with 1,200 sockets open), so the probe repeats until 503, within a hang bound.
    // The second signal below is sent only after this, so it is always the second one handled.
    await readinessTurns503(port);
    // The negative control: a second signal forces the drain (what an impatient supervisor does).
    if (c.secondSignal) server.child.kill('SIGTERM');
    const kinds = Array.from({ length: c.malformed }, (_, i) => HTTP1_KINDS[i % HTTP1_KINDS.length]!);
    const outcomes: RawOutcome[] = await Promise.all(kinds.map((k) => sendRaw(port, malformed(k, random), 90_000)));

    const exit = await withDeadline(server.closed, 90_000, 'the server to exit after SIGTERM');
    const exitMs = Date.now() - signalledAt;
    clearInterval(sampler);
    clients.forEach((client) => client.send({ cmd: 'report', settleMs: 10_000 }));
    const reports = await Promise.all(clients.map((client) => client.line('report', 20_000)));
    for (const client of clients) client.child.stdin!.end();

    // A process that has exited but is not reaped yet (a zombie) keeps its CPU times in
    // /proc/<pid>/stat but has no memory lines left: memory comes from the samples that have them.
    const last = samples.at(-1) ?? atSignal;
    const withMemory = [atSignal, ...samples].filter((s) => Number.isFinite(s.rssKiB));
    const lastWithMemory = withMemory.at(-1)!;
    const figures = {
      websockets: c.websockets,
      eventStreams: c.eventStreams,
      malformed: c.malformed,
      connectMs,
      rssIdleMiB: mib(idle.rssKiB),
      rssConnectedMiB: mib(loaded.rssKiB),
      rssPeakMiB: mib(Math.max(...withMemory.map((s) => s.hwmKiB))),
      rssLastSampleMiB: mib(lastWithMemory.rssKiB),
      cpuConnectMs: loaded.cpuMs - idle.cpuMs,
      cpuDrainMs: last.cpuMs - atSignal.cpuMs,
      signalToExitMs: exitMs,
      lastSampleBeforeExitMs: last.at - signalledAt,
    };
    t.diagnostic(`figures ${JSON.stringify(figures)}`);
    const byKind: Record<string, Record<string, number>> = {};
    for (const o of outcomes) {
      const key = o.hung ? 'hung' : o.refused ? 'refused' : String(o.status ?? 'closed');
      (byKind[o.kind] ??= {})[key] = (byKind[o.kind]![key] ?? 0) + 1;
    }
    t.diagnostic(`malformed outcomes ${JSON.stringify(byKind)}`);
    t.diagnostic(`client reports ${JSON.stringify(reports)}`);
    return { server, exit, exitMs, reports, outcomes, halves, sseHalves };
}

/** Fresh GET /readyz every 10 ms until one answers 503; fails naming the last status after 10 s. */
async function readinessTurns503(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const answer = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { connection: 'close' } }).catch((e: Error) => e);
    if (answer instanceof Error) last = answer.message;
    else {
      await answer.body?.cancel();
      if (answer.status === 503) return;
      last = String(answer.status);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`readiness did not answer 503 within 10000 ms of SIGTERM (last: ${last})`);
}

function spawnNode(): LimitedChild {
  return spawnLimited(['--import', 'tsx', 'test/scale/persistent-clients-child.ts']);
}
