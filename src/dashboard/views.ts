/** The audit view and the drain view, rendered on the server from the registry. */
import type { Store } from '../registry/driver.js';
import { getInstance, listEvents, type Instance } from '../registry/fleet.js';
import { eventPage, listDrainRequests, listLostInstanceIds } from '../registry/fleet-view.js';
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

/** Drain events and drain requests merged, newest first, filtered by instance, type and time. */
export async function auditBody(store: Store, params: URLSearchParams): Promise<{ body: string; errors: string[] }> {
  const errors: string[] = [];
  const instanceText = params.get('instance') ?? '';
  const instanceId = instanceText === '' ? undefined : Number(instanceText);
  if (instanceId !== undefined && (!Number.isInteger(instanceId) || instanceId < 1)) errors.push(`instance got ${JSON.stringify(instanceText)}; accepted: an instance id`);
  const type = params.get('type') ?? '';
  const since = parseTime('since', params.get('since'), errors);
  const until = parseTime('until', params.get('until'), errors);
  const filterForm = `<form class="filters" method="get" action="/audit">
<input name="instance" placeholder="instance id" value="${escapeHtml(instanceText)}" aria-label="instance id">
<input name="type" placeholder="type (e.g. drain_start, request)" value="${escapeHtml(type)}" aria-label="type">
<input name="since" placeholder="since (ISO time)" value="${escapeHtml(params.get('since') ?? '')}" aria-label="since">
<input name="until" placeholder="until (ISO time)" value="${escapeHtml(params.get('until') ?? '')}" aria-label="until">
<button type="submit">Filter</button></form>`;
  if (errors.length > 0) return { body: `${notice(errors.join('; '), 'error')}${filterForm}`, errors };
  const id = instanceId !== undefined && Number.isInteger(instanceId) ? instanceId : undefined;
  const wantRequests = type === '' || type === 'request';
  const [events, requests] = await Promise.all([
    type === 'request' ? [] : eventPage(store, { instanceId: id, types: type === '' ? undefined : [type], since, until, limit: 500 }).then((page) => page.events),
    wantRequests ? listDrainRequests(store, { instanceId: id, since, until, limit: 500 }) : [],
  ]);
  const rows: AuditRow[] = [
    ...events.map((e) => ({ at: e.timestamp, instanceId: e.instanceId, kind: e.eventType, text: JSON.stringify(e.details ?? {}) })),
    ...requests.map((r) => ({
      at: r.requestedAt,
      instanceId: r.instanceId,
      kind: 'request',
      text: `by ${r.requestedBy}: ${r.reason} (${r.outcome === null ? 'pending' : `${r.outcome} at ${r.acknowledgedAt?.toISOString() ?? '?'}`})`,
    })),
  ].sort((a, b) => b.at.getTime() - a.at.getTime());
  const body = rows.length === 0
    ? '<p class="muted">Nothing recorded matches.</p>'
    : `<table id="audit"><thead><tr><th>time</th><th>instance</th><th>type</th><th>details</th></tr></thead><tbody>${rows.map((r) =>
      `<tr data-kind="${escapeHtml(r.kind)}" data-instance-id="${r.instanceId ?? ''}"><td>${r.at.toISOString()}</td><td>${r.instanceId === null ? '' : `<a href="/instances/${r.instanceId}">${r.instanceId}</a>`}</td><td>${escapeHtml(r.kind)}</td><td>${escapeHtml(r.text)}</td></tr>`).join('')}</tbody></table>`;
  return { body: `<h2>Audit</h2>${filterForm}${body}`, errors };
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
  const view = toView(instance, lost.has(id));
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
  const head = `<h2>${escapeHtml(`${i.host}:${i.port}`)} <span class="badge ${doc.instance.status}">${doc.instance.status}</span></h2>
<dl class="facts"><dt>labels</dt><dd>${escapeHtml(labelText(i.labels)) || '<span class="muted">none</span>'}</dd><dt>version</dt><dd>${escapeHtml(i.version ?? '')}</dd><dt>pid</dt><dd>${i.pid ?? ''}</dd>
<dt>registrations</dt><dd>${gens}</dd></dl>`;
  const d = doc.drain;
  const json = `<p><a href="/instances/${i.id}/drain.json?generation=${gen}" download>Download this drain as JSON</a> · <a href="/audit?instance=${i.id}">Audit of this instance</a></p>`;
  if (d === null) return `${head}<p class="muted">Registration ${gen} has not drained.</p>${json}`;
  // The budget the instance recorded when this drain started (absent before drainkit wrote it).
  const recorded = doc.events.filter((e) => e.type === 'drain_start').at(-1)?.details?.budgetMs;
  const budgetMs = typeof recorded === 'number' && Number.isFinite(recorded) && recorded >= 0 ? recorded : null;
  const outcome = d.outcome === null
    ? 'still running'
    : `${escapeHtml(text(d.outcome.outcome ?? (d.outcome.success === true ? 'completed' : 'unknown')))}${d.outcome.forcedBy === null || d.outcome.forcedBy === undefined ? '' : `, forced by ${escapeHtml(text(d.outcome.forcedBy))}${d.outcome.forceReason === null || d.outcome.forceReason === undefined ? '' : ` (${escapeHtml(text(d.outcome.forceReason))})`}`}${num(d.outcome.connectionsForced) ? `; ${text(d.outcome.connectionsForced)} connections forced` : ''}`;
  return `${head}
<section id="drain" data-running="${d.running}">
<p class="summary" id="drain-summary">${escapeHtml(d.summary)}</p>
<dl class="facts">
<dt>asked by</dt><dd>${d.cause.requestedBy === null ? '<span class="muted">no drain request (the process itself)</span>' : escapeHtml(d.cause.requestedBy)}</dd>
<dt>why</dt><dd>${escapeHtml(d.cause.reason)}</dd>
<dt>started</dt><dd>${d.startedAt}</dd>
<dt>window</dt><dd>${d.window === null ? '<span class="muted">not ended yet</span>' : `ended by ${escapeHtml(d.window.endedBy)} after ${formatMs(d.window.durationMs)}`}</dd>
<dt>outcome</dt><dd data-outcome="${d.outcome === null ? '' : escapeHtml(text(d.outcome.outcome ?? ''))}">${outcome}</dd>
<dt>took</dt><dd>${budgetMs === null ? formatMs(d.elapsedMs) : drainTime(d.elapsedMs, budgetMs)}${d.running ? ' so far' : ''}${budgetMs === null ? '' : ' <span class="muted">(budget: window maximum + drain timeout)</span>'}</dd>
</dl>
<h3>Phases</h3>${timeline(d.phases, d.elapsedMs)}
<h3>In-flight and persistent over the drain</h3>${chart(d.counts, d.elapsedMs)}
</section>${json}`;
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
  const path = (pick: (p: CountPoint) => number): string => points.map((p, k) => {
    const prev = points[k - 1];
    return k === 0 ? `M${x(p.atMs)},${y(pick(p))}` : `H${x(p.atMs)}V${y(pick(p))}${prev === undefined ? '' : ''}`;
  }).join('');
  return `<svg class="chart" viewBox="0 0 ${width + 80} ${height + 20}" width="${width + 80}" height="${height + 20}" role="img" aria-label="counts over the drain">`
    + `<path d="${path((p) => p.inflight)}" stroke="#2563eb"/><path d="${path((p) => p.persistent)}" stroke="#db2777"/>`
    + `<text x="0" y="${height + 16}" fill="#2563eb">in-flight (max ${Math.max(...points.map((p) => p.inflight))})</text>`
    + `<text x="220" y="${height + 16}" fill="#db2777">persistent (max ${Math.max(...points.map((p) => p.persistent))})</text></svg>`;
}
