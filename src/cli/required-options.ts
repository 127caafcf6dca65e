/**
 * Commander checks required options before unknown ones, so `example-server --prot 3000` used to
 * answer "required option '--port <n>' not specified" and never mention the typo. This moves the
 * required check after commander's own unknown-option check: the first problem reported is the
 * one the operator made.
 */
import type { Command, Option } from 'commander';

/**
 * Turns every `.requiredOption()` of `program` and its subcommands (declared so far) into an
 * ordinary option checked in a `preAction` hook, which commander runs after it has rejected
 * unknown options and before the action. Call once, after every command is declared.
 */
export function checkRequiredOptionsLast(program: Command): void {
  const required = new Map<Command, Option[]>();
  const visit = (cmd: Command): void => {
    const mine = cmd.options.filter((o) => o.mandatory);
    for (const o of mine) o.makeOptionMandatory(false);
    if (mine.length > 0) required.set(cmd, mine);
    cmd.commands.forEach(visit);
  };
  visit(program);
  program.hook('preAction', (_root, action) => {
    for (let cmd: Command | null = action; cmd !== null; cmd = cmd.parent) {
      for (const o of required.get(cmd) ?? []) {
        if (cmd.getOptionValue(o.attributeName()) === undefined) {
          // The same words, code and exit path as commander's own check.
          action.error(`error: required option '${o.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: 2 });
        }
      }
    }
  });
}
