/**
 * The event types `drainkit registry events --type` accepts. The page itself is read with the
 * registry's `eventPage` (newest first, with the total that says when the limit cut the list).
 */

/** Every `DrainEvent.event_type` the registry writes (the `--type` filter accepts these only). */
export const EVENT_TYPES = [
  'registered',
  'drain_requested',
  'drain_start',
  'window_end',
  'listener_closed',
  'persistent_notified',
  'waiting',
  'forced',
  'cleanup',
  'drain_complete',
  'lost',
  // Written by `drainkit cluster --database-url` for the cluster's instance.
  'reload_start',
  'reload_complete',
  'worker_exit',
  'worker_restart',
  'crash_loop',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
