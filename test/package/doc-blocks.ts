/**
 * The TypeScript blocks of the Markdown docs, as the README test checks them. Conventions, each
 * an HTML comment on the line(s) just before a ```ts fence (invisible when rendered):
 *
 * - none: the block is a complete module and must compile as it is;
 * - `<!-- prelude: <TypeScript> -->`: the block is a fragment; it is compiled with that
 *   TypeScript in front of it (declarations of what the surrounding text assumes, e.g.
 *   `declare const server: http.Server;`), so it is still type-checked;
 * - `<!-- run: <name> -->`: a complete program that the test also runs (the quick start);
 * - `<!-- snippet -->`: not checked at all. Keep these rare: a prelude almost always works.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface DocBlock {
  /** The Markdown file, as given. */
  readonly file: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  readonly line: number;
  readonly code: string;
  /** TypeScript placed before the block when it is compiled (may be empty). */
  readonly prelude: string;
  /** The name from `<!-- run: name -->`, if the block is a runnable program. */
  readonly run: string | undefined;
  /** True for `<!-- snippet -->` blocks, which are not compiled. */
  readonly unchecked: boolean;
  /** A file name for the block, unique per document and line: `README-L42.ts`. */
  readonly fileName: string;
}

const FENCE = /^```(\w*)\s*$/;
const COMMENT_END = /-->\s*$/;

/** Every ```ts / ```typescript block of a Markdown file, with its marker comment if any. */
export function extractBlocks(file: string): DocBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i] ?? '');
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${file}:${i + 1}: a code fence is never closed`);
    const language = fence[1] ?? '';
    if (language === 'ts' || language === 'typescript') {
      const marker = markerBefore(lines, i);
      const slug = basename(file).replace(/\.md$/, '');
      blocks.push({
        file,
        line: i + 2,
        code: lines.slice(i + 1, end).join('\n'),
        prelude: marker.prelude,
        run: marker.run,
        unchecked: marker.unchecked,
        fileName: `${slug}-L${i + 2}.ts`,
      });
    }
    i = end;
  }
  return blocks;
}

/** The marker comment ending on the line just before line `fenceIndex`, if there is one. */
function markerBefore(lines: readonly string[], fenceIndex: number): { prelude: string; run: string | undefined; unchecked: boolean } {
  const none = { prelude: '', run: undefined, unchecked: false };
  const last = fenceIndex - 1;
  if (last < 0 || !COMMENT_END.test(lines[last] ?? '')) return none;
  let first = last;
  while (first >= 0 && !(lines[first] ?? '').trimStart().startsWith('<!--')) first--;
  if (first < 0) return none;
  const text = lines.slice(first, last + 1).join('\n').trim().replace(/^<!--/, '').replace(/-->$/, '').trim();
  if (text === 'snippet') return { ...none, unchecked: true };
  const run = /^run:\s*([\w-]+)$/.exec(text);
  if (run) return { ...none, run: run[1] };
  const prelude = /^prelude:\s*([\s\S]*)$/.exec(text);
  if (prelude) return { ...none, prelude: (prelude[1] ?? '').trim() };
  throw new Error(`unknown marker comment before a ts block: <!-- ${text} --> (accepted: prelude: …, run: <name>, snippet)`);
}

/**
 * The source of a block as compiled: its prelude on the first line (so a block's line N is the
 * compiled file's line N + 1 with a prelude, N without), then the block.
 */
export function blockSource(block: DocBlock): string {
  const prelude = block.prelude.replace(/\s*\n\s*/g, ' ');
  return prelude ? `${prelude}\n${block.code}\n` : `${block.code}\n`;
}

/**
 * Rewrites tsc's `snippets/README-L42.ts(3,5): error …` lines to `README.md:44:5: error …` so a
 * failure names the line of the document to fix.
 */
export function mapDiagnostics(output: string, blocks: readonly DocBlock[]): string {
  return output
    .split('\n')
    .map((line) => {
      const match = /^(?:\S*\/)?([\w.-]+-L\d+\.ts)\((\d+),(\d+)\): (.*)$/.exec(line);
      const block = match ? blocks.find((b) => b.fileName === match[1]) : undefined;
      if (!match || !block) return line;
      const offset = block.prelude ? 1 : 0;
      const row = Number(match[2]) - offset;
      const where = row >= 1 ? `${block.file}:${block.line + row - 1}:${match[3]}` : `${block.file}:${block.line} (prelude)`;
      return `${where}: ${match[4]}`;
    })
    .join('\n');
}
