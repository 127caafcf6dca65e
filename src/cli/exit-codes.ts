/**
 * The `drainkit` command's exit codes, one meaning each, so scripts can tell "you typed it wrong"
 * from "the database is down" from "install a package" without reading messages.
 */
import { EXIT_CODE_FORCED } from '../core/types.js';

export const EXIT = {
  /** Done. A drain (`example-server`, `registry drain --wait`) completed cleanly; a roll replaced every instance. */
  ok: 0,
  /** The registry answered but said no: no such live instance, no schema yet, nothing to roll. */
  failed: 1,
  /** Bad command-line usage: unknown command or option, a missing or bad value. */
  usage: 2,
  /** The registry could not be reached: connection refused, host unknown, authentication, timeout. */
  unreachable: 3,
  /** A driver package the command needs is not installed (`pg`, `@electric-sql/pglite`, `@electric-sql/pglite-socket`). */
  missingPackage: 4,
  /** The instance stopped heartbeating before it reported its drain: a reaper marked it lost. */
  instanceLost: 5,
  /** A wait ran out (`registry drain --wait-timeout`, `registry roll --stop-timeout`); what was asked stands. */
  waitTimedOut: 6,
  /** `registry roll` stopped: a drained instance's replacement did not register within `--ready-timeout`; nothing else was drained. */
  rollStopped: 7,
  /** The drain had to be forced (`example-server`: timeout or a second signal; `registry drain --wait`, `registry roll`: an instance reported a forced drain). */
  forced: EXIT_CODE_FORCED,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The `--help` epilogue that documents {@link EXIT}. */
export const EXIT_CODES_HELP = `Exit codes:
  0   done: the drain completed cleanly (example-server, registry drain --wait), every instance rolled
  1   the registry said no (no such live instance, no schema yet, nothing to roll)
  2   usage: unknown command or option, a missing or bad value
  3   the registry could not be reached (refused, unknown host, authentication, timeout)
  4   a driver package is not installed (the message names it and the npm install line)
  5   an instance was lost: it stopped heartbeating before reporting its drain
  6   a wait timed out (registry drain --wait-timeout, registry roll --stop-timeout); the request stands
  7   registry roll stopped: a replacement did not register within --ready-timeout; nothing else was drained
  8   drainkit doctor found errors in the manifests (1: warnings only)
  ${EXIT_CODE_FORCED}  a drain was forced (example-server: timeout or a second signal; registry drain --wait, roll: reported forced)`;

/** A failure the CLI reports in one line, with its exit code (never a usage error). */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: Exclude<ExitCode, 0 | 2> = EXIT.failed,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}
