/**
 * Bounded waits for tests. A wait that can hang (a drain that never ends, a response that never
 * comes, a condition that never holds) gets a bound and a message saying what it waited for, so
 * a failure reads "the drain to end: not within 10000 ms" instead of a runner timeout that
 * names nothing. The bounds are hang guards, generous on purpose, never timing assertions.
 */

/** Resolves or rejects as `promise` does; rejects naming `what` if it has not settled within `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once `predicate` holds, checked every `everyMs` (5 ms by default: a state that I/O
 * callbacks change, without spinning a shared CPU); rejects naming `what` after `ms`.
 */
export async function waitFor(what: string, predicate: () => boolean, ms = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise<void>((resolve) => setTimeout(resolve, everyMs));
  }
}
