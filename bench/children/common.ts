/**
 * Shared by the benchmark children (transpiled to plain JS and run with bare node; see
 * bench/lib/children.ts). Node built-ins only, plus drainkit loaded from dist/.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type * as Drainkit from '../../src/index.js';

/**
 * drainkit as built by `npm run build` (children run from the repository root), or the build in
 * `distDir` (another checkout's `dist/`, to compare two builds in one run).
 */
export async function loadDrainkit(distDir = join(process.cwd(), 'dist')): Promise<typeof Drainkit> {
  return (await import(pathToFileURL(join(distDir, 'index.js')).href)) as typeof Drainkit;
}

/** One JSON line on stdout. Pipes are synchronous on POSIX: the line is out when this returns. */
export function announce(data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(data)}\n`);
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `--name value` from argv, or the default; exits 2 on anything not in `choices`. */
export function flag<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? fallback : process.argv[i + 1];
  if (!choices.includes(value as T)) {
    process.stderr.write(`--${name} must be one of ${choices.join(', ')}; got ${String(value)}\n`);
    process.exit(2);
  }
  return value as T;
}

export type IpcHandler = (message: Record<string, unknown>) => unknown;

/**
 * Answers IPC messages `{ id, cmd, ... }` with `{ id, ...result }` or `{ id, error }`.
 * Only for children whose exit is not timed: the channel keeps the event loop alive.
 */
export function serveIpc(handlers: Record<string, IpcHandler>): void {
  process.on('message', (raw: unknown) => {
    const message = raw as Record<string, unknown> & { id: number; cmd: string };
    const reply = (body: Record<string, unknown>): void => {
      process.send!({ id: message.id, ...body });
    };
    const handler = handlers[message.cmd];
    if (!handler) {
      reply({ error: `unknown command ${JSON.stringify(message.cmd)}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message))
      .then(
        (result) => reply((result ?? {}) as Record<string, unknown>),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      );
  });
}

/**
 * The server's idle keep-alive timeout, the same for every variant: drainkit raises it to 65 s by
 * default, and a bare server left at Node's 5 s would close idle connections mid-measurement.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Heap and RSS after full collections (needs `--expose-gc`). */
export function measuredMemory(): { heapUsed: number; rss: number; external: number; arrayBuffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // Several passes: weak callbacks and finalizers queued by one pass are collected by the next.
  for (let i = 0; i < 4; i += 1) gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}
