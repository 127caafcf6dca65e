/**
 * Regenerates the results part of docs/benchmarks.md (between the `generated` markers) from the
 * results `bench/run.ts` saved in `.tmp/bench/results/`. The prose around the markers is written
 * by hand; this keeps the numbers, the machine and the commands in step with the last run.
 *
 *   node --import tsx bench/report.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/children.js';
import type { Machine } from './lib/machine.js';

const DOC = join(ROOT, 'docs', 'benchmarks.md');
const RESULTS = join(ROOT, '.tmp', 'bench', 'results');
const BEGIN = '<!-- generated:begin (bench/report.ts) -->';
const END = '<!-- generated:end -->';
const ORDER = ['throughput', 'exit-latency', 'idle-close', 'memory', 'memory-inflight', 'rolling', 'cluster-reload'] as const;

/**
 * A saved result, as JSON: each renderer below reads the fields its benchmark wrote (see the
 * benchmark's module for their meaning). Deliberately loose: a result saved by an older version
 * of a benchmark should render what it has rather than fail to type-check.
 */
type Saved = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const list = (values: unknown): string => (Array.isArray(values) ? values.map(String).join(', ') : '–');

interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly max: number;
}

const table = (head: readonly string[], rows: readonly (readonly unknown[])[]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(String).join(' | ')} |`)].join('\n');

const met = (r: Saved): string => (r.met === true ? '**met**' : r.met === false ? '**missed**' : '–');

function machineSection(m: Machine & { loadAverageAfter?: number[] }): string {
  return table(['', ''], [
    ['CPU', `${m.cpuModel} (\`nproc\` = ${m.nproc}, shared with other test runs)`],
    ['Memory', `${m.memTotalGiB} GiB total, ${m.memAvailableGiB} GiB available (\`free -h\`)`],
    ['Node.js', m.node],
    ['Kernel', m.kernel],
    ['`ulimit -n`', String(m.openFilesLimit)],
  ]);
}

function throughput(r: Saved): string {
  const c = r.config;
  const rows = Object.entries(r.pairs as Record<string, Saved>).map(([name, p]): unknown[] => [
    name, `\`${p.b}\` / \`${p.a}\``, `**${p.ratioMedian}**`, `${p.ratioMin} – ${p.ratioMax}`, list(p.ratiosPerRound), p.bRequestsPerCpuSMedian, p.aRequestsPerCpuSMedian, p.errors,
  ]);
  return [
    `Node ${r.node ?? r.machine?.node}. ${c.rounds} rounds; per round and pair, two fresh server processes pinned to core ${c.serverCore}, warmed up with ${c.warmupRequests} requests each, then loaded at the same time by two load generators pinned to core ${c.loadCore} (${c.loader}; ${c.connections} connections, pipelining ${c.pipelining}), ${c.requestsPerSide} requests per side (Express pairs ${c.expressRequestsPerSide}); which side starts first alternates by round. Server CPU: ${c.cpuSource}.`,
    '',
    table(['pair', 'b / a', 'requests per server CPU-second, ratio (median)', 'min – max', 'per round', 'b req/CPU-s', 'a req/CPU-s', 'errors'], rows),
  ].join('\n');
}

function exitLatency(r: Saved): string {
  const rows = Object.entries(r.exitMs as Record<string, Summary>).map(([v, s]): unknown[] => {
    const own = (r.exitEventMs as Record<string, Summary>)[v]!;
    return [`\`${v}\``, s.median, s.p90, s.min, s.max, own.median, round2(s.median - own.median)];
  });
  const dc = r.drainkitLastResponseToDrainCompleteLineMs as Summary;
  return [
    `${r.config.iterations} iterations per variant, interleaved; \`GET /work?ms=${r.config.workMs}\`, SIGTERM ${r.config.signalAfterMs} ms after it was sent. Times in ms from the client reading the last byte of the response.`,
    '',
    table(['variant', 'to `exit` seen by the parent: median', 'p90', 'min', 'max', 'to the child\'s own `exit` event: median', 'after it (teardown + notification): median'], rows),
    '',
    `drainkit's \`drain_complete\` line reached the parent at a median ${dc.median} ms (p90 ${dc.p90} ms) after the last byte of the response.`,
  ].join('\n');
}

function idleClose(r: Saved): string {
  const rows = (['drainkit', 'bare', 'terminus', 'kernel'] as const).filter((v) => r[v]).map((v): unknown[] => {
    const s = r[v] as Record<string, Summary>;
    return [`\`${v}\``, s.closingToExitMs!.median, s.closingToExitMs!.p90, s.closingToExitMs!.min, s.closingToExitMs!.max, s.closingToExitEventMs!.median, s.closingToDrainedMs?.median ?? '–'];
  });
  return [
    `${r.config.connections} idle keep-alive connections (\`ulimit -n\` ${r.config.openFilesLimit}), ${r.config.rounds} runs per variant, interleaved. Times in ms from the listener closing.`,
    '',
    table(['variant', 'to `exit` seen by the parent: median', 'p90', 'min', 'max', 'to the child\'s own `exit` event: median', 'to `drained`: median'], rows),
  ].join('\n');
}

function memory(r: Saved): string {
  const rows = Object.entries(r.perVariant as Record<string, Saved>).map(([v, s]): unknown[] => [`\`${v}\``, s.heapBytesPerConnection, s.rssBytesPerConnection]);
  rows.push(['drainkit − bare', r.drainkitMinusBare.heapBytesPerConnection, r.drainkitMinusBare.rssBytesPerConnection]);
  return [
    `${r.config.connections} idle keep-alive connections, ${r.config.rounds} fresh server processes per variant, interleaved; medians, bytes per connection, after full GCs.`,
    '',
    table(['variant', 'heapUsed B/conn', 'rss B/conn'], rows),
    '',
    `Per round (heap B/conn): ${(r.samples as Saved[]).map((s) => `${s.variant} ${Math.round(s.heapPerConnection)}`).join(', ')}.`,
  ].join('\n');
}

function memoryInflight(r: Saved): string {
  const rows = Object.entries(r.perVariant as Record<string, Saved>).map(([v, s]): unknown[] => [`\`${v}\``, s.heapBytesPerRequest, s.rssBytesPerRequest]);
  return [
    `${r.config.inflightRequests} keep-alive connections, each first idle, then with one unanswered request; ${r.config.rounds} fresh server processes per variant, interleaved; medians, bytes per in-flight request on top of an idle connection, after full GCs.`,
    '',
    table(['variant', 'heapUsed B/request', 'rss B/request'], rows),
    '',
    `Per round (heap B/request): ${(r.samples as Saved[]).map((s) => `${s.variant} ${Math.round(s.heapPerRequest)}`).join(', ')}.`,
  ].join('\n');
}

function rolling(r: Saved): string {
  const rows = Object.entries(r.perMode as Record<string, Saved>).map(([m, s]): unknown[] => [
    `\`${m}\``, s.restartWallMsMedian, s.failed, s.requests, s.stepDrainMsMedian, s.stepStartMsMedian, s.stepUpMsMedian, s.windowMsMedian,
  ]);
  const runs = (r.runs as Saved[]).map((x) => `${x.mode} ${x.restartWallMs} ms (${x.failed} failed of ${x.requests}; windows ended by ${Object.entries(x.windowEndedBy as Record<string, number>).map(([k, n]) => `${k} ×${n}`).join(', ')})`);
  return [
    `${r.config.servers} servers, each restarted ${r.config.restartsPerServer} times per run, ${r.config.runsPerMode} runs per mode, alternating. HAProxy: ${r.config.haproxy}.`,
    '',
    table(['mode', 'restart wall time ms (median)', 'failed requests', 'requests', 'per step: SIGTERM → exit ms', 'exit → replacement listening ms', 'listening → HAProxy UP ms', 'window ms'], rows),
    '',
    `Ratio adaptive / fixed: **${r.ratio}** (per pair: ${list(r.pairRatios)}).`,
    '',
    `Runs: ${runs.join('; ')}.`,
  ].join('\n');
}

const CONTENDER: Record<string, string> = {
  'pm2-close': 'pm2, worker calls `server.close()` on SIGINT',
  'pm2-drainkit': 'pm2, worker uses drainkit (window 0)',
  'drainkit-cluster': '**`drainkit cluster`**',
};

function clusterReload(r: Saved): string {
  const c = r.config;
  const rows = (r.table as Saved[]).map((t): unknown[] => [
    CONTENDER[t.contender] ?? t.contender, t.workers, `${t.failed} of ${t.requests}`, `${t.reloadWallMedianMs} (${t.reloadWallMinMs} – ${t.reloadWallMaxMs})`,
    t.steadyP99MedianMs, t.reloadP99MedianMs, `${t.p99RatioMedian} (max ${t.p99RatioMax})`, `${t.wsCloses1001} of ${t.wsCloses}`, `${t.sseEndsAfterRetry} of ${t.sseEnds}`,
  ]);
  return [
    `pm2 ${c.pm2Version ?? '(not installed: pm2 contenders skipped)'}; ${c.rounds} rounds, contender order rotated each round; per run ${c.reloadsPerRun} reloads in a row after ${c.steadyMs} ms of steady load; ${c.rate} req/s paced keep-alive load (${Math.round(c.postShare * 100)} % POST, every request ${c.workMs} ms of work, never retried), ${c.websockets} WebSocket and ${c.sseClients} SSE clients that reconnect. Reload wall time: the \`pm2 reload\` command's duration, SIGHUP to \`reload_complete\` for drainkit. p99 is over successful requests only (pm2's failed requests are not in it); "during" counts requests sent while a reload ran, "steady" those sent before the first.`,
    '',
    table(['contender', 'workers', 'failed requests', 'reload wall ms: median (min – max)', 'steady p99 ms (median)', 'p99 during reloads ms (median)', 'during ÷ steady: median (max)', 'WS closes with 1001', 'SSE ends after `retry:`'], rows),
  ].join('\n');
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

const RENDER: Record<(typeof ORDER)[number], (r: Saved) => string> = {
  throughput,
  'exit-latency': exitLatency,
  'idle-close': idleClose,
  memory,
  'memory-inflight': memoryInflight,
  rolling,
  'cluster-reload': clusterReload,
};

function render(): string {
  const results = ORDER.map((name) => {
    const file = join(RESULTS, `${name}.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Saved) : undefined;
  });
  const present = results.filter((r): r is Saved => r !== undefined);
  if (present.length === 0) throw new Error(`no results in ${RESULTS}: run "npm run bench" first`);
  const parts = [
    BEGIN,
    '',
    '### Summary',
    '',
    table(['benchmark', 'target', 'result', 'target', 'run at (UTC)', 'command'], present.map((r): unknown[] => [
      r.benchmark, r.target, r.headline, met(r), String(r.date).slice(0, 16).replace('T', ' '), `\`${r.command}\``,
    ])),
    '',
    '### Machine',
    '',
    machineSection(present[0]!.machine as Machine),
    '',
    `Load average (1, 5, 15 min) when each benchmark started: ${present.map((r) => `${r.benchmark} ${(r.machine.loadAverage as number[]).map(String).join(' / ')}`).join('; ')}.`,
  ];
  for (const r of present) {
    parts.push('', `### ${r.benchmark}`, '', `\`${r.command}\`, ${String(r.date).slice(0, 16).replace('T', ' ')} UTC, ${r.durationS} s.`, '', RENDER[r.benchmark as (typeof ORDER)[number]](r));
  }
  parts.push('', END);
  return parts.join('\n');
}

const doc = readFileSync(DOC, 'utf8');
const begin = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (begin === -1 || end === -1 || end < begin) throw new Error(`${DOC} lacks the generated markers`);
writeFileSync(DOC, doc.slice(0, begin) + render() + doc.slice(end + END.length));
process.stderr.write(`updated ${DOC}\n`);
