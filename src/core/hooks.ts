/**
 * Shutdown hooks: the user's cleanup (close a pool, flush a queue), each bounded by its own
 * timeout and given an AbortSignal that fires when the bound expires. A hook that throws, rejects
 * or hangs is reported; it never stops the others or the exit.
 */
import { performance } from 'node:perf_hooks';
import type { HookReport, ShutdownHook } from './types.js';

export interface RegisteredHook {
  readonly name: string;
  readonly hook: ShutdownHook;
  readonly timeoutMs: number;
}

/** Runs hooks one after another, last registered first (resources opened later close first). */
export async function runHooks(hooks: readonly RegisteredHook[]): Promise<HookReport[]> {
  const reports: HookReport[] = [];
  for (const h of [...hooks].reverse()) reports.push(await runOne(h));
  return reports;
}

async function runOne({ name, hook, timeoutMs }: RegisteredHook): Promise<HookReport> {
  const controller = new AbortController();
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([Promise.resolve().then(() => hook(controller.signal)).then(() => 'ok' as const), timedOut]);
    if (outcome === 'timeout') controller.abort(new Error(`shutdown hook "${name}" exceeded ${timeoutMs} ms`));
    return { name, outcome, durationMs: performance.now() - start };
  } catch (err) {
    return { name, outcome: 'error', durationMs: performance.now() - start, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
