/**
 * The progress view of the commands that wait, and the colour rules every command shares:
 * colour only on a terminal, NO_COLOR and FORCE_COLOR honoured; on a terminal one line per item
 * redrawn in place at most every 200 ms, elsewhere one line per change. The stream here is a
 * plain sink that records what was written (what a terminal or pipe would receive).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressView, REDRAW_MS, paint, useColor } from '../../src/cli/progress.js';
import { waitFor } from '../helpers/deadline.js';

function sink(isTTY: boolean): { isTTY: boolean; chunks: string[]; write(text: string): void } {
  const chunks: string[] = [];
  return { isTTY, chunks, write: (text: string) => void chunks.push(text) };
}

describe('useColor', () => {
  const cases: [string, boolean, NodeJS.ProcessEnv, boolean][] = [
    ['a terminal', true, {}, true],
    ['a pipe', false, {}, false],
    ['a terminal with NO_COLOR', true, { NO_COLOR: '1' }, false],
    ['a terminal with an empty NO_COLOR (unset, by the convention)', true, { NO_COLOR: '' }, true],
    ['a pipe with FORCE_COLOR=1', false, { FORCE_COLOR: '1' }, true],
    ['a pipe with an empty FORCE_COLOR', false, { FORCE_COLOR: '' }, true],
    ['a terminal with FORCE_COLOR=0', true, { FORCE_COLOR: '0' }, false],
    ['a terminal with FORCE_COLOR=false', true, { FORCE_COLOR: 'false' }, false],
    ['a pipe with both: NO_COLOR wins', false, { FORCE_COLOR: '1', NO_COLOR: '1' }, false],
  ];
  for (const [what, isTTY, env, expected] of cases) {
    it(`${what}: ${expected ? 'colour' : 'no colour'}`, () => {
      assert.equal(useColor({ isTTY }, env), expected);
    });
  }

  it('paint adds SGR codes only when colouring, and never for plain text', () => {
    assert.equal(paint('ok', 'good', true), '\x1b[32mok\x1b[0m');
    assert.equal(paint('ok', 'good', false), 'ok');
    assert.equal(paint('ok', 'plain', true), 'ok');
  });
});

describe('ProgressView', () => {
  it('on a pipe: one line per change, repeats dropped, no cursor movement', () => {
    const out = sink(false);
    const view = new ProgressView(out, { color: false });
    view.set('a', 'a: draining');
    view.set('a', 'a: draining');
    view.set('b', 'b: waiting');
    view.set('a', 'a: stopped');
    view.finish();
    assert.deepEqual(out.chunks, ['a: draining\n', 'b: waiting\n', 'a: stopped\n']);
  });

  it('on a terminal: draws at once, coalesces changes within 200 ms into one redraw, and redraws the block in place', async () => {
    const out = sink(true);
    const view = new ProgressView(out, { color: false });
    view.set('a', 'a: waiting');
    assert.deepEqual(out.chunks, ['\x1b[2Ka: waiting\n'], 'the first state is shown at once');
    // Many changes right after: none drawn until the interval has passed, then the last state.
    for (let n = 0; n < 50; n += 1) view.set('a', `a: ${n} in flight`);
    view.set('b', 'b: waiting');
    assert.equal(out.chunks.length, 1, 'no redraw within the interval');
    await waitFor('the coalesced redraw', () => out.chunks.length === 2, 10 * REDRAW_MS);
    // Up one line (what was drawn), then both lines cleared and written again.
    assert.equal(out.chunks[1], '\x1b[1F\x1b[2Ka: 49 in flight\n\x1b[2Kb: waiting\n');
    view.set('b', 'b: stopped');
    view.finish();
    assert.equal(out.chunks.at(-1), '\x1b[2F\x1b[2Ka: 49 in flight\n\x1b[2Kb: stopped\n', 'finish shows the final state at once');
    const count = out.chunks.length;
    await new Promise((r) => setTimeout(r, 2 * REDRAW_MS));
    assert.equal(out.chunks.length, count, 'nothing drawn after finish');
  });

  it('follows the stream: live on a terminal, plain elsewhere, unless told', () => {
    const tty = sink(true);
    new ProgressView(tty, { color: false }).set('a', 'x');
    assert.deepEqual(tty.chunks, ['\x1b[2Kx\n']);
    const forcedPlain = sink(true);
    new ProgressView(forcedPlain, { live: false, color: false }).set('a', 'x');
    assert.deepEqual(forcedPlain.chunks, ['x\n']);
  });
});
