/**
 * The fleet view's HTML, rendered by the same functions on the server (the first paint, readable
 * without JavaScript) and in the browser (each live change). Pure string functions: no DOM.
 * Everything that comes from the registry goes through {@link escapeHtml}.
 */
import type { InstanceStatus, InstanceView, PageSettings, WorkerView } from './protocol.js';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

export const STATUSES: readonly InstanceStatus[] = ['active', 'draining', 'stopped', 'lost'];

/** The filters of `drainkit registry instances`: status, labels (all must match), host. */
export interface FleetFilter {
  readonly status?: InstanceStatus | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly host?: string | undefined;
}

export function matchesFilter(i: InstanceView, f: FleetFilter): boolean {
  if (f.status !== undefined && i.status !== f.status) return false;
  if (f.host !== undefined && i.host !== f.host) return false;
  return Object.entries(f.labels).every(([k, v]) => i.labels[k] === v);
}

/** Reads a filter from a query string; unknown statuses and malformed labels are reported, not ignored. */
export function parseFilter(params: URLSearchParams): { filter: FleetFilter; errors: string[] } {
  const errors: string[] = [];
  const statusText = params.get('status') ?? '';
  let status: InstanceStatus | undefined;
  if (statusText !== '') {
    if ((STATUSES as readonly string[]).includes(statusText)) status = statusText as InstanceStatus;
    else errors.push(`status got "${statusText}"; accepted: ${STATUSES.join(', ')}`);
  }
  const labels: Record<string, string> = {};
  for (const text of params.getAll('label').flatMap((l) => l.split(/\s+/)).filter((l) => l !== '')) {
    const eq = text.indexOf('=');
    if (eq <= 0) errors.push(`label got "${text}"; accepted: key=value`);
    else labels[text.slice(0, eq)] = text.slice(eq + 1);
  }
  const host = params.get('host') ?? '';
  return { filter: { status, labels, host: host === '' ? undefined : host }, errors };
}

export function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(' ');
}

export function formatMs(ms: number): string {
  // Each unit is chosen by the value as it will be printed, so 999.6 ms reads "1.0 s" (not
  // "1000 ms", beside another phase's "1.0 s") and 119.7 s "2 min 0 s" (not "1 min 60 s").
  if (Math.round(ms) < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (Math.round(ms / 100) < 600) return `${(ms / 1_000).toFixed(1)} s`;
  const totalS = Math.round(ms / 1_000);
  if (totalS < 3_600) return `${Math.floor(totalS / 60)} min ${totalS % 60} s`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/**
 * Time spent in a drain against its budget, "1.2 s of 35 s"; only the time when the instance
 * recorded no budget (versions before it did). A whole number of seconds loses its ".0".
 */
export function drainTime(elapsedMs: number, budgetMs: number | null): string {
  const spent = formatMs(elapsedMs);
  if (budgetMs === null) return spent;
  return `${spent} of ${formatMs(budgetMs).replace(/\.0 s$/, ' s')}`;
}

/**
 * Labels as one chip each (`k=v`, never broken inside), wrapping between chips: a long label set
 * wraps onto lines of whole labels instead of splitting "region=eu-west-1" at its dashes.
 */
export function labelChips(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .map((l) => `<span class="label">${escapeHtml(l)}</span>`)
    .join(' ');
}

/** The filter as a query string (`status=…&label=…&host=…`), so an action can come back to it. */
export function filterQuery(f: FleetFilter): string {
  const q = new URLSearchParams();
  if (f.status !== undefined) q.set('status', f.status);
  const labels = labelText(f.labels);
  if (labels !== '') q.set('label', labels);
  if (f.host !== undefined) q.set('host', f.host);
  return q.toString();
}

/** The hidden field that brings an action's answer back to the page's filters. */
export function backField(f: FleetFilter): string {
  const q = filterQuery(f);
  return q === '' ? '' : `<input type="hidden" name="back" value="${escapeHtml(q)}">`;
}

/** One `<tr>` of the fleet table, with the test hooks monitoring scripts rely on. */
export function renderRow(i: InstanceView, nowMs: number, settings: PageSettings, filter: FleetFilter = { labels: {} }): string {
  const ageMs = nowMs - Date.parse(i.lastHeartbeatAt);
  const live = i.status === 'active' || i.status === 'draining';
  const stale = live && ageMs > settings.staleAfterMs;
  const drainingFor = i.status === 'draining' && i.drainStartedAt !== null ? drainTime(nowMs - Date.parse(i.drainStartedAt), i.drainBudgetMs) : '';
  const name = `${i.host}:${i.port}`;
  const cells = [
    `<td class="name"><a href="/instances/${i.id}">${escapeHtml(name)}</a></td>`,
    `<td class="labels">${labelChips(i.labels)}</td>`,
    `<td>${escapeHtml(i.version ?? '')}</td>`,
    `<td>${i.pid ?? ''}</td>`,
    `<td class="status"><span class="badge ${i.status}">${i.status}</span></td>`,
    `<td class="phase">${escapeHtml(i.phase ?? '')}${drainingFor === '' ? '' : ` <span class="elapsed">for ${drainingFor}</span>`}</td>`,
    `<td class="num inflight">${live ? i.inflight : ''}</td>`,
    `<td class="num persistent">${live ? i.persistent : ''}</td>`,
    `<td class="heartbeat${stale ? ' stale' : ''}">${live ? `${formatMs(ageMs)} ago${stale ? ' (stale)' : ''}` : ''}</td>`,
  ];
  if (!settings.readOnly) cells.push(`<td class="actions">${i.status === 'active' ? drainForm(i, filter) : ''}</td>`);
  const workers = live ? i.workers.map((w) => renderWorkerRow(i, w, nowMs, settings)).join('') : '';
  return `<tr data-instance-id="${i.id}" data-status="${i.status}" data-phase="${escapeHtml(i.phase ?? '')}" data-stale="${stale}"${i.workers.length > 0 ? ` data-workers="${i.workers.length}"` : ''}>${cells.join('')}</tr>${workers}`;
}

/**
 * A cluster worker as a sub-row of its instance (the primary): a reload drains workers one by
 * one while the instance stays active, and this is where that shows.
 */
function renderWorkerRow(i: InstanceView, w: WorkerView, nowMs: number, settings: PageSettings): string {
  const running = w.status !== 'exited';
  const cells = [
    `<td class="name worker-name">worker ${w.workerId}</td>`,
    '<td></td>',
    '<td></td>',
    `<td>${w.pid}</td>`,
    `<td class="status"><span class="badge ${w.status === 'ready' ? 'active' : w.status === 'exited' ? 'stopped' : w.status}">${w.status}</span></td>`,
    `<td class="phase">${workerPhase(w)}</td>`,
    `<td class="num inflight">${running ? w.inflight : ''}</td>`,
    `<td class="num persistent">${running ? w.persistent : ''}</td>`,
    `<td class="heartbeat">${formatMs(nowMs - Date.parse(w.updatedAt))} ago</td>`,
  ];
  if (!settings.readOnly) cells.push('<td></td>');
  return `<tr class="worker" data-worker-of="${i.id}" data-worker-pid="${w.pid}" data-status="${w.status}" data-phase="${escapeHtml(w.phase ?? '')}">${cells.join('')}</tr>`;
}

/**
 * A worker's phase. Draining without one is the moment between the primary's drain order and the
 * worker's first phase report (an IPC round trip), which a heartbeat write can catch and the page
 * then shows until the next one; a worker in Node's disconnect mode never reports phases.
 */
function workerPhase(w: WorkerView): string {
  if (w.phase !== null || w.status !== 'draining') return escapeHtml(w.phase ?? '');
  return w.mode === 'disconnect'
    ? '<span class="muted" title="Node\'s disconnect: this worker reports no drain phases">disconnecting</span>'
    : '<span class="muted" title="the primary ordered the drain; the worker has not reported its first phase yet">drain ordered</span>';
}

function drainForm(i: InstanceView, filter: FleetFilter): string {
  return `<form method="post" action="/actions/drain" class="drain">`
    + `<input type="hidden" name="instance" value="${i.id}">`
    + `<input type="hidden" name="generation" value="${i.generation}">${backField(filter)}`
    + `<input name="reason" required maxlength="1000" placeholder="reason (required)" aria-label="reason to drain ${escapeHtml(`${i.host}:${i.port}`)}">`
    // Who asks: recorded with the request ("dashboard user" when empty); the page's module
    // remembers it in localStorage so an operator types it once.
    + `<input name="by" maxlength="200" placeholder="you (optional)" autocomplete="username" aria-label="who asks to drain ${escapeHtml(`${i.host}:${i.port}`)}">`
    + `<label><input type="checkbox" name="force" value="1"> even if last of its group</label>`
    + `<button type="submit">Drain</button></form>`;
}

export function renderRows(instances: readonly InstanceView[], filter: FleetFilter, nowMs: number, settings: PageSettings): string {
  const shown = instances.filter((i) => matchesFilter(i, filter));
  if (shown.length === 0) {
    const cols = settings.readOnly ? 9 : 10;
    return `<tr class="empty"><td colspan="${cols}">${instances.length === 0 ? 'No instance has reported to this registry yet.' : 'No instance matches the filters.'}</td></tr>`;
  }
  return shown.map((i) => renderRow(i, nowMs, settings, filter)).join('');
}

/** Counts per status, then per label (key=value), of every instance (filters do not apply). */
export function renderSummary(instances: readonly InstanceView[]): string {
  const byStatus = STATUSES.map((s) => `<li data-count-status="${s}"><a href="/?status=${s}"><span class="badge ${s}">${s}</span> <b>${instances.filter((i) => i.status === s).length}</b></a></li>`);
  const groups = new Map<string, { active: number; total: number }>();
  for (const i of instances) {
    for (const [k, v] of Object.entries(i.labels)) {
      const g = groups.get(`${k}=${v}`) ?? { active: 0, total: 0 };
      g.total += 1;
      if (i.status === 'active') g.active += 1;
      groups.set(`${k}=${v}`, g);
    }
  }
  const byGroup = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, g]) =>
    `<li data-count-label="${escapeHtml(label)}"><a href="/?label=${encodeURIComponent(label)}">${escapeHtml(label)}</a> <b>${g.active}</b> active of ${g.total}</li>`);
  return `<ul class="counts">${byStatus.join('')}<li class="total">total <b>${instances.length}</b></li></ul>`
    + (byGroup.length === 0 ? '' : `<ul class="groups">${byGroup.join('')}</ul>`);
}
