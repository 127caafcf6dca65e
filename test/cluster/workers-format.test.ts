/**
 * The text of a cluster's workers for `registry instances`: the summary and the table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workersSummary, workersTable } from '../../src/cli/cluster-workers.js';
import type { ClusterWorkerRow } from '../../src/registry/index.js';

const now = new Date('2026-12-01T12:00:00Z');
function worker(over: Partial<ClusterWorkerRow>): ClusterWorkerRow {
  return {
    instanceId: 1, generation: 1, workerId: 1, pid: 100, status: 'ready', mode: 'drainkit', phase: null, inflight: 0, persistent: 0,
    startedAt: new Date(now.getTime() - 65_000), updatedAt: now, exitedAt: null, exitCode: null, exitSignal: null, instanceStatus: 'active', ...over,
  };
}

describe('cluster workers as text', () => {
  it('summarises live workers by status, leaving exited ones out; a stopped instance says so', () => {
    const ws = [worker({ workerId: 1 }), worker({ workerId: 2 }), worker({ workerId: 3, status: 'draining', phase: 'waiting' }), worker({ workerId: 4, status: 'exited', exitCode: 0 })];
    assert.equal(workersSummary(ws), '2 ready, 1 draining');
    assert.equal(workersSummary([]), '-');
    assert.equal(workersSummary([worker({ status: 'exited' })]), 'none live');
    assert.equal(workersSummary(ws.map((w) => ({ ...w, instanceStatus: 'stopped' as const }))), 'stopped (4 ran)');
  });

  it('tabulates the workers with their exit, or only the live ones', () => {
    const ws = [worker({ workerId: 1, pid: 101, inflight: 3 }), worker({ workerId: 2, pid: 102, status: 'exited', exitSignal: 'SIGKILL' }), worker({ workerId: 3, pid: 103, status: 'exited', exitCode: 0 })];
    const lines = workersTable(ws, now).split('\n');
    assert.match(lines[0]!, /^WORKER\s+PID\s+STATUS\s+MODE\s+PHASE\s+INFLIGHT\s+PERSISTENT\s+STARTED\s+EXIT$/);
    assert.match(lines[1]!, /^1\s+101\s+ready\s+drainkit\s+-\s+3\s+0\s+1m 05s ago\s+-$/);
    assert.match(lines[2]!, /SIGKILL$/);
    assert.match(lines[3]!, /code 0$/);
    assert.equal(workersTable(ws, now, { includeExited: false }).split('\n').length, 2);
  });
});
