/**
 * The demo's report as people read it (the CLI prints it on stdout; `--json` prints the
 * {@link DemoReport} itself instead), and the one-line status shown while it runs.
 */
import type { DemoReport, DemoStatus } from './run.js';
import type { WorkerDrainRecord } from './drains.js';

/** Drains listed one per line; older ones are summed up in one line above them. */
const LISTED_DRAINS = 24;

export function ms(n: number | undefined): string {
  if (n === undefined) return 'n/a';
  if (n >= 10_000) return `${(n / 1_000).toFixed(1)} s`;
  if (n >= 1_000) return `${(n / 1_000).toFixed(2)} s`;
  if (n >= 10) return `${Math.round(n)} ms`;
  return `${n.toFixed(1)} ms`;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function failures(byKind: Readonly<Record<string, number>>): string {
  const kinds = Object.entries(byKind).map(([k, n]) => `${k} ×${n}`);
  return kinds.length === 0 ? '' : ` (${kinds.join(', ')})`;
}

export function statusLine(s: DemoStatus): string {
  const p = s.persistent;
  return [
    `${(s.elapsedMs / 1_000).toFixed(0).padStart(4)} s`,
    `sent ${s.http.sent}`,
    `failed ${s.failed}`,
    `reloads ${s.reloads}${s.reloading ? ' (reloading…)' : ''}`,
    `ws ${p.websocket.closedProperly} closed/reconnected`,
    `sse ${p.sse.closedProperly} closed/reconnected`,
    `p99 ${ms(s.http.latencyMs.p99)}`,
  ].join('   ');
}

function drainLine(d: WorkerDrainRecord): string {
  const who = d.newPid === undefined ? `pid ${d.pid}` : `pid ${d.pid} → ${d.newPid}`;
  const how = d.success ? `${d.outcome} in ${ms(d.durationMs)}` : `NOT DRAINED (${d.outcome}${d.forcedBy === null ? '' : `, forced by ${d.forcedBy}`}; exit ${d.exit.signal ?? d.exit.code ?? '?'}) after ${ms(d.durationMs)}`;
  const phases = d.phases.length === 0 ? 'no phases reported' : d.phases.map((p) => `${p.phase} ${ms(p.durationMs)}`).join(' · ');
  const window = d.window === undefined ? '' : ` (window: ${d.window.endedBy})`;
  return `    ${who.padEnd(18)} ${how}: ${phases}${window}`;
}

export function formatReport(r: DemoReport): string {
  const h = r.http;
  const p = r.persistent;
  const lines: string[] = [];
  const reloadsOk = r.history.reloads.filter((x) => x.ok).length;
  lines.push(`drainkit demo: load ran ${ms(r.durationMs)}, ${count(r.workers, 'worker')}, ${r.rate} req/s, ${count(reloadsOk, 'rolling reload')}${r.failedReloads > 0 ? ` (${r.failedReloads} aborted)` : ''}; ended by ${r.endedBy === 'signal' ? 'a signal' : '--duration'}`);
  lines.push('');
  lines.push(`  requests   ${h.sent} sent (GET /, POST /publish with a body, GET /work?ms=100), ${h.failed} failed${failures(h.failures)}${h.skipped > 0 ? `, ${h.skipped} not sent (the client was behind)` : ''}`);
  lines.push(`  latency    p50 ${ms(h.latencyMs.p50)}, p99 ${ms(h.latencyMs.p99)} (GET / and POST; the /work requests wait on purpose); the clients' own event loop ran up to ${ms(r.clientLoopDelayMs.p99)} late (p99), ${ms(r.clientLoopDelayMs.max)} at worst`);
  lines.push(`  websocket  ${count(p.websocket.clients, 'client')}: ${p.websocket.closedProperly} closed with 1000/1001 and reconnected, ${p.websocket.echoes} echoes, ${p.websocket.failed} failed${failures(p.websocket.failures)}`);
  lines.push(`  sse        ${count(p.sse.clients, 'client')}: ${p.sse.closedProperly} streams ended with a retry hint and reconnected, ${p.sse.events} events, ${p.sse.failed} failed${failures(p.sse.failures)}`);
  lines.push('');
  const drains = r.history.drains;
  lines.push(`Drains, as the registry recorded them (${count(drains.length, 'worker drain')}):`);
  const hidden = Math.max(0, drains.length - LISTED_DRAINS);
  if (hidden > 0) {
    const older = drains.slice(0, hidden);
    const done = older.filter((d) => d.success).length;
    lines.push(`  … ${hidden} earlier: ${done} completed, ${hidden - done} not drained; longest ${ms(Math.max(...older.map((d) => d.durationMs)))}`);
  }
  let during: WorkerDrainRecord['during'] | undefined;
  for (const d of drains.slice(hidden)) {
    if (d.during !== during) {
      during = d.during;
      const reload = typeof during === 'number' ? r.history.reloads[during - 1] : undefined;
      lines.push(reload === undefined ? '  final stop' : `  reload ${reload.n} at ${reload.at.slice(11, 19)} UTC: ${count(reload.replaced, 'worker')} replaced in ${ms(reload.durationMs)}${reload.ok ? '' : `, ABORTED: ${reload.reason ?? 'no reason given'}`}`);
    }
    lines.push(drainLine(d));
  }
  lines.push('');
  lines.push(r.ok ? `Result: ${r.failed} failed requests or connections, every drain completed.` : `Result: FAILED: ${r.failed} failed requests or connections, ${r.forcedDrains} drains not completed, ${r.failedReloads} reloads aborted.`);
  return `${lines.join('\n')}\n`;
}
