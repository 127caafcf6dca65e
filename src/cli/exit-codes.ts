/**
 * The `drainkit` command's exit codes, one meaning each, so scripts can tell "you typed it wrong"
 * from "the database is down" from "install a package" without reading messages.
 */
import { EXIT_CODE_FORCED } from '../core/types.js';

export const EXIT = {
  /** Done. For `example-server`: the drain completed. */
  ok: 0,
  /** The registry answered but said no: no such live instance, no schema yet, still draining at `--wait-timeout`. */
  failed: 1,
  /** Bad command-line usage: unknown command or option, a missing or bad value. */
  usage: 2,
  /** The registry could not be reached: connection refused, host unknown, authentication, timeout. */
  unreachable: 3,
  /** A driver package the command needs is not installed (`pg`, `@electric-sql/pglite`, `@electric-sql/pglite-socket`). */
  missingPackage: 4,
  /** `example-server`: the drain had to be forced (timeout or a second signal). */
  forced: EXIT_CODE_FORCED,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The `--help` epilogue that documents {@link EXIT}. */
export const EXIT_CODES_HELP = `Exit codes:
  0   done (example-server: the drain completed)
  1   the registry said no (no such live instance, no schema yet, still draining at --wait-timeout)
  2   usage: unknown command or option, a missing or bad value
  3   the registry could not be reached (refused, unknown host, authentication, timeout)
  4   a driver package is not installed (the message names it and the npm install line)
  ${EXIT_CODE_FORCED}  example-server: the drain was forced (timeout or a second signal)`;

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
