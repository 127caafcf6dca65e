/**
 * The cluster tests' harness: a supervisor process (drainkit's or the naive fixture) whose
 * stdout JSON lines can be awaited, a paced keep-alive load of GET and POST through the cluster
 * port that never retries, raw SSE clients that check every stream ended after a `retry:`
 * hint, and a way to ask the workers which pid serves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { track, type ExitStatus } from '../helpers/processes.js';

export interface ClusterProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Worker pids from the `listening` line. */
  readonly workers: readonly number[];
  readonly events: Record<string, unknown>[];
  readonly stderr: string[];
  readonly closed: Promise<ExitStatus>;
  /** The `index`-th (0-based) line with this `event`, waiting for it if need be. */
  waitFor(event: string, index: number, timeoutMs: number): Promise<Record<string, unknown>>;
  /** The first stderr line (from now on) matching `pattern`. */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<string>;
}

/** Spawns `node <args>` and resolves at its `listening` line; rejects with its stderr tail if it exits or hangs first. */
export function spawnCluster(args: readonly string[], timeoutMs = 30_000, options: { readonly detached?: boolean } = {}): Promise<ClusterProcess> {
  // detached: a process group of its own, for signals sent to the whole group (a terminal's Ctrl-C).
  const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  const closed = track(child);
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const stderrWaiters = new Set<(line: string) => void>();
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 3_000) stderr.shift();
    for (const w of [...stderrWaiters]) w(line);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null) events.push(value as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  const tail = (): string => stderr.slice(-25).join('\n');

  function waitFor(event: string, index: number, ms: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = events.filter((e) => e.event === event)[index];
        if (!found) return false;
        finish();
        resolve(found);
        return true;
      };
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(onLine);
      };
      const onLine = (): void => void check();
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no "${event}" line #${index + 1} on the supervisor's stdout within ${ms} ms\nstdout: ${JSON.stringify(events).slice(0, 2_000)}\nstderr tail:\n${tail()}`));
      }, ms);
      if (check()) return;
      waiters.add(onLine);
      void closed.then((status) => {
        if (check()) return;
        finish();
        reject(new Error(`the supervisor exited (${JSON.stringify(status)}) before its "${event}" line #${index + 1}\nstderr tail:\n${tail()}`));
      });
    });
  }

  function waitForStderr(pattern: RegExp, ms: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const onLine = (line: string): void => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        stderrWaiters.delete(onLine);
        resolve(line);
      };
      const timer = setTimeout(() => {
        stderrWaiters.delete(onLine);
        reject(new Error(`no stderr line matching ${String(pattern)} within ${ms} ms\nstderr tail:\n${tail()}`));
      }, ms);
      stderrWaiters.add(onLine);
    });
  }

  return waitFor('listening', 0, timeoutMs).then(
    (line) => ({ child, pid: line.pid as number, port: line.port as number, workers: line.workers as number[], events, stderr, closed, waitFor, waitForStderr }),
    (err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    },
  );
}

// ---- load -------------------------------------------------------------------------------

export interface PacedLoadOptions {
  readonly origin: string;
  /** Requests per second, spread evenly. */
  readonly rate: number;
  /** Share of POST requests (to `postPath`). */
  readonly postShare: number;
  readonly postPath: string;
  /** Every `slowEvery`-th request is `slowPath`. */
  readonly slowEvery: number;
  readonly slowPath: string;
  /** Hard bounds: the load ends by itself at whichever comes first. */
  readonly maxRequests: number;
  readonly maxDurationMs: number;
  /** Pooled keep-alive connections. Default 32. */
  readonly connections?: number;
}

export interface PacedLoadStats {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly samples: readonly string[];
  /** Successful responses that carried `Connection: close` (a draining worker retiring a keep-alive connection). */
  readonly connectionClose: number;
  /** Latency of every successful request, ms, in completion order, with when it was sent (ms since the epoch). */
  readonly latencies: readonly { readonly sentAt: number; readonly ms: number }[];
}

/** Paced keep-alive load over one undici Pool: every request sent once, never retried. */
export function startPacedLoad(options: PacedLoadOptions): { stop(): Promise<PacedLoadStats> } {
  const pool = new Pool(options.origin, { connections: options.connections ?? 32, pipelining: 1, keepAliveTimeout: 4_000 });
  const failures: Record<string, number> = {};
  const samples: string[] = [];
  const latencies: { sentAt: number; ms: number }[] = [];
  const inflight = new Set<Promise<void>>();
  const startedAt = Date.now();
  let sent = 0;
  let ok = 0;
  let connectionClose = 0;
  let credit = 0;
  let last = Date.now();

  const fail = (kind: string, detail: string): void => {
    failures[kind] = (failures[kind] ?? 0) + 1;
    if (samples.length < 50) samples.push(`${new Date().toISOString()} ${kind} ${detail.slice(0, 160)}`);
  };

  const one = async (): Promise<void> => {
    sent += 1;
    const post = Math.random() < options.postShare;
    const path = post ? options.postPath : sent % options.slowEvery === 0 ? options.slowPath : '/';
    const t0 = performance.now();
    const sentAt = Date.now();
    try {
      const res = await pool.request({ path, method: post ? 'POST' : 'GET', body: post ? `message ${sent}` : null, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const body = await res.body.text();
      if (res.statusCode === 200) {
        ok += 1;
        if (String(res.headers.connection ?? '').toLowerCase() === 'close') connectionClose += 1;
        latencies.push({ sentAt, ms: performance.now() - t0 });
      } else fail(`status:${res.statusCode}`, `${post ? 'POST' : 'GET'} ${path}: ${body}`);
    } catch (err) {
      const e = err as Error & { code?: string };
      fail(`error:${e.code ?? e.name}`, `${post ? 'POST' : 'GET'} ${path}: ${e.message}`);
    }
  };

  const tick = setInterval(() => {
    const t = Date.now();
    credit += ((t - last) * options.rate) / 1_000;
    last = t;
    if (t - startedAt >= options.maxDurationMs) credit = 0;
    for (; credit >= 1 && sent < options.maxRequests; credit -= 1) {
      const p = one();
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  }, 10);

  return {
    async stop() {
      clearInterval(tick);
      await Promise.all([...inflight]);
      await pool.close();
      return { sent, ok, failed: sent - ok, connectionClose, failures: { ...failures }, samples: [...samples], latencies };
    },
  };
}

// ---- SSE --------------------------------------------------------------------------------

export interface SseStats {
  readonly opens: number;
  /** Streams that ended, ended by the server or cut. */
  readonly ends: number;
  /** Of those, streams cut before their end (no end of the chunked body): never after `retry:`. */
  readonly cut: number;
  /** Of those, streams whose last message before the end was a `retry:` hint. */
  readonly endsAfterRetry: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly openAtEnd: number;
}

/** Raw SSE clients on `/sse` that reconnect whenever the server ends their stream. */
export function startSseClients(origin: string, count: number): { stop(settleMs: number): Promise<SseStats> } {
  const agent = new http.Agent({ keepAlive: false });
  let stopping = false;
  let opens = 0;
  let ends = 0;
  let endsAfterRetry = 0;
  let cut = 0;
  const errors: Record<string, number> = {};
  const open = new Set<http.ClientRequest>();

  const connect = (): void => {
    if (stopping) return;
    const req = http.get(`${origin}/sse`, { agent, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        errors[`status:${res.statusCode}`] = (errors[`status:${res.statusCode}`] ?? 0) + 1;
        res.resume();
        res.once('end', () => setTimeout(connect, 100));
        return;
      }
      opens += 1;
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        tail = (tail + chunk).slice(-4_096);
      });
      // 'close', not 'end': a stream cut mid-body (its worker killed) emits no 'end', only an
      // 'aborted' error and 'close'. It counts as an end without `retry:`.
      res.once('error', () => undefined);
      res.once('close', () => {
        open.delete(req);
        if (stopping) return;
        ends += 1;
        if (!res.complete) cut += 1;
        // The last event before a proper end must carry the reconnect hint.
        const lastEvent = tail.split('\n\n').filter((block) => block.trim() !== '').pop() ?? '';
        if (res.complete && /(^|\n)retry: ?\d+(\n|$)/.test(lastEvent)) endsAfterRetry += 1;
        setTimeout(connect, 50 + Math.floor(Math.random() * 100));
      });
    });
    open.add(req);
    req.once('error', (err: Error & { code?: string }) => {
      open.delete(req);
      if (stopping) return;
      const kind = err.code ?? err.message;
      errors[kind] = (errors[kind] ?? 0) + 1;
      setTimeout(connect, 100);
    });
  };
  for (let i = 0; i < count; i += 1) connect();

  return {
    async stop(settleMs) {
      const deadline = Date.now() + settleMs;
      while (open.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const stats = { opens, ends, cut, endsAfterRetry, errors: { ...errors }, openAtEnd: open.size };
      stopping = true;
      for (const req of open) req.destroy();
      agent.destroy();
      return stats;
    },
  };
}

// ---- which pid serves -------------------------------------------------------------------

/** The pid in the first event of a fresh `/sse` stream of the example server. */
export function pidFromSse(origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}/sse`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        const m = /data: (\{.*\})\n/.exec(text);
        if (!m) return;
        req.destroy();
        resolve((JSON.parse(m[1]!) as { pid: number }).pid);
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no SSE event within 10 s')));
    req.once('error', (err) => reject(err));
  });
}

/** Which pids answer `samples` fresh connections (round-robin spreads them over every worker). */
export async function servingPids(ask: () => Promise<number>, samples: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < samples; i += 1) pids.add(await ask());
  return pids;
}

/** The pid in the `x-pid` header of the fixture app (a fresh connection each time). */
export function pidFromHeader(origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}/`, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(Number(res.headers['x-pid'])));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.once('error', reject);
  });
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded, checking every 50 ms: there is no event for a process we did not spawn) until none of the pids exists. */
export async function waitGone(pids: readonly number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) throw new Error(`pids still alive after ${ms} ms: ${pids.filter(isAlive).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
