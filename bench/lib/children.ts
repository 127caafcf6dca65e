/**
 * Child processes of the benchmarks: servers under test and load generators, each in its own
 * process so that the load never shares an event loop (or a core) with the server it measures.
 *
 * The child scripts live in `bench/children/*.ts`. They are transpiled once per run to plain
 * JavaScript in `.tmp/bench/children/` and run with bare `node`, not under tsx: tsx's loader
 * thread adds 5–25 ms to a process's exit (measured: first stdout byte to `exit` of a trivial
 * script, median 9.5 ms bare vs 15–30 ms with `--import tsx`), which would swamp the exit
 * latencies we measure. The children load drainkit itself from `dist/` (built by `npm run bench`).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root: children run with it as their working directory. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE_DIR = join(ROOT, 'bench', 'children');
const OUT_DIR = join(ROOT, '.tmp', 'bench', 'children');

let transpiled = false;

/** Transpiles `bench/children/*.ts` to `.tmp/bench/children/*.js` (type-only imports vanish). */
function transpileChildren(): void {
  if (transpiled) return;
  mkdirSync(OUT_DIR, { recursive: true });
  for (const file of readdirSync(SOURCE_DIR)) {
    if (!file.endsWith('.ts')) continue;
    const out = ts.transpileModule(readFileSync(join(SOURCE_DIR, file), 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    // `.js` is ESM here: the nearest package.json (the repository's) says "type": "module".
    writeFileSync(join(OUT_DIR, file.replace(/\.ts$/, '.js')), out.outputText);
  }
  transpiled = true;
}

/** A JSON line a child printed on stdout, with when the harness read it (performance.now()). */
export interface ChildLine {
  readonly at: number;
  readonly data: Record<string, unknown>;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() in the harness when the `exit` event fired. */
  readonly at: number;
}

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly lines: ChildLine[];
  /** Resolves on the child's `exit` event; never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** The first stdout line (already read or still to come) whose `event` field is `event`. */
  line(event: string, timeoutMs?: number): Promise<ChildLine>;
  /** Sends an IPC message and resolves with the child's reply (children with `ipc: true` only). */
  call<T = Record<string, unknown>>(message: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** SIGKILLs the child if it is still running and waits for its exit. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  /** An IPC channel for `call()`. Keeps the child's event loop alive: not for exit timings. */
  readonly ipc?: boolean;
  /** Node flags, e.g. `--expose-gc`. */
  readonly execArgv?: readonly string[];
  /** stderr is shown by default (children are quiet unless something is wrong). */
  readonly stderr?: 'inherit' | 'ignore';
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

/** The transpiled `bench/children/<name>.ts`, e.g. for `node --import`. */
export function benchChildPath(name: string): string {
  transpileChildren();
  return join(OUT_DIR, `${name}.js`);
}

/** Runs `bench/children/<name>.ts` (transpiled) with bare node. */
export function spawnBenchChild(name: string, args: readonly string[], options: SpawnOptions = {}): Child {
  return spawnNode([benchChildPath(name), ...args], options);
}

/**
 * Pins a process and all its threads to one core (`taskset -a`); fails loudly if taskset is
 * missing. `core` is a taskset CPU list, e.g. `'1'` or `'0-1'`.
 */
export function pinToCore(pid: number, core: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', core, String(pid)], { stdio: 'ignore' });
}

/**
 * Starts one busy loop per core at the SCHED_IDLE priority (`chrt -i 0`), each pinned to its core,
 * and returns what stops them. The kernel runs an idle-class task only when nothing else wants
 * the core, so the loops take no time from the benchmark's processes. They keep the guest's vCPUs
 * from halting, though, and a halted vCPU has to be woken by the hypervisor: measured 2026-12-04
 * (exit-latency, 40 rounds), the spinners cut every variant's exit by about 35 % and narrowed
 * the spread, while the paired differences stayed within their intervals.
 */
export function startIdleSpinners(cores: readonly string[]): () => void {
  const spinners = cores.map((core) => {
    const proc = spawn('taskset', ['-c', core, 'chrt', '-i', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    return proc;
  });
  return () => {
    for (const proc of spinners) proc.kill('SIGKILL');
  };
}

/** Runs `node <args>` from the repository root. */
export function spawnNode(args: readonly string[], options: SpawnOptions = {}): Child {
  const stdio = ['ignore', 'pipe', options.stderr ?? 'inherit'] as const;
  const execArgv = [...(options.execArgv ?? [])];
  // fork() would inherit this process's `--import tsx`; execArgv is always given explicitly.
  const proc = options.ipc
    ? fork(args[0]!, args.slice(1), { cwd: ROOT, execArgv, stdio: [...stdio, 'ipc'] })
    : spawn(process.execPath, [...execArgv, ...args], { cwd: ROOT, stdio: [...stdio] });
  live.add(proc);
  const lines: ChildLine[] = [];
  const waiters = new Set<() => void>();
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once('exit', (code, signal) => {
      const at = performance.now();
      live.delete(proc);
      resolve({ code, signal, at });
      for (const wake of waiters) wake();
    });
  });
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    const at = performance.now();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return; // not one of ours
    }
    if (typeof data !== 'object' || data === null) return;
    lines.push({ at, data: data as Record<string, unknown> });
    for (const wake of waiters) wake();
  });

  let nextId = 0;
  const describe = `node ${args.map((a) => a.replace(ROOT, '')).join(' ')}`;
  return {
    proc,
    pid: proc.pid!,
    lines,
    exited,
    line(event, timeoutMs = 30_000) {
      return new Promise<ChildLine>((resolve, reject) => {
        const check = (): void => {
          const found = lines.find((l) => l.data.event === event);
          if (found) done(() => resolve(found));
          else if (proc.exitCode !== null || proc.signalCode !== null) done(() => reject(new Error(`${describe} exited before printing "${event}"`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${describe} did not print "${event}" within ${timeoutMs} ms`))), timeoutMs);
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    call<T>(message: Record<string, unknown>, timeoutMs = 120_000) {
      const id = ++nextId;
      return new Promise<T>((resolve, reject) => {
        const onMessage = (reply: unknown): void => {
          const r = reply as { id?: number; error?: string };
          if (r.id !== id) return;
          finish();
          if (r.error !== undefined) reject(new Error(`${describe}: ${r.error}`));
          else resolve(reply as T);
        };
        const onExit = (): void => {
          finish();
          reject(new Error(`${describe} exited during ${JSON.stringify(message)}`));
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${describe} did not answer ${JSON.stringify(message)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          proc.off('message', onMessage);
          proc.off('exit', onExit);
        };
        proc.on('message', onMessage);
        proc.once('exit', onExit);
        proc.send({ ...message, id });
      });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** The port from a child's `{"event":"listening","port":n}` line. */
export async function listeningPort(child: Child, timeoutMs = 30_000): Promise<number> {
  const { data } = await child.line('listening', timeoutMs);
  if (typeof data.port !== 'number') throw new Error(`listening line without a port: ${JSON.stringify(data)}`);
  return data.port;
}

/** The child's exit, or undefined if it has not exited within `timeoutMs` (a hang guard). */
export async function exitWithin(child: Child, timeoutMs: number): Promise<ExitInfo | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([child.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every child given, whatever happened. */
export async function killAll(children: Iterable<Child | undefined>): Promise<void> {
  const kills: Promise<void>[] = [];
  for (const child of children) if (child) kills.push(child.kill());
  await Promise.all(kills);
}
