/**
 * The pages' live part: follows `/events` (a snapshot, then changes; the browser resends
 * `Last-Event-ID` on its own when it reconnects). The fleet page redraws its rows and counts with
 * the same functions the server rendered them with. The drain and audit pages have a live part
 * (`[data-follow][data-src]`): when a change concerns it (its instance, or new events), it is
 * fetched again from the server (`data-src`, `?fragment=1`: the renderer of the first paint) and
 * put in place. The indicator `#live[data-live]` says `live`,
 * `reconnecting` or `stale` (since when, and why).
 */
import type { ChangeMessage, InstanceView, PageSettings, SnapshotMessage } from './protocol.js';
import { parseFilter, renderRows, renderSummary } from './render.js';

/** Reconnecting longer than this, or no message for {@link SILENT_MS}: the page says stale. */
const STALE_AFTER_MS = 5_000;
const SILENT_MS = 12_000;
/** After the server refused the stream (signed out, restarted with a new token): retry this often. */
const REOPEN_MS = 2_000;

const body = document.body;
const settings: PageSettings = {
  readOnly: body.dataset.readOnly === 'true',
  staleAfterMs: Number(body.dataset.staleAfterMs ?? '15000'),
};
const rows = document.getElementById('rows');
/**
 * The drain or audit page's live part: `data-follow` says what it follows (`instance`: the
 * instance `data-instance-id` and its events; `events`: new events, of `data-instance-id` when
 * set), `data-src` where to fetch it again.
 */
let liveView = document.querySelector<HTMLElement>('[data-follow][data-src]');
const summary = document.getElementById('summary');
const live = document.getElementById('live');
const { filter } = parseFilter(new URLSearchParams(location.search));

const instances = new Map<number, InstanceView>();
/** Server clock minus browser clock, so heartbeat ages do not depend on the browser's clock. */
let skewMs = 0;
let lastMessageAt = Date.now();
let troubleSince: number | undefined;
let registryError: string | null = null;
let connected = false;

function serverNow(): number {
  return Date.now() + skewMs;
}

function noteClock(now: string): void {
  skewMs = Date.parse(now) - Date.now();
  lastMessageAt = Date.now();
}

function draw(): void {
  const all = [...instances.values()].sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port);
  // Keep a half-typed reason: rows being edited are not redrawn under the operator's fingers.
  const editing = document.activeElement instanceof HTMLInputElement && rows?.contains(document.activeElement) === true;
  if (rows !== null && !editing) {
    rows.innerHTML = renderRows(all, filter, serverNow(), settings);
    fillWho();
  }
  if (summary !== null) summary.innerHTML = renderSummary(all);
}

/** Who asks, as the operator last typed it: kept in this browser so it is typed once. */
const WHO_KEY = 'drainkit.dashboard.by';

function storedWho(): string {
  try {
    return localStorage.getItem(WHO_KEY) ?? '';
  } catch {
    return ''; // storage disabled: the field starts empty, as without the module
  }
}

function fillWho(): void {
  const who = storedWho();
  if (who === '' || rows === null) return;
  for (const input of rows.querySelectorAll<HTMLInputElement>('form.drain input[name="by"]')) if (input.value === '') input.value = who;
}

function rememberWho(e: Event): void {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains('drain')) return;
  const who = (form.elements.namedItem('by') as HTMLInputElement | null)?.value.trim() ?? '';
  try {
    if (who === '') localStorage.removeItem(WHO_KEY);
    else localStorage.setItem(WHO_KEY, who);
  } catch {
    // storage disabled: nothing remembered
  }
}

let fetching = false;
let fetchAgain = false;

/** Fetches the live part again and swaps it in; one request at a time, the last change wins. */
async function refreshView(): Promise<void> {
  if (liveView === null) return;
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  try {
    const res = await fetch(liveView.dataset.src ?? '', { headers: { Accept: 'text/html' }, cache: 'no-store' });
    if (res.ok) {
      const template = document.createElement('template');
      template.innerHTML = await res.text();
      const next = template.content.getElementById(liveView.id);
      if (next !== null && liveView.isConnected) {
        liveView.replaceWith(next);
        liveView = next;
      }
    }
  } catch {
    // The stream's indicator says when the dashboard is unreachable; the next change retries.
  } finally {
    fetching = false;
    if (fetchAgain) {
      fetchAgain = false;
      void refreshView();
    }
  }
}

function concernsView(m: ChangeMessage): boolean {
  if (liveView === null) return false;
  const idText = liveView.dataset.instanceId ?? '';
  const id = Number(idText);
  const ofInstance = m.events.some((e) => idText === '' || e.instanceId === id);
  return liveView.dataset.follow === 'instance' ? ofInstance || m.instances.some((i) => i.id === id) : ofInstance;
}

function drainRunning(): boolean {
  return liveView?.querySelector('#drain[data-running="true"]') != null;
}

function setLive(): void {
  if (live === null) return;
  const now = Date.now();
  const silent = now - lastMessageAt > SILENT_MS;
  let state: 'live' | 'reconnecting' | 'stale';
  if (connected && !silent && registryError === null) {
    troubleSince = undefined;
    state = 'live';
  } else {
    troubleSince ??= connected && !silent ? now : lastMessageAt;
    state = now - troubleSince > STALE_AFTER_MS || registryError !== null ? 'stale' : 'reconnecting';
  }
  live.dataset.live = state;
  const since = troubleSince === undefined ? '' : new Date(troubleSince).toLocaleTimeString();
  live.textContent = state === 'live'
    ? 'live'
    : state === 'reconnecting'
      ? 'reconnecting…'
      : `stale since ${since}${registryError === null ? '' : ` (registry: ${registryError})`}`;
  live.title = live.textContent;
}

function open(): void {
  const source = new EventSource('/events');
  source.addEventListener('open', () => {
    connected = true;
    setLive();
  });
  source.addEventListener('snapshot', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as SnapshotMessage;
    noteClock(m.now);
    instances.clear();
    for (const i of m.instances) instances.set(i.id, i);
    connected = true;
    draw();
    setLive();
    // A new snapshot: this tab may have missed changes (a restart, too long away).
    void refreshView();
  });
  source.addEventListener('change', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as ChangeMessage;
    noteClock(m.now);
    for (const i of m.instances) instances.set(i.id, i);
    for (const id of m.removed) instances.delete(id);
    draw();
    setLive();
    if (concernsView(m)) void refreshView();
  });
  source.addEventListener('tick', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as { now: string; registryError: string | null };
    noteClock(m.now);
    registryError = m.registryError;
    setLive();
  });
  source.addEventListener('error', () => {
    connected = false;
    setLive();
    // CLOSED: the server answered with an error (not a dropped connection, which the browser
    // retries by itself); try again later, the operator may sign in again in another tab.
    if (source.readyState === EventSource.CLOSED) setTimeout(open, REOPEN_MS);
  });
}

if (live !== null && (rows !== null || liveView !== null)) {
  live.dataset.live = 'connecting';
  live.textContent = 'connecting…';
  open();
}
if (rows !== null) {
  rows.addEventListener('submit', rememberWho);
  fillWho();
  // Ages and "draining for" move on between messages.
  setInterval(() => {
    draw();
    setLive();
  }, 1_000);
} else if (liveView !== null) {
  setInterval(() => {
    setLive();
    // A running drain's current phase and "so far" move on between changes.
    if (drainRunning() && connected) void refreshView();
  }, 1_000);
}
