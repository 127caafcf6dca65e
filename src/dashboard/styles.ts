/** The dashboard's stylesheet, served as /assets/dashboard.css (the CSP allows no inline style). */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #667; --bg: #fff; --line: #dde; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #99a; --bg: #15181c; --line: #2c313a; } }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1em; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1em; margin: 0; }
header nav a { margin-right: 1em; }
header form.sign-out { margin-left: auto; }
#live ~ form.sign-out { margin-left: 0; }
main { padding: 1em; }
a { color: var(--accent); }
#live { margin-left: auto; font-size: .9em; }
#live::before { content: "●"; margin-right: .3em; }
#live[data-live="live"]::before { color: #16a34a; }
#live[data-live="reconnecting"]::before, #live[data-live="connecting"]::before { color: #d97706; }
#live[data-live="stale"]::before, #live[data-live="static"]::before { color: #dc2626; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
td.labels { max-width: 22em; }
.label { white-space: nowrap; display: inline-block; margin: 0 .15em .15em 0; padding: 0 .35em; border: 1px solid var(--line); border-radius: .3em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { padding: .05em .5em; border-radius: 1em; font-size: .85em; border: 1px solid currentColor; }
.badge.active { color: #16a34a; } .badge.draining { color: #d97706; } .badge.stopped { color: var(--muted); } .badge.lost { color: #dc2626; }
.stale { color: #dc2626; font-weight: 600; }
.elapsed, .muted { color: var(--muted); }
ul.counts, ul.groups { list-style: none; display: flex; flex-wrap: wrap; gap: 1.2em; padding: 0; margin: 0 0 .6em; }
ul.counts a, ul.groups a { text-decoration: none; }
form.filters, form.reap { display: inline-flex; gap: .5em; align-items: center; margin: .4em 1em .8em 0; }
form.drain { display: flex; gap: .4em; align-items: center; flex-wrap: wrap; }
form.drain input[name="reason"] { width: 12em; }
.notice { padding: .5em .8em; border: 1px solid var(--line); border-left: 4px solid var(--accent); margin-bottom: 1em; }
.notice.error { border-left-color: #dc2626; }
svg.timeline text { font-size: 11px; fill: var(--fg); }
svg.chart path { fill: none; stroke-width: 1.5; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dl.facts dt { color: var(--muted); }
tr.worker td { font-size: .92em; border-bottom-style: dashed; }
td.worker-name { padding-left: 2em; color: var(--muted); white-space: nowrap; }
.badge.starting { color: var(--accent); }
table.reload { width: auto; margin-bottom: 1em; }
#audit td.details { overflow-wrap: anywhere; word-break: break-word; max-width: 60em; }
#audit details summary { cursor: pointer; }
#audit pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .3em 0 0; }
.notice.running { border-left-color: #d97706; }
`;
