/** The fleet rows as the server and the browser module both render them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMs, renderRows } from '../../src/dashboard/browser/render.js';
import type { InstanceView } from '../../src/dashboard/browser/protocol.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');
const base: InstanceView = {
  id: 7, host: 'vm', port: 8080, status: 'active', phase: null, inflight: 2, persistent: 1, pid: 4242, version: '1.0.0',
  labels: { app: 'web' }, generation: 3, drainStartedAt: null, drainedAt: null, drainBudgetMs: null, lastHeartbeatAt: new Date(NOW - 1_000).toISOString(), workers: [],
};
const settings = { readOnly: false, staleAfterMs: 15_000 };

describe('fleet rows', () => {
  it('a drain form asks who (optional) and brings the answer back to the page\'s filters', () => {
    const html = renderRows([base], { status: 'active', labels: { app: 'web' }, host: undefined }, NOW, settings);
    assert.match(html, /<input name="by" maxlength="200" placeholder="you \(optional\)"/);
    assert.doesNotMatch(html, /name="by"[^>]*required/, 'who asks is optional');
    assert.match(html, /<input type="hidden" name="back" value="status=active&amp;label=app%3Dweb">/);
  });

  it('a cluster instance has its workers as sub-rows with their hooks', () => {
    const cluster: InstanceView = { ...base, workers: [
      { workerId: 1, pid: 101, status: 'draining', mode: 'drainkit', phase: 'waiting', inflight: 1, persistent: 0, updatedAt: new Date(NOW - 200).toISOString() },
      { workerId: 4, pid: 104, status: 'ready', mode: 'drainkit', phase: null, inflight: 0, persistent: 0, updatedAt: new Date(NOW - 200).toISOString() },
    ] };
    const html = renderRows([cluster], { labels: {} }, NOW, settings);
    assert.match(html, /<tr data-instance-id="7" data-status="active"[^>]*data-workers="2">/);
    assert.match(html, /<tr class="worker" data-worker-of="7" data-worker-pid="101" data-status="draining" data-phase="waiting">/);
    assert.match(html, /<tr class="worker" data-worker-of="7" data-worker-pid="104" data-status="ready" data-phase="">/);
    const stopped = renderRows([{ ...cluster, status: 'stopped' }], { labels: {} }, NOW, settings);
    assert.doesNotMatch(stopped, /class="worker"/, 'a stopped cluster lists no workers');
  });

  it('a draining worker that has not reported its first phase says so instead of an empty cell', () => {
    const worker = { workerId: 2, pid: 102, status: 'draining' as const, mode: 'drainkit' as const, phase: null, inflight: 1, persistent: 0, updatedAt: new Date(NOW - 200).toISOString() };
    const phaseCell = (html: string): string => /data-worker-pid="102"[^>]*>(?:<td[^>]*>.*?<\/td>){5}<td class="phase">(.*?)<\/td>/.exec(html)?.[1] ?? '(no phase cell)';
    const ordered = renderRows([{ ...base, workers: [worker] }], { labels: {} }, NOW, settings);
    assert.match(ordered, /data-worker-pid="102" data-status="draining" data-phase=""/, 'the hook stays the registry\'s phase');
    assert.match(phaseCell(ordered), /drain ordered/);
    const disconnect = renderRows([{ ...base, workers: [{ ...worker, mode: 'disconnect' as const }] }], { labels: {} }, NOW, settings);
    assert.match(phaseCell(disconnect), /disconnecting/);
    const ready = renderRows([{ ...base, workers: [{ ...worker, status: 'ready' as const }] }], { labels: {} }, NOW, settings);
    assert.equal(phaseCell(ready), '');
  });
});

describe('durations', () => {
  it('picks the unit by the value as printed: no "1000 ms" beside "1.0 s", no "1 min 60 s"', () => {
    assert.deepEqual(
      [0, 3.4, 999.4, 999.6, 1_000, 1_049, 59_940, 59_960, 60_000, 119_700, 3_599_400, 3_599_600, 5_400_000].map(formatMs),
      ['0 ms', '3 ms', '999 ms', '1.0 s', '1.0 s', '1.0 s', '59.9 s', '1 min 0 s', '1 min 0 s', '2 min 0 s', '59 min 59 s', '1.0 h', '1.5 h'],
    );
  });
});
