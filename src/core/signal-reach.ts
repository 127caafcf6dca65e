/**
 * Can the orchestrator's signal reach this process? Kubernetes and Docker send SIGTERM to the
 * container's PID 1 only. When that is `npm run …`, `npm exec`/`npx` or a `sh -c` wrapper
 * (Dockerfile shell-form `CMD`), the signal ends the wrapper, or is ignored by it, and the server
 * is killed at the grace period's end without draining. drainkit looks at its parent (and, when
 * that is another node process such as `tsx`, its grandparent) once at start. Linux only
 * (`/proc`); cheap; never throws.
 */
import { readFileSync } from 'node:fs';

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'busybox']);

interface Proc {
  readonly pid: number;
  readonly comm: string;
  readonly argv: readonly string[];
  readonly ppid: number;
}

function readProc(pid: number): Proc | undefined {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name in field 2 may hold spaces and parentheses: the fields after the last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { pid, comm, argv, ppid };
  } catch {
    return undefined;
  }
}

function describeWrapper(p: Proc, env: NodeJS.ProcessEnv): string | undefined {
  // npm sets its process title to `npm run <script>`, `npm exec …`; npx runs as `npm exec`.
  if (/^np[mx]\b/.test(p.comm) || p.argv.some((a) => /(^|\/)np[mx](-cli\.js)?$/.test(a))) {
    const event = env.npm_lifecycle_event;
    const how = env.npm_command === 'exec' ? 'npm exec / npx' : event ? `npm run ${event}` : 'npm';
    return `${how} (pid ${p.pid})`;
  }
  const name = p.comm.split('/').pop() ?? p.comm;
  if (SHELLS.has(name) && p.argv.slice(1).some((a) => /^-[a-z]*c[a-z]*$/.test(a))) return `${name} -c (pid ${p.pid})`;
  return undefined;
}

/**
 * The wrapper standing between the orchestrator and this process (e.g. `npm run start (pid 7)`),
 * or undefined when none is seen (or this is not Linux).
 */
export function signalWrapper(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const parent = readProc(process.ppid);
    if (!parent) return undefined;
    const direct = describeWrapper(parent, env);
    if (direct?.startsWith('np') === true) return direct;
    // Look one level further up when the parent is a shell (npm runs scripts through `sh -c`)
    // or another node process (tsx, nodemon): npm above it is what the advice must name.
    if (direct !== undefined || parent.comm === 'node') {
      const grand = parent.ppid > 1 ? readProc(parent.ppid) : undefined;
      const above = grand ? describeWrapper(grand, env) : undefined;
      if (above !== undefined) return direct === undefined ? above : `${above} and ${direct}`;
    }
    return direct;
  } catch {
    return undefined;
  }
}

export function signalWrapperWarning(wrapper: string): string {
  return (
    `this process was started through ${wrapper}, which does not pass SIGTERM on reliably: when it is a container's PID 1, ` +
    `the orchestrator's signal never reaches drainkit and the server is killed without draining. ` +
    `Start node directly (exec form CMD ["node", "server.js"]), use exec node … in a script, or run an init (tini, docker run --init). ` +
    `Silence this warning with signalWarnings: false.`
  );
}
