/** The machine a benchmark ran on, as docs/benchmarks.md reports it. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Machine {
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memTotalGiB: number;
  readonly memAvailableGiB: number;
  readonly loadAverage: readonly number[];
  readonly node: string;
  readonly kernel: string;
  /** The open-files limit (`ulimit -n`) children inherit. */
  readonly openFilesLimit: number;
}

function sh(command: string): string {
  try {
    return execFileSync('sh', ['-c', command], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** `ulimit -n` as seen by a child process (children inherit it). */
export function openFilesLimit(): number {
  const raw = sh('ulimit -n');
  return raw === 'unlimited' ? Number.POSITIVE_INFINITY : Number(raw) || 1024;
}

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0);
  const gib = (k: number): number => Math.round((k / 1024 / 1024) * 10) / 10;
  return {
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    nproc: Number(sh('nproc')) || os.availableParallelism(),
    memTotalGiB: gib(kb('MemTotal')),
    memAvailableGiB: gib(kb('MemAvailable')),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    openFilesLimit: openFilesLimit(),
  };
}
