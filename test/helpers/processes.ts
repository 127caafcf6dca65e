/**
 * Child processes for end-to-end tests: servers that announce themselves with a JSON line on
 * stdout, real signals, and exits awaited by their `close` event (never a "let it start" sleep).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { createInterface } from 'node:readline';

/** How a child ended: its exit code, or the signal that killed it. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A line a child wrote, with when the harness received it (ms since the epoch). */
export interface TimedLine {
  readonly at: number;
  readonly text: string;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The port from the `listening` line. */
  readonly port: number;
  /** The pid from the `listening` line (the process that will receive signals). */
  readonly pid: number;
  /** Every JSON object the child printed on stdout, in order (the `listening` line included). */
  readonly events: Record<string, unknown>[];
  /** stderr lines (the servers log JSON there), bounded to the last {@link STDERR_KEEP}. */
  readonly stderr: TimedLine[];
  /** Settles once the child exited and its stdio closed; never rejects. */
  readonly closed: Promise<ExitStatus>;
}

const STDERR_KEEP = 2_000;

/**
 * Every child the helpers started and that has not closed yet, so a test's `after` hook can kill
 * what a failed or timed-out test left behind ({@link killTracked}).
 */
const live = new Set<{ readonly child: ChildProcess; readonly closed: Promise<ExitStatus> }>();

/** Registers a child for {@link killTracked}; returns its `closed` promise. */
export function track(child: ChildProcess): Promise<ExitStatus> {
  const closed = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const entry = { child, closed };
  live.add(entry);
  void closed.then(() => live.delete(entry));
  return closed;
}

/** Kills (SIGKILL) every tracked child still running and waits for them to close. */
export function killTracked(): Promise<void> {
  return killAll([...live]);
}

export interface SpawnServerOptions {
  /** Arguments after `process.execPath`, e.g. `['dist/cli/main.js', 'example-server', ...]`. */
  readonly args: readonly string[];
  /** How long the child may take to print its `listening` line. Default 15 s. */
  readonly readyTimeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * A command that execs node in place, e.g. `['ip', 'netns', 'exec', ns]` to start the server in
   * a network namespace. It must exec (not fork) so the child's pid stays the server's own.
   */
  readonly prefix?: readonly string[];
}

/**
 * Spawns `node <args>` and resolves once it printed `{"event":"listening",...}`. Rejects (with
 * the tail of its stderr) if it exits first or takes longer than the timeout; in the timeout
 * case the child is killed so nothing is left behind.
 */
export function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const [command, ...prefixArgs] = [...(options.prefix ?? []), process.execPath];
  const child = spawn(command, [...prefixArgs, ...options.args], {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const stderr: TimedLine[] = [];
  const closed = track(child);

  createInterface({ input: child.stderr }).on('line', (text) => {
    stderr.push({ at: Date.now(), text });
    if (stderr.length > STDERR_KEEP) stderr.shift();
  });

  return new Promise<ServerProcess>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 15_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`did not print its listening line within ${timeoutMs} ms`);
    }, timeoutMs);

    function fail(why: string): void {
      clearTimeout(timer);
      const tail = stderr.slice(-20).map((l) => l.text).join('\n');
      reject(new Error(`server (node ${options.args.join(' ')}) ${why}\nstderr tail:\n${tail}`));
    }

    child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
    void closed.then((status) => fail(`exited before listening (code ${status.code}, signal ${status.signal})`));

    createInterface({ input: child.stdout }).on('line', (text) => {
      const event = parseJsonObject(text);
      if (!event) return;
      events.push(event);
      if (event.event === 'listening' && typeof event.port === 'number' && typeof event.pid === 'number') {
        clearTimeout(timer);
        resolve({ child, port: event.port, pid: event.pid, events, stderr, closed });
      }
    });
  });
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** True once the child has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Sends `signal` and waits for the child to close. If it has not closed within `timeoutMs`
 * (a hang guard, not a timing assertion) it is killed with SIGKILL and the promise rejects.
 */
export async function signalAndWait(
  proc: { readonly child: ChildProcess; readonly closed: Promise<ExitStatus> },
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 30_000,
): Promise<ExitStatus> {
  if (!hasExited(proc.child)) proc.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([proc.closed, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.closed;
    throw new Error(`pid ${proc.child.pid} did not exit within ${timeoutMs} ms of ${signal}; killed`);
  }
  return outcome;
}

/** Best-effort teardown: SIGKILL whatever is still running and wait for it to close. */
export async function killAll(procs: Iterable<{ readonly child: ChildProcess; readonly closed: Promise<ExitStatus> }>): Promise<void> {
  const waits: Promise<ExitStatus>[] = [];
  for (const proc of procs) {
    if (!hasExited(proc.child)) proc.child.kill('SIGKILL');
    waits.push(proc.closed);
  }
  await Promise.all(waits);
}

/**
 * A port that was free a moment ago on 127.0.0.1. Used only where a port must be known before
 * the process that binds it starts (HAProxy's config names its servers' ports).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = address && typeof address === 'object' ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read a free port'))));
    });
  });
}

/** The `{"event":"drain_complete",...}` line a server printed; throws if it printed none. */
export function drainCompleteLine(p: { readonly events: readonly Record<string, unknown>[] }): Record<string, unknown> {
  const line = p.events.find((e) => e.event === 'drain_complete');
  if (!line) throw new Error('no drain_complete line on stdout');
  return line;
}
