/**
 * `drainkit registry roll`: the command's shell around the registry's `rollFleet`: one progress
 * line per instance, the final document or summary, and the exit code that says how it ended.
 */
import type { RollResult, RollStep } from '../registry/index.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { paint, type ProgressView, type Tone } from './progress.js';

function address(step: Pick<RollStep, 'host' | 'port'>): string {
  return `${step.host.includes(':') ? `[${step.host}]` : step.host}:${step.port}`;
}

const TONE: Readonly<Record<RollStep['state'], Tone>> = {
  waiting: 'plain',
  draining: 'busy',
  replacing: 'busy',
  replaced: 'good',
  skipped: 'plain',
  lost: 'bad',
  no_replacement: 'bad',
  stuck: 'bad',
};

/** One instance's progress line. */
export function stepLine(step: RollStep, color: boolean): string {
  const what = ((): string => {
    switch (step.state) {
      case 'waiting':
        return 'waiting its turn';
      case 'draining':
        return `draining${step.phase === null ? '' : ` (${step.phase})`}: ${step.inflight} in flight, ${step.persistent} persistent`;
      case 'replacing':
        return `stopped${drained(step)}; waiting for a replacement on ${address(step)}`;
      case 'replaced':
        return `replaced: generation ${step.fromGeneration} -> ${step.toGeneration ?? '?'}${drained(step)}`;
      case 'skipped':
      case 'lost':
      case 'no_replacement':
      case 'stuck':
        return `${step.state.replace('_', ' ')}: ${step.note ?? ''}`;
    }
  })();
  return `instance ${step.instanceId} ${address(step)}  ${paint(what, TONE[step.state], color)}`;
}

function drained(step: RollStep): string {
  return step.drainedCleanly === null ? '' : step.drainedCleanly ? ' (drained cleanly)' : ' (drain forced)';
}

/** Feeds a progress view from `rollFleet`'s progress callback. */
export function rollProgress(view: ProgressView): (step: RollStep) => void {
  return (step) => view.set(String(step.instanceId), stepLine(step, view.color));
}

/**
 * The exit code of a roll: 0 when every instance was replaced after a clean drain; the roll
 * stopped: 7 (no replacement), 5 (lost), 6 (a drain outlasted --stop-timeout); completed but an
 * instance's drain was forced: 70.
 */
export function rollExitCode(result: RollResult): ExitCode {
  switch (result.stoppedBecause?.state) {
    case 'no_replacement':
      return EXIT.rollStopped;
    case 'lost':
      return EXIT.instanceLost;
    case 'stuck':
      return EXIT.waitTimedOut;
    default:
      return result.steps.some((s) => s.drainedCleanly === false) ? EXIT.forced : EXIT.ok;
  }
}

/** The one-line summary for a person (stdout without --json; the failure line on stderr). */
export function rollSummary(result: RollResult): string {
  const replaced = result.steps.filter((s) => s.state === 'replaced').length;
  const skipped = result.steps.filter((s) => s.state === 'skipped').length;
  const forced = result.steps.filter((s) => s.drainedCleanly === false).length;
  const seconds = ((result.finishedAt.getTime() - result.startedAt.getTime()) / 1_000).toFixed(1);
  const counts = `${replaced} of ${result.steps.length} instances replaced${skipped > 0 ? `, ${skipped} skipped` : ''}${forced > 0 ? `, ${forced} drains forced` : ''} in ${seconds} s`;
  const stop = result.stoppedBecause;
  if (stop === null) return `roll completed: ${counts}`;
  return `roll stopped at instance ${stop.instanceId} (${address(stop)}): ${stop.note ?? stop.state}; nothing else was drained (${counts})`;
}

/** The `--json` document: the result, with times as ISO strings. */
export function rollDocument(result: RollResult): unknown {
  return { ...result, exitCode: rollExitCode(result) };
}
