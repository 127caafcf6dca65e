/**
 * Shutdown hooks: the user's cleanup (close a pool, flush a queue), each bounded by its own
 * timeout and given an AbortSignal that fires when the bound expires or the shutdown is cut
 * short (a second signal, `force()`). A hook that throws, rejects or hangs is reported; it never
 * stops the others or the exit.
 */
import { DrainkitError, describeValue } from './errors.js';
import { integerOption } from './options.js';
import type { HookReport, ShutdownHook } from './types.js';

export interface RegisteredHook {
  readonly name: string;
  readonly hook: ShutdownHook;
  readonly timeoutMs: number;
}

/** Validates and adds a hook to `hooks`; returns its unregister function. */
export function registerHook(hooks: RegisteredHook[], name: string, hook: ShutdownHook, timeoutMs: number | undefined, defaultTimeoutMs: number): () => void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: onShutdown(name) got ${describeValue(name)}; accepted: a non-empty string`);
  }
  if (typeof hook !== 'function') {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_ARGUMENT', `drainkit: onShutdown("${name}", hook) got ${describeValue(hook)}; accepted: a function`);
  }
  const entry: RegisteredHook = { name, hook, timeoutMs: integerOption('onShutdown timeoutMs', timeoutMs, 0, 600_000, defaultTimeoutMs) };
  hooks.push(entry);
  return () => {
    const i = hooks.indexOf(entry);
    if (i !== -1) hooks.splice(i, 1);
  };
}

/**
 * Runs hooks one after another, last registered first (resources opened later close first).
 * Once `cut` aborts, the running hook's signal is aborted with the same reason, the run moves on
 * at once, and the hooks not yet run are reported `skipped`.
 */
export async function runHooks(hooks: readonly RegisteredHook[], cut: AbortSignal): Promise<HookReport[]> {
  const reports: HookReport[] = [];
  for (const h of [...hooks].reverse()) {
    reports.push(cut.aborted ? { name: h.name, outcome: 'skipped', durationMs: 0 } : await runOne(h, cut));
  }
  return reports;
}

async function runOne({ name, hook, timeoutMs }: RegisteredHook, cut: AbortSignal): Promise<HookReport> {
  const controller = new AbortController();
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let onCut: (() => void) | undefined;
  const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    onCut = () => resolve('aborted');
    cut.addEventListener('abort', onCut, { once: true });
  });
  try {
    const outcome = await Promise.race([Promise.resolve().then(() => hook(controller.signal)).then(() => 'ok' as const), stopped]);
    if (outcome === 'timeout') controller.abort(new Error(`shutdown hook "${name}" exceeded ${timeoutMs} ms`));
    if (outcome === 'aborted') controller.abort(cut.reason);
    return { name, outcome, durationMs: performance.now() - start };
  } catch (err) {
    return { name, outcome: 'error', durationMs: performance.now() - start, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    if (onCut) cut.removeEventListener('abort', onCut);
  }
}
