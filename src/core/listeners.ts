/**
 * The listeners drainkit's core adds to a server are marked, so code that reasons about who
 * else listens ("does anyone but me handle this upgrade?") can leave them out: drainkit's
 * listeners on 'upgrade', 'connect', 'checkContinue' and 'checkExpectation' only watch, they
 * never answer.
 */
const kCoreListener = Symbol.for('drainkit.coreListener');

type Marked = { [kCoreListener]?: true };

export function markCoreListener<F extends (...args: never[]) => unknown>(fn: F): F {
  (fn as unknown as Marked)[kCoreListener] = true;
  return fn;
}

/** True for a listener drainkit's core added to a server (it counts and observes, it never answers). */
export function isDrainkitListener(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as Marked)[kCoreListener] === true;
}
