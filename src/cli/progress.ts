/**
 * Live progress for commands that wait (`registry drain --wait`, `registry roll`), on stderr so
 * stdout stays the command's one result. On a terminal: one line per item, redrawn in place at
 * most every 200 ms (a drain changes faster than anyone reads, and a redraw per heartbeat of a
 * large fleet would flood a slow terminal). Anywhere else (a pipe, a CI log): one line per
 * change, which reads as a log and never carries cursor movements.
 */

/** The stream a progress view writes to: stderr, or a test's sink. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
}

/**
 * Whether to colour: `NO_COLOR` (any non-empty value) turns colour off; `FORCE_COLOR` turns it
 * on, except `0` or `false`, which also turn it off; otherwise only on a terminal. These are the
 * conventions of no-color.org and of Node's own `FORCE_COLOR`.
 */
export function useColor(stream: { readonly isTTY?: boolean | undefined }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase());
  return stream.isTTY === true;
}

export type Tone = 'plain' | 'good' | 'busy' | 'bad';

const SGR: Readonly<Record<Tone, string>> = { plain: '', good: '\x1b[32m', busy: '\x1b[33m', bad: '\x1b[31m' };

/** `text` in `tone`'s colour when `color`, else unchanged. */
export function paint(text: string, tone: Tone, color: boolean): string {
  return color && tone !== 'plain' ? `${SGR[tone]}${text}\x1b[0m` : text;
}

/** The shortest interval between two redraws on a terminal. */
export const REDRAW_MS = 200;

export interface ProgressViewOptions {
  /** Default: `stream.isTTY`. */
  readonly live?: boolean | undefined;
  /** Default: {@link useColor} for the stream and the environment. */
  readonly color?: boolean | undefined;
}

/** A set of lines, one per key, shown as described in the module comment. */
export class ProgressView {
  readonly #stream: ProgressStream;
  readonly #live: boolean;
  readonly color: boolean;
  readonly #lines = new Map<string, string>();
  /** How many lines the last redraw left on the terminal (the cursor is below them). */
  #drawn = 0;
  #lastDraw = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(stream: ProgressStream, options: ProgressViewOptions = {}) {
    this.#stream = stream;
    this.#live = options.live ?? stream.isTTY === true;
    this.color = options.color ?? useColor(stream);
  }

  /** Sets the line for `key`; the first set of a key adds it below the others. */
  set(key: string, line: string): void {
    if (this.#lines.get(key) === line) return;
    this.#lines.set(key, line);
    if (!this.#live) {
      this.#stream.write(`${line}\n`);
      return;
    }
    const wait = this.#lastDraw + REDRAW_MS - Date.now();
    if (wait <= 0) this.#draw();
    else this.#timer ??= setTimeout(() => this.#draw(), wait);
  }

  /** Draws what is pending now (a terminal shows the final state) and stops redrawing. */
  finish(): void {
    if (this.#live && (this.#timer !== undefined || this.#drawn !== this.#lines.size)) this.#draw();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #draw(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastDraw = Date.now();
    // Up to the first line drawn, then every line cleared and rewritten: lines only get added,
    // so the block only grows.
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
    const body = [...this.#lines.values()].map((l) => `\x1b[2K${l}\n`).join('');
    this.#stream.write(up + body);
    this.#drawn = this.#lines.size;
  }
}
