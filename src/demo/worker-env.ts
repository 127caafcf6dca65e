/** What the demo tells its workers (src/demo/worker.ts) through their environment. */

/** Set to 1: the worker exits the instant a drain starts, without draining (the negative control). */
export const EXIT_WITHOUT_DRAINING_ENV = 'DRAINKIT_DEMO_EXIT_WITHOUT_DRAINING';
/** The worker's drain timeout (ms). */
export const DRAIN_TIMEOUT_ENV = 'DRAINKIT_DEMO_DRAIN_TIMEOUT_MS';
