/**
 * `npm run bench`: runs every benchmark, or those named, one after the other, and prints each
 * result as one JSON line on stdout (progress goes to stderr). Each result is also saved to
 * `.tmp/bench/results/<name>.json`, which `bench/report.ts` turns into docs/benchmarks.md.
 *
 *   node --import tsx bench/run.ts [throughput|exit-latency|idle-close|memory|memory-inflight|rolling|cluster-reload|fleet|reconnect-storm|dashboard-latency ...] [--quick]
 *
 * `--quick` is a smoke run (fewer, shorter rounds); its results are saved apart and not reported.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterReload } from './cluster-reload.js';
import { dashboardLatency } from './dashboard-latency.js';
import { exitLatency } from './exit-latency.js';
import { fleet } from './fleet.js';
import { idleClose } from './idle-close.js';
import { ROOT } from './lib/children.js';
import { machine } from './lib/machine.js';
import type { Benchmark } from './lib/types.js';
import { memory } from './memory.js';
import { memoryInflight } from './memory-inflight.js';
import { reconnectStorm } from './reconnect-storm.js';
import { rolling } from './rolling.js';
import { throughput } from './throughput.js';

const BENCHMARKS: readonly Benchmark[] = [throughput, exitLatency, idleClose, memory, memoryInflight, rolling, clusterReload, fleet, reconnectStorm, dashboardLatency];

/** BENCH_* settings in force, so a saved command reproduces the run. */
function envPrefix(): string {
  return Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v ?? ''} `)
    .join('');
}

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.includes(b.name));
  const dir = join(ROOT, '.tmp', 'bench', quick ? 'results-quick' : 'results');
  mkdirSync(dir, { recursive: true });
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  log(`bench: Node ${process.version} (${process.execPath}), load average ${machine().loadAverage.join(' ')}`);
  let failed = 0;
  for (const bench of selected) {
    const startedAt = new Date();
    const before = machine();
    try {
      const result = await bench.run({ quick, log });
      const record = {
        ...result,
        date: startedAt.toISOString(),
        durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
        command: `${envPrefix()}node --import tsx bench/run.ts ${bench.name}${quick ? ' --quick' : ''}`,
        machine: { ...before, loadAverageAfter: machine().loadAverage },
      };
      writeFileSync(join(dir, `${bench.name}.json`), `${JSON.stringify(record, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(record)}\n`);
    } catch (err) {
      failed += 1;
      log(`${bench.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
