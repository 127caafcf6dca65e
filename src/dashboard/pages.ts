/**
 * The page frame and the fleet page. Every page is complete HTML on its own (readable without
 * JavaScript); the module script only keeps it live.
 */
import type { InstanceView, PageSettings } from './browser/protocol.js';
import { backField, escapeHtml, renderRows, renderSummary, STATUSES, labelText, type FleetFilter } from './browser/render.js';

export interface Frame {
  readonly title: string;
  readonly view: 'fleet' | 'audit' | 'drain' | 'error';
  readonly settings: PageSettings;
  readonly body: string;
  /** Whether the page follows the live feed. */
  readonly live: boolean;
  /** A Sign out button in the header: for a page seen with a browser session. */
  readonly signOut?: boolean;
}

export function page(f: Frame): string {
  const live = f.live
    ? `<span id="live" data-live="static" title="updates need JavaScript">snapshot of ${new Date().toISOString().slice(11, 19)} UTC, not live</span>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(f.title)} · drainkit</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
${f.live ? '<script type="module" src="/assets/dashboard.js"></script>' : ''}
</head>
<body data-view="${f.view}" data-read-only="${f.settings.readOnly}" data-stale-after-ms="${f.settings.staleAfterMs}">
<header><h1>drainkit</h1><nav><a href="/">Fleet</a><a href="/audit">Audit</a></nav>${f.settings.readOnly ? '<span class="muted">read-only</span>' : ''}${live}${f.signOut === true ? '<form class="sign-out" method="post" action="/logout"><button type="submit">Sign out</button></form>' : ''}</header>
<main>${f.body}</main>
</body></html>
`;
}

export function notice(message: string | undefined, kind: 'ok' | 'error' = 'ok'): string {
  return message === undefined ? '' : `<p class="notice${kind === 'error' ? ' error' : ''}" role="status">${escapeHtml(message)}</p>`;
}

export function fleetBody(instances: readonly InstanceView[], filter: FleetFilter, filterErrors: readonly string[], settings: PageSettings, flash: string | undefined): string {
  const statusOptions = ['', ...STATUSES].map((s) => `<option value="${s}"${filter.status === s || (s === '' && filter.status === undefined) ? ' selected' : ''}>${s === '' ? 'any status' : s}</option>`).join('');
  const filters = `<form class="filters" method="get" action="/">
<select name="status" aria-label="status">${statusOptions}</select>
<input name="label" placeholder="label k=v …" value="${escapeHtml(labelText(filter.labels))}" aria-label="labels">
<input name="host" placeholder="host" value="${escapeHtml(filter.host ?? '')}" aria-label="host">
<button type="submit">Filter</button></form>`;
  const reap = settings.readOnly ? '' : `<form class="reap" method="post" action="/actions/reap">${backField(filter)}<button type="submit">Reap lost instances</button></form>`;
  const head = ['instance', 'labels', 'version', 'pid', 'status', 'phase', 'in-flight', 'persistent', 'heartbeat', ...(settings.readOnly ? [] : ['actions'])]
    .map((h) => `<th>${h}</th>`).join('');
  return `${notice(flash)}${filterErrors.length === 0 ? '' : notice(`Filters ignored: ${filterErrors.join('; ')}`, 'error')}
<section id="summary">${renderSummary(instances)}</section>
${filters}${reap}
<table id="fleet"><thead><tr>${head}</tr></thead><tbody id="rows">${renderRows(instances, filter, Date.now(), settings)}</tbody></table>`;
}
