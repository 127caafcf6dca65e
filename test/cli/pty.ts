/**
 * A command on a pseudo-terminal, as in a developer's shell: `script` (util-linux) gives the
 * child a pty for stdin, stdout and stderr, and what we write to `script`'s stdin reaches the
 * pty, so `\x03` is a real Ctrl-C (the line discipline sends SIGINT to the foreground group).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface PtyProcess {
  readonly child: ChildProcess;
  /** Everything the terminal showed so far, with `\r\n` turned into `\n`. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects after `timeoutMs` naming `what`. */
  waitFor(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Types on the terminal. */
  type(text: string): void;
  /** The command's exit code (`script -e` passes it on); null when killed. */
  readonly closed: Promise<number | null>;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

export function onPty(argv: readonly string[]): PtyProcess {
  // `exec`: script runs its command through `sh -c`, and the shell must not stay between the
  // terminal and the command. A shell left waiting there takes the Ctrl-C too; how it reacts
  // depends on the signal dispositions it inherited (in CI it died of the SIGINT, and script
  // reported 130 although node drained and exited 0).
  const child = spawn('script', ['-qfec', `exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d.toString('utf8').replace(/\r\n/g, '\n');
    for (const l of [...listeners]) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    type: (t) => child.stdin.write(t),
    closed,
    waitFor(pattern, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = pattern.exec(text);
          if (m === null) return;
          done();
          resolve(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`waited ${timeoutMs} ms for ${what}; the terminal showed:\n${text}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void closed.then(() => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`the command exited while waiting for ${what}; the terminal showed:\n${text}`));
        });
        check();
      });
    },
  };
}
