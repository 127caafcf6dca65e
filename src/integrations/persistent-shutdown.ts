/**
 * When a drainer's persistent shutdown begins, for integrations that must act on it as a whole
 * rather than per connection: refusing new WebSocket upgrades, answering every parked long-poll
 * at once. The core's `persistentShutdown` event marks the instant (the window's end, or drain
 * start with `persistentShutdown: 'drain-start'`); `persistent.shuttingDown` is already true then.
 */
import type { Drainer } from '../core/types.js';

/**
 * Calls `fn` once, when `drainer`'s persistent shutdown begins (or on the next microtask if it
 * already has). Returns a function that cancels the subscription.
 */
export function onPersistentShutdown(drainer: Drainer, fn: () => void): () => void {
  let done = false;
  const fire = (): void => {
    if (done) return;
    done = true;
    drainer.off('persistentShutdown', fire);
    fn();
  };
  if (drainer.persistent.shuttingDown) queueMicrotask(fire);
  else drainer.on('persistentShutdown', fire);
  return () => {
    done = true;
    drainer.off('persistentShutdown', fire);
  };
}
