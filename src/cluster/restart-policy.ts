/**
 * When a worker that died on its own is replaced: exponential backoff over fast crashes, and a
 * bound after which the cluster stops replacing (a crash loop is reported, never spun). Pure:
 * time comes in as arguments.
 */
import type { RestartPolicy } from './types.js';

export type RestartDecision =
  | { readonly action: 'restart'; readonly delayMs: number; readonly fastCrashes: number }
  | { readonly action: 'give-up'; readonly fastCrashes: number };

/**
 * `fastCrashes` is the streak before this crash; `livedMs` how long the dead worker ran. A worker
 * that lived at least `fastCrashMs` ends the streak: its crash is the first of a new one.
 */
export function decideRestart(policy: RestartPolicy, fastCrashes: number, livedMs: number): RestartDecision {
  const streak = livedMs >= policy.fastCrashMs ? 1 : fastCrashes + 1;
  if (livedMs < policy.fastCrashMs && streak >= policy.maxFastCrashes) return { action: 'give-up', fastCrashes: streak };
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (streak - 1));
  return { action: 'restart', delayMs, fastCrashes: streak };
}
