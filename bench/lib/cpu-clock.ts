/**
 * A server process's CPU time, from the kernel's accounting, as finely as this machine gives it.
 *
 * `/proc/<pid>/stat` counts utime + stime in clock ticks (10 ms here). A throughput side uses
 * about 1.3 CPU-seconds, so one tick is 0.77 % of a round's ratio: the per-round ratios come out
 * quantized (0.974, 0.984, 1.000, ...) and two runs of the same code could read 0.984 and 1.000.
 * cgroup v1's `cpuacct.usage` counts nanoseconds: each measured process is moved into a cgroup
 * of its own under the cpuacct hierarchy (which changes nothing about its scheduling: cpu and
 * cpuacct are separate hierarchies here) and its usage read from there. That needs root and a
 * writable cpuacct mount; where either is missing the ticks are used, and `source` says which.
 * (`/proc/<pid>/sched`'s `se.sum_exec_runtime` reads 0 on this kernel, and a cgroup v2 machine
 * would need `cpu.stat`'s `usage_usec`, not implemented: it falls back to the ticks.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuClock {
  /** What the seconds are read from, for the results' config. */
  readonly source: string;
  /** Starts accounting `pid` (call once, right after it started). */
  track(pid: number): void;
  /** CPU seconds `pid` used since it was tracked (or since it started, for the ticks). */
  seconds(pid: number): number;
  /** Stops accounting `pid` (after it exited); never throws. */
  untrack(pid: number): void;
}

const CPUACCT = '/sys/fs/cgroup/cpuacct';

/** The finest clock available here: cgroup v1 cpuacct, else /proc/<pid>/stat ticks. */
export function openCpuClock(): CpuClock {
  return cpuacctClock() ?? ticksClock();
}

function ticksClock(): CpuClock {
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return {
    source: `/proc/<pid>/stat utime+stime (1/${clkTck} s ticks)`,
    track: () => undefined,
    seconds(pid) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start at field 3; utime is 14.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / clkTck;
    },
    untrack: () => undefined,
  };
}

function cpuacctClock(): CpuClock | undefined {
  if (!existsSync(join(CPUACCT, 'cpuacct.usage'))) return undefined;
  const groupOf = (pid: number): string => join(CPUACCT, `drainkit-bench-${process.pid}-${pid}`);
  // Groups an interrupted run left behind go when empty (rmdir refuses a group still in use).
  for (const name of readdirSync(CPUACCT)) {
    if (!name.startsWith('drainkit-bench-')) continue;
    try {
      rmdirSync(join(CPUACCT, name));
    } catch {
      // still in use, or not ours to remove
    }
  }
  // Probe: a group of our own must be creatable and readable; we do not move ourselves into it.
  const probe = groupOf(0);
  try {
    mkdirSync(probe);
    readFileSync(join(probe, 'cpuacct.usage'), 'utf8');
    rmdirSync(probe);
  } catch {
    return undefined;
  }
  return {
    source: 'cgroup v1 cpuacct.usage (ns), one cgroup per server process',
    track(pid) {
      const group = groupOf(pid);
      mkdirSync(group);
      // cgroup.procs moves every thread of the process.
      writeFileSync(join(group, 'cgroup.procs'), String(pid));
    },
    seconds(pid) {
      return Number(readFileSync(join(groupOf(pid), 'cpuacct.usage'), 'utf8').trim()) / 1e9;
    },
    untrack(pid) {
      try {
        // Empty once the process has exited; one still in use is left for the next run's
        // clean-up (above) rather than failing the benchmark.
        rmdirSync(groupOf(pid));
      } catch {
        // see above
      }
    },
  };
}
