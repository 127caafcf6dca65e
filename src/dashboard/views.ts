/** The audit view and the drain view, rendered on the server from the registry. */
import type { Store } from '../registry/driver.js';
import { getInstance, listEvents, type Instance } from '../registry/fleet.js';
import { eventPage, listDrainRequests, listEventTypes, listLostInstanceIds } from '../registry/fleet-view.js';
import { drainTime, escapeHtml, formatMs, labelText } from './browser/render.js';
import { drainStory, type CountPoint, type DrainStory, type PhaseSpan } from './drain-story.js';
import { toView } from './feed.js';
import { notice } from './pages.js';

interface AuditRow {
  readonly at: Date;
  readonly instanceId: number | null;
  readonly kind: string;
  readonly text: string;
}

function parseTime(name: string, text: string | null, errors: string[]): Date | undefined {
  if (text === null || text === '') return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    errors.push(`${name} got ${JSON.stringify(text)}; accepted: a date and time such as 2026-12-01T10:00:00Z`);
    return undefined;
  }
  return d;
}

/** The event types drainkit writes, offered even before a registry has recorded one. */
const KNOWN_EVENT_TYPES = ['registered', 'drain_requested', 'drain_start', 'window_end', 'listener_closed', 'persistent_notified', 'waiting', 'forced', 'cleanup', 'drain_complete', 'lost', 'reload_start', 'reload_complete', 'worker_exit', 'worker_restart', 'crash_loop'];
const AUDIT_LIMIT = 500;
const AUDIT_LIMIT_MAX = 5_000;

/** Details as JSON with measured floats rounded (1005.3691199999994 → 1005.4). */
export function detailsJson(details: Record<string, unknown> | null): string {
  return JSON.stringify(details ?? {}, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v));
}

/** Short details inline; long ones folded under their first characters. */
function detailsCell(textValue: string): string {
  if (textValue.length <= 160) return escapeHtml(textValue);
  return `<details><summary>${escapeHtml(textValue.slice(0, 120))}…</summary><pre>${escapeHtml(textValue)}</pre></details>`;
}

/** Drain events and drain requests merged, newest first, filtered by instance, type and time. */
export async function auditBody(store: Store, params: URLSearchParams): Promise<{ body: string; errors: string[] }> {
  const errors: string[] = [];
  const instanceText = params.get('instance') ?? '';
  const instanceId = instanceText === '' ? undefined : Number(instanceText);
  if (instanceId !== undefined && (!Number.isInteger(instanceId) || instanceId < 1)) errors.push(`instance got ${JSON.stringify(instanceText)}; accepted: an instance id`);
  const type = params.get('type') ?? '';
  const types = [...new Set([...KNOWN_EVENT_TYPES, ...(await listEventTypes(store))])].sort();
  if (type !== '' && type !== 'request' && !types.includes(type)) errors.push(`type got ${JSON.stringify(type)}; accepted: request, ${types.join(', ')}`);
  const limitText = params.get('limit') ?? '';
  const limit = limitText === '' ? AUDIT_LIMIT : Number(limitText);
  if (!/^\d*$/.test(limitText) || !Number.isInteger(limit) || limit < 1 || limit > AUDIT_LIMIT_MAX) errors.push(`limit got ${JSON.stringify(limitText)}; accepted: an integer from 1 to ${AUDIT_LIMIT_MAX}`);
  const since = parseTime('since', params.get('since'), errors);
  const until = parseTime('until', params.get('until'), errors);
  const typeOptions = ['', 'request', ...types].map((t) => `<option value="${escapeHtml(t)}"${t === type ? ' selected' : ''}>${t === '' ? 'any type' : t === 'request' ? 'request (drain requests)' : escapeHtml(t)}</option>`).join('');
  const filterForm = `<form class="filters" method="get" action="/audit">
<input name="instance" placeholder="instance id" value="${escapeHtml(instanceText)}" aria-label="instance id">
<select name="type" aria-label="type">${typeOptions}</select>
<input name="since" placeholder="since (ISO time)" value="${escapeHtml(params.get('since') ?? '')}" aria-label="since">
<input name="until" placeholder="until (ISO time)" value="${escapeHtml(params.get('until') ?? '')}" aria-label="until">
${limitText === '' ? '' : `<input type="hidden" name="limit" value="${escapeHtml(limitText)}">`}<button type="submit">Filter</button></form>`;
  if (errors.length > 0) return { body: `<h2>Audit</h2>${notice(`Filters not applied: ${errors.join('; ')}`, 'error')}${filterForm}`, errors };
  const id = instanceId !== undefined && Number.isInteger(instanceId) ? instanceId : undefined;
  const wantRequests = type === '' || type === 'request';
  const [page, requests] = await Promise.all([
    type === 'request' ? { events: [], total: 0 } : eventPage(store, { instanceId: id, types: type === '' ? undefined : [type], since, until, limit }),
    wantRequests ? listDrainRequests(store, { instanceId: id, since, until, limit }) : [],
  ]);
  const rows: AuditRow[] = [
    ...page.events.map((e) => ({ at: e.timestamp, instanceId: e.instanceId, kind: e.eventType, text: detailsJson(e.details) })),
    ...requests.map((r) => ({
      at: r.requestedAt,
      instanceId: r.instanceId,
      kind: 'request',
      text: `by ${r.requestedBy}: ${r.reason} (${r.outcome === null ? 'pending' : `${r.outcome} at ${r.acknowledgedAt?.toISOString() ?? '?'}`})`,
    })),
  ].sort((a, b) => b.at.getTime() - a.at.getTime());
  // Each source gives its newest `limit`: when one was cut, only rows newer than the older of the
  // two cut-off points are complete; show those, and link to the page before them.
  const cutoffs = [page.events.length === limit ? page.events.at(-1)?.timestamp : undefined, requests.length === limit ? requests.at(-1)?.requestedAt : undefined].filter((d): d is Date => d !== undefined);
  const cutoff = cutoffs.length === 0 ? undefined : new Date(Math.max(...cutoffs.map((d) => d.getTime())));
  const shown = cutoff === undefined ? rows : rows.filter((r) => r.at.getTime() >= cutoff.getTime());
  let more = '';
  if (cutoff !== undefined) {
    const older = new URLSearchParams(params);
    older.set('until', cutoff.toISOString());
    const bigger = new URLSearchParams(params);
    bigger.set('limit', String(Math.min(AUDIT_LIMIT_MAX, limit * 4)));
    more = `<p class="notice" id="audit-more">Showing the newest ${shown.length} (${page.total > page.events.length ? `${page.total} events match in all; ` : ''}at most ${limit} per source). <a href="/audit?${escapeHtml(older.toString())}">Older</a>${limit < AUDIT_LIMIT_MAX ? ` · <a href="/audit?${escapeHtml(bigger.toString())}">show up to ${Math.min(AUDIT_LIMIT_MAX, limit * 4)}</a>` : ''}</p>`;
  }
  const body = shown.length === 0
    ? '<p class="muted">Nothing recorded matches.</p>'
    : `<table id="audit"><thead><tr><th>time</th><th>instance</th><th>type</th><th>details</th></tr></thead><tbody>${shown.map((r) =>
      `<tr data-kind="${escapeHtml(r.kind)}" data-instance-id="${r.instanceId ?? ''}"><td>${r.at.toISOString()}</td><td>${r.instanceId === null ? '' : `<a href="/instances/${r.instanceId}">${r.instanceId}</a>`}</td><td>${escapeHtml(r.kind)}</td><td class="details">${detailsCell(r.text)}</td></tr>`).join('')}</tbody></table>`;
  // Live unless it ends at a fixed time: the page's module fetches it again (?fragment=1) when
  // the feed brings new events (of the filtered instance, when one is), the filter form kept.
  const src = new URLSearchParams(params);
  src.set('fragment', '1');
  const follow = until === undefined ? ` data-follow="events" data-instance-id="${id ?? ''}" data-src="/audit?${escapeHtml(src.toString())}"` : '';
  return { body: `<h2>Audit</h2>${filterForm}<div id="audit-view"${follow}>${more}${body}</div>`, errors };
}

export interface DrainDocument {
  readonly instance: ReturnType<typeof toView>;
  readonly drain: DrainStory | null;
  readonly events: readonly { id: number; type: string; at: string; details: Record<string, unknown> | null }[];
}

async function load(store: Store, id: number, generation: number | undefined): Promise<{ instance: Instance; lost: boolean; doc: DrainDocument } | undefined> {
  const instance = await getInstance(store, id);
  if (instance === undefined) return undefined;
  const gen = generation ?? instance.generation;
  const [events, lost] = await Promise.all([listEvents(store, { instanceId: id, generation: gen, limit: 10_000 }), listLostInstanceIds(store)]);
  const current = toView(instance, lost.has(id));
  // An earlier registration is another process: its pid, version and labels are those its
  // `registered` event (or its drain_start) recorded, and it is over.
  const registered = events.find((e) => e.eventType === 'registered')?.details ?? {};
  const pidOf = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  const view = gen === instance.generation ? current : {
    ...current,
    generation: gen,
    status: events.some((e) => e.eventType === 'lost') ? 'lost' as const : 'stopped' as const,
    phase: null,
    pid: pidOf(registered.pid) ?? pidOf(events.find((e) => e.eventType === 'drain_start')?.details?.pid),
    version: typeof registered.version === 'string' ? registered.version : null,
    labels: typeof registered.labels === 'object' && registered.labels !== null ? registered.labels as Record<string, string> : current.labels,
    workers: [],
  };
  return {
    instance,
    lost: lost.has(id),
    doc: {
      instance: view,
      drain: drainStory(events, Date.now()) ?? null,
      events: events.map((e) => ({ id: e.id, type: e.eventType, at: e.timestamp.toISOString(), details: e.details })),
    },
  };
}

export async function drainDocument(store: Store, id: number, generation: number | undefined): Promise<DrainDocument | undefined> {
  return (await load(store, id, generation))?.doc;
}

export async function drainBody(store: Store, id: number, generation: number | undefined): Promise<string | undefined> {
  const loaded = await load(store, id, generation);
  if (loaded === undefined) return undefined;
  const { instance: i, doc } = loaded;
  const gen = generation ?? i.generation;
  const gens = Array.from({ length: i.generation }, (_, k) => k + 1).reverse().slice(0, 20)
    .map((g) => (g === gen ? `<b>${g}</b>` : `<a href="/instances/${i.id}?generation=${g}">${g}</a>`)).join(' ');
  const v = doc.instance;
  const head = `<h2>${escapeHtml(`${i.host}:${i.port}`)} <span class="badge ${v.status}">${v.status}</span>${gen === i.generation ? '' : ` <span class="muted">registration ${gen} (the current one is ${i.generation})</span>`}</h2>
<dl class="facts"><dt>labels</dt><dd>${escapeHtml(labelText(v.labels)) || '<span class="muted">none</span>'}</dd><dt>version</dt><dd>${escapeHtml(v.version ?? '')}</dd><dt>pid</dt><dd>${v.pid ?? ''}</dd>
<dt>registrations</dt><dd>${gens}</dd></dl>`;
  const d = doc.drain;
  const json = `<p><a href="/instances/${i.id}/drain.json?generation=${gen}" download>Download this drain as JSON</a> · <a href="/audit?instance=${i.id}">Audit of this instance</a></p>`;
  const workerDrains = reloadsSection(doc.events);
  // The page's module fetches this again (data-src: ?fragment=1, the same generation, so a
  // restarted instance does not replace the drain the page is about) when the feed says the
  // instance changed, and puts it in place: one renderer for the first paint and every update.
  const wrap = (inner: string): string => `<div id="drain-view" data-follow="instance" data-instance-id="${i.id}" data-generation="${gen}" data-src="/instances/${i.id}?generation=${gen}&amp;fragment=1">${inner}</div>`;
  if (d === null) return wrap(`${head}<p class="muted" id="no-drain">Registration ${gen} has not drained${workerDrains === '' ? '' : ' (its cluster replaced workers: below)'}.</p>${json}${workerDrains}`);
  // The budget the instance recorded when this drain started (absent before drainkit wrote it).
  const recorded = doc.events.filter((e) => e.type === 'drain_start').at(-1)?.details?.budgetMs;
  const budgetMs = typeof recorded === 'number' && Number.isFinite(recorded) && recorded >= 0 ? recorded : null;
  const outcome = d.outcome === null ? 'still running' : escapeHtml(outcomeText(d.outcome));
  const outcomeCode = d.outcome === null ? '' : escapeHtml(text(d.outcome.outcome ?? ''));
  // While the drain runs, the instance's row holds its counts of the last heartbeat: they are the
  // chart's last point (the events hold only those at each phase's start) and a fact of their own.
  const liveCounts = d.running && gen === i.generation && v.status === 'draining';
  const counts = liveCounts ? [...d.counts, { atMs: d.elapsedMs, inflight: v.inflight, persistent: v.persistent }] : d.counts;
  // Without the module (no JavaScript) the page is drawn once: it says so while the drain runs.
  const running = d.running ? '<noscript><p class="notice running" id="drain-running">Running — this page shows the drain as of when it was drawn; reload to refresh.</p></noscript>' : '';
  return wrap(`${head}${running}
<section id="drain" data-running="${d.running}" data-phases="${escapeHtml(d.phases.map((p) => p.phase).join(' '))}" data-outcome="${outcomeCode}">
<p class="summary" id="drain-summary">${escapeHtml(d.summary)}</p>
<dl class="facts">
<dt>asked by</dt><dd>${d.cause.requestedBy === null ? '<span class="muted">no drain request (the process itself)</span>' : escapeHtml(d.cause.requestedBy)}</dd>
<dt>why</dt><dd>${escapeHtml(d.cause.reason)}</dd>
<dt>started</dt><dd>${d.startedAt}</dd>
<dt>window</dt><dd>${d.window === null ? '<span class="muted">not ended yet</span>' : escapeHtml(windowSentence(d.window.endedBy, d.window.durationMs))}</dd>
<dt>outcome</dt><dd data-outcome="${outcomeCode}">${outcome}</dd>
<dt>took</dt><dd>${budgetMs === null ? formatMs(d.elapsedMs) : drainTime(d.elapsedMs, budgetMs)}${d.running ? ' so far' : ''}${budgetMs === null ? '' : ' <span class="muted">(budget: window maximum + drain timeout)</span>'}</dd>
${liveCounts ? `<dt>now</dt><dd id="drain-now" data-inflight="${v.inflight}" data-persistent="${v.persistent}">${v.inflight} in flight, ${v.persistent} persistent <span class="muted">(last heartbeat)</span></dd>\n` : ''}</dl>
<h3>Phases</h3>${timeline(d.phases, d.elapsedMs)}
<h3>In-flight and persistent over the drain</h3>${chart(counts, d.elapsedMs)}
</section>${json}${workerDrains}`);
}

/** Durations of a drain's phases from their start offsets, the last one running to the drain's end. */
function phaseList(phases: unknown, totalMs: number): string {
  if (!Array.isArray(phases)) return '';
  const list = phases.filter((p): p is { phase: string; atMs: number } => typeof p === 'object' && p !== null && typeof (p as { phase?: unknown }).phase === 'string' && typeof (p as { atMs?: unknown }).atMs === 'number');
  return list.map((p, k) => {
    const until = list[k + 1]?.atMs ?? totalMs;
    return `<span class="label" data-phase="${escapeHtml(p.phase)}">${escapeHtml(p.phase)} ${formatMs(Math.max(0, until - p.atMs))}</span>`;
  }).join(' ');
}

/**
 * A cluster's reloads (newest first, at most 10): each replaced worker's drain as the
 * `reload_complete` event carries it (pid, time, outcome, phases). The cluster's own row stays
 * active through a reload, so this is where its drains are.
 */
function reloadsSection(events: DrainDocument['events']): string {
  const reloads = events.filter((e) => e.type === 'reload_complete').reverse().slice(0, 10);
  if (reloads.length === 0) return '';
  const total = events.filter((e) => e.type === 'reload_complete').length;
  const items = reloads.map((e) => {
    const d = e.details ?? {};
    const replaced = Array.isArray(d.replaced) ? (d.replaced as { oldPid?: unknown; newPid?: unknown; drain?: Record<string, unknown> }[]) : [];
    const rows = replaced.map((r) => {
      const drain = r.drain ?? {};
      const ms = typeof drain.durationMs === 'number' ? drain.durationMs : 0;
      const outcome = typeof drain.outcome === 'string' ? drain.outcome : drain.success === true ? 'completed' : 'not reported';
      return `<tr class="worker-drain" data-worker-pid="${escapeHtml(text(r.oldPid))}" data-outcome="${escapeHtml(outcome)}"><td>${escapeHtml(text(r.oldPid))} → ${escapeHtml(text(r.newPid))}</td><td class="num">${formatMs(ms)}</td><td>${escapeHtml(outcome)}${typeof drain.forcedBy === 'string' ? ` (forced by ${escapeHtml(drain.forcedBy)})` : ''}</td><td>${phaseList(drain.phases, ms)}</td></tr>`;
    }).join('');
    const head = `${e.at} · ${escapeHtml(text(d.trigger ?? 'reload'))} · ${d.ok === true ? 'every worker replaced' : `aborted${typeof d.reason === 'string' ? `: ${escapeHtml(d.reason)}` : ''}`} in ${formatMs(typeof d.durationMs === 'number' ? d.durationMs : 0)}`;
    return `<h4>${head}</h4>${rows === '' ? '<p class="muted">No worker replaced.</p>' : `<table class="reload"><thead><tr><th>worker pid (old → new)</th><th>drain</th><th>outcome</th><th>phases</th></tr></thead><tbody>${rows}</tbody></table>`}`;
  }).join('');
  return `<section id="reloads"><h3>Worker drains in reloads${total > reloads.length ? ` <span class="muted">(the newest ${reloads.length} of ${total})</span>` : ''}</h3>${items}</section>`;
}

/** How the deregistration window ended, as a sentence. */
export function windowSentence(endedBy: string, durationMs: number): string {
  const after = formatMs(durationMs);
  switch (endedBy) {
    case 'fixed': return `the fixed window ended after ${after}`;
    case 'balancer-state': return `the balancer confirmed the instance out after ${after}`;
    case 'probe-threshold': return `the readiness probe failed the balancer's threshold after ${after}`;
    case 'traffic-quiet': return `traffic went quiet after ${after}`;
    case 'max': return `the adaptive window reached its maximum (${after}) without confirmation`;
    case 'skipped': return 'the window was skipped';
    default: return `ended (${endedBy}) after ${after}`;
  }
}

const FORCED_BY: Readonly<Record<string, string>> = { timeout: 'the drain timeout', signal: 'a second signal', force: 'a call to force()' };

/** "completed", or "forced by the drain timeout (reason); 3 connections forced": one phrase. */
export function outcomeText(o: Record<string, unknown>): string {
  const forcedBy = o.forcedBy === null || o.forcedBy === undefined ? undefined : text(o.forcedBy);
  const base = forcedBy !== undefined
    ? `forced by ${FORCED_BY[forcedBy] ?? forcedBy}${o.forceReason === null || o.forceReason === undefined || o.forceReason === forcedBy ? '' : ` (${text(o.forceReason)})`}`
    : text(o.outcome ?? (o.success === true ? 'completed' : 'unknown'));
  return `${base}${num(o.connectionsForced) ? `; ${text(o.connectionsForced)} connection${o.connectionsForced === 1 ? '' : 's'} forced` : ''}`;
}

/** A detail value as text: JSON details may hold anything. */
function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

function num(v: unknown): boolean {
  return typeof v === 'number' && v > 0;
}

const PHASE_COLOURS: Readonly<Record<string, string>> = { deregistering: '#60a5fa', closing: '#a78bfa', persistent: '#f472b6', waiting: '#fbbf24', forcing: '#ef4444', cleanup: '#34d399' };

function timeline(phases: readonly PhaseSpan[], totalMs: number): string {
  const width = 720;
  const scale = (ms: number): number => (totalMs <= 0 ? 0 : (ms / totalMs) * width);
  const bars = phases.map((p) => {
    const dur = p.durationMs ?? totalMs - p.startMs;
    return `<rect data-phase="${escapeHtml(p.phase)}" x="${scale(p.startMs).toFixed(1)}" y="2" width="${Math.max(1, scale(dur)).toFixed(1)}" height="22" fill="${PHASE_COLOURS[p.phase] ?? '#9ca3af'}"><title>${escapeHtml(p.phase)}: ${formatMs(dur)}</title></rect>`;
  }).join('');
  // Names and durations in a legend, not on the bars: short phases would overprint each other.
  const legend = phases.map((p) => {
    const dur = p.durationMs ?? totalMs - p.startMs;
    return `<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${PHASE_COLOURS[p.phase] ?? '#9ca3af'}"/></svg> ${escapeHtml(p.phase)} <b>${formatMs(dur)}</b>${p.durationMs === null ? ' so far' : ''}<span class="muted"> at +${formatMs(p.startMs)}</span></li>`;
  }).join('');
  return `<svg class="timeline" viewBox="0 0 ${width} 26" width="${width}" height="26" role="img" aria-label="drain phases">${bars}</svg><ul class="groups phases">${legend}</ul>`;
}

function chart(points: readonly CountPoint[], totalMs: number): string {
  if (points.length === 0) return '<p class="muted">No counts recorded.</p>';
  const width = 720;
  const height = 100;
  const max = Math.max(1, ...points.map((p) => Math.max(p.inflight, p.persistent)));
  const x = (ms: number): string => (totalMs <= 0 ? 0 : (ms / totalMs) * width).toFixed(1);
  const y = (v: number): string => (height - (v / max) * (height - 10)).toFixed(1);
  // A step line: a count holds until the next event reports a new one.
  const path = (pick: (p: CountPoint) => number): string => points.map((p, k) => (k === 0 ? `M${x(p.atMs)},${y(pick(p))}` : `H${x(p.atMs)}V${y(pick(p))}`)).join('');
  return `<svg class="chart" viewBox="0 0 ${width + 80} ${height + 20}" width="${width + 80}" height="${height + 20}" data-points="${points.length}" role="img" aria-label="counts over the drain">`
    + `<path d="${path((p) => p.inflight)}" stroke="#2563eb"/><path d="${path((p) => p.persistent)}" stroke="#db2777"/>`
    + `<text x="0" y="${height + 16}" fill="#2563eb">in-flight (max ${Math.max(...points.map((p) => p.inflight))})</text>`
    + `<text x="220" y="${height + 16}" fill="#db2777">persistent (max ${Math.max(...points.map((p) => p.persistent))})</text></svg>`;
}
