/**
 * Can the orchestrator's signal reach this process? Kubernetes and Docker send SIGTERM to the
 * container's PID 1 only. When that is `npm run …`, `npm exec`/`npx`, yarn, pnpm or a `sh -c`
 * wrapper (Dockerfile shell-form `CMD`), the signal ends the wrapper, or is ignored by it, and
 * the server is killed at the grace period's end without draining. drainkit walks up its chain
 * of ancestors once at start (at most {@link MAX_LEVELS}, through /proc): through package
 * managers, `sh -c` shells and tsx, stopping at the first other process (an interactive shell,
 * an init, a supervisor or test that spawned this one on purpose). Measured (Linux, dash as
 * /bin/sh, SIGTERM sent to the outermost process only): `tsx srv.ts` passes it on to its node
 * child (tsx relays SIGINT and SIGTERM), so tsx alone is not warned about; `npx tsx srv.ts`
 * (npm exec → sh -c → tsx → node), `npm start` with `"start": "tsx srv.ts"` and `sh -c "tsx srv.ts"`
 * do not: sh dies of the signal and node is left running. Linux only; cheap; never throws.
 */
import { fs } from './builtins.js';

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'busybox']);

interface Proc {
  readonly pid: number;
  readonly comm: string;
  readonly argv: readonly string[];
  readonly ppid: number;
}

function readProc(pid: number): Proc | undefined {
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name in field 2 may hold spaces and parentheses: the fields after the last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { pid, comm, argv, ppid };
  } catch {
    return undefined;
  }
}

/** How far up the chain of ancestors drainkit looks (npm → sh -c → tsx → node is three). */
const MAX_LEVELS = 6;

type Link =
  | { readonly kind: 'package-manager'; readonly text: string }
  | { readonly kind: 'shell'; readonly text: string }
  | { readonly kind: 'tsx'; readonly text: string };

const PACKAGE_MANAGER_SCRIPT = /(^|\/)(npm|npx|yarn|pnpm|pnpx)(-cli)?(\.c?js)?$/;

/**
 * A node process. Its `comm` is `node` up to Node 24; Node 26 names its main thread, so the
 * process's `comm` reads `node-MainThread` there (seen with the official 26.12 binary).
 */
function isNode(p: Proc): boolean {
  return p.comm === 'node' || p.comm.startsWith('node-') || (p.argv[0] ?? '').split('/').pop() === 'node';
}

function classify(p: Proc, env: NodeJS.ProcessEnv): Link | undefined {
  const event = env.npm_lifecycle_event;
  // npm sets its process title to `npm run <script>`, `npm exec …`; npx runs as `npm exec`.
  if (/^np[mx]\b/.test(p.comm) || p.argv.some((a) => /(^|\/)np[mx](-cli\.js)?$/.test(a))) {
    const how = env.npm_command === 'exec' ? 'npm exec / npx' : event ? `npm run ${event}` : 'npm';
    return { kind: 'package-manager', text: `${how} (pid ${p.pid})` };
  }
  const pm = p.argv.slice(0, 3).map((a) => PACKAGE_MANAGER_SCRIPT.exec(a)?.[2]).find((m) => m !== undefined);
  if (pm !== undefined) return { kind: 'package-manager', text: `${pm}${event ? ` ${event}` : ''} (pid ${p.pid})` };
  const name = p.comm.split('/').pop() ?? p.comm;
  if (SHELLS.has(name) && p.argv.slice(1).some((a) => /^-[a-z]*c[a-z]*$/.test(a))) return { kind: 'shell', text: `${name} -c (pid ${p.pid})` };
  // tsx's CLI (`node …/.bin/tsx srv.ts`) relays SIGTERM to the node process it starts; a
  // loader (`node --import tsx`) is no process of its own.
  if (isNode(p) && p.argv.some((a) => /\/tsx(\/dist\/cli\.m?js)?$/.test(a))) return { kind: 'tsx', text: `tsx (pid ${p.pid})` };
  return undefined;
}

/** Under `node --test`: a test file the runner started (or the runner itself) warns about nothing. */
function underTestRunner(env: NodeJS.ProcessEnv, parent: Proc | undefined): boolean {
  if (env.NODE_TEST_CONTEXT === undefined) return false;
  // A process that a test spawns inherits NODE_TEST_CONTEXT too; its signals are its own concern.
  return process.execArgv.includes('--test') || (parent !== undefined && isNode(parent) && parent.argv.includes('--test'));
}

/**
 * The wrapper standing between the orchestrator and this process (e.g. `npm run start (pid 7)`):
 * the outermost package manager in the chain of wrappers above this process, else its outermost
 * `sh -c`; undefined when none is seen (tsx alone passes the signal on), under the test runner,
 * or when this is not Linux.
 */
export function signalWrapper(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const chain: Link[] = [];
    let pid = process.ppid;
    let parent: Proc | undefined;
    for (let level = 0; level < MAX_LEVELS && pid > 1; level++) {
      const p = readProc(pid);
      if (!p) break;
      parent ??= p;
      const link = classify(p, env);
      if (!link) break;
      chain.push(link);
      pid = p.ppid;
    }
    if (underTestRunner(env, parent)) return undefined;
    const outermost = (kind: Link['kind']): Link | undefined => chain.filter((l) => l.kind === kind).at(-1);
    return (outermost('package-manager') ?? outermost('shell'))?.text;
  } catch {
    return undefined;
  }
}

export function signalWrapperWarning(wrapper: string): string {
  return (
    `this process was started through ${wrapper}, which does not pass SIGTERM on reliably: when it is a container's PID 1, ` +
    `the orchestrator's signal never reaches drainkit and the server is killed without draining. ` +
    `Start node directly (exec form CMD ["node", "server.js"]), use exec node … in a script, or run an init (tini, docker run --init); ` +
    `tsx passes the signal on to node when it is started directly (node_modules/.bin/tsx server.ts, not npx tsx or an npm script). ` +
    `Silence this warning with signalWarnings: false.`
  );
}
