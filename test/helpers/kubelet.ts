/**
 * A simulated kubelet, for the one part of Kubernetes that cannot run here: the pod termination
 * sequence, played with real processes and real signals.
 *
 *   t0            deletion with grace G; the readiness prober keeps probing
 *   t0 … min(P,G) the preStop hook: a sleep (kubelet-side timer), an exec (a real process) or an
 *                 httpGet (a real GET with the hook's httpHeaders; P is the time to the answer)
 *   then          SIGTERM, with max(2 s, G − ⌊elapsed preStop⌋) left (the kubelet subtracts whole
 *                 seconds, and never gives less than 2 s after SIGTERM)
 *   at the end    SIGKILL to what remains
 *
 * A second deletion (`kubectl delete --grace-period=G2` while the pod terminates) at t shortens
 * the grace, never lengthens it: the end of the grace moves to min(current end, t + G2). The
 * kubelet restarts its kill with the shorter period: a preStop still running is cut at the new
 * end, and after SIGTERM the new end keeps the 2 s floor (from SIGTERM, or from t when the
 * second deletion comes after SIGTERM, as the restarted kill's StopContainer gets at least 2 s).
 *
 * The endpoint track runs beside it: the caller removes the endpoint after its lag L (for
 * example, HAProxy's runtime API puts the server in maintenance), as nothing orders the two.
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { hasExited, type ExitStatus, type ServerProcess } from './processes.js';

export type PreStopHook =
  | { readonly kind: 'none' }
  | { readonly kind: 'sleep'; readonly ms: number }
  /** Run in the "container" (here: a child process); the kubelet waits for it at most the grace. */
  | { readonly kind: 'exec'; readonly argv: readonly string[] }
  /**
   * `lifecycle.preStop.httpGet`: the kubelet GETs the container's port with the hook's
   * httpHeaders and waits for the answer at most the grace. A status outside 200–399 is a failed
   * hook (FailedPreStopHook event): the kubelet goes on to SIGTERM at once, as here.
   */
  | { readonly kind: 'httpGet'; readonly port: number; readonly path: string; readonly host?: string; readonly headers?: Readonly<Record<string, string>> };

export interface TerminationSpec {
  /** G, the deletion's grace period. */
  readonly graceMs: number;
  readonly preStop: PreStopHook;
  /** The floor after SIGTERM (the kubelet's `minimumGracePeriodInSeconds`, 2 s). */
  readonly minKillGraceMs?: number;
  /** Subtract only whole seconds of the preStop's duration from the grace, like the kubelet. Default true. */
  readonly truncatePreStopToSeconds?: boolean;
  /** A second deletion `atMs` after the first with grace `graceMs` (G2), which shortens the grace when it ends earlier. */
  readonly secondDeletion?: { readonly atMs: number; readonly graceMs: number };
}

export interface TerminationRecord {
  readonly deletedAt: number;
  readonly preStopEndedAt: number;
  readonly preStopCutByGrace: boolean;
  /** httpGet hooks: the answer's status, 0 when the request failed or the grace cut it. */
  readonly preStopStatus?: number;
  readonly sigtermAt: number;
  /** When SIGKILL was due (whether or not it was needed), after any second deletion. */
  readonly killDueAt: number;
  /** When the second deletion came, if the spec had one. */
  readonly secondDeletionAt: number | undefined;
  /** When SIGKILL would have been due without the second deletion. */
  readonly killDueWithoutSecondAt: number;
  readonly sigkillAt: number | undefined;
  readonly exitedAt: number;
  readonly exit: ExitStatus;
  /** True when the process was still running at the end of the grace. */
  readonly killed: boolean;
}

/** Plays the deletion of a pod whose container is `proc`. Resolves once the process is gone. */
export async function deletePod(proc: ServerProcess, spec: TerminationSpec): Promise<TerminationRecord> {
  const deletedAt = Date.now();
  const minKill = spec.minKillGraceMs ?? 2_000;
  // The end of the grace as the first deletion set it, and as a second deletion may shorten it.
  const graceEnd = new GraceEnd(deletedAt + spec.graceMs);
  let secondDeletionAt: number | undefined;
  let sigtermAt: number | undefined;
  const second = spec.secondDeletion;
  const secondTimer = second && setTimeout(() => {
    secondDeletionAt = Date.now();
    // After SIGTERM the restarted kill still gives the process at least the floor from now.
    graceEnd.shorten(secondDeletionAt + (sigtermAt === undefined ? second.graceMs : Math.max(minKill, second.graceMs)));
  }, second.atMs);
  try {
    let preStopCutByGrace = false;
    let preStopStatus: number | undefined;
    if (spec.preStop.kind === 'sleep') {
      const outcome = await Promise.race([sleep(spec.preStop.ms).then(() => 'done' as const), graceEnd.reached().then(() => 'grace' as const)]);
      preStopCutByGrace = outcome === 'grace';
    } else if (spec.preStop.kind === 'exec') {
      const [cmd, ...args] = spec.preStop.argv;
      const hook = spawn(cmd!, args, { stdio: 'ignore' });
      const ended = new Promise<'done'>((resolve) => {
        hook.once('close', () => resolve('done'));
        hook.once('error', () => resolve('done'));
      });
      const outcome = await Promise.race([ended, graceEnd.reached().then(() => 'grace' as const)]);
      if (outcome === 'grace') {
        preStopCutByGrace = true;
        hook.kill('SIGKILL');
        await ended;
      }
    } else if (spec.preStop.kind === 'httpGet') {
      const outcome = await httpGetHook(spec.preStop, graceEnd);
      preStopCutByGrace = outcome === 'grace';
      preStopStatus = outcome === 'grace' ? 0 : outcome;
    }
    const preStopEndedAt = Date.now();
    const elapsed = preStopEndedAt - deletedAt;
    const subtracted = spec.truncatePreStopToSeconds === false ? elapsed : Math.floor(elapsed / 1_000) * 1_000;
    const killGrace = Math.max(minKill, spec.graceMs - subtracted);

    sigtermAt = Date.now();
    const termAt = sigtermAt;
    if (!hasExited(proc.child)) proc.child.kill('SIGTERM');
    const killDueWithoutSecondAt = termAt + killGrace;
    // A second deletion before SIGTERM moved the end of the grace; the floor after SIGTERM stays.
    const dueAt = (): number => Math.max(termAt + minKill, Math.min(killDueWithoutSecondAt, graceEnd.shortenedTo ?? Infinity));
    let killDueAt = dueAt();
    let sigkillAt: number | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(killTimer);
      killDueAt = dueAt();
      killTimer = setTimeout(() => {
        if (!hasExited(proc.child)) {
          sigkillAt = Date.now();
          proc.child.kill('SIGKILL');
        }
      }, Math.max(0, killDueAt - Date.now()));
    };
    arm();
    graceEnd.onShorten(arm);
    const exit = await proc.closed;
    clearTimeout(killTimer);
    return {
      deletedAt, preStopEndedAt, preStopCutByGrace, ...(preStopStatus !== undefined && { preStopStatus }), sigtermAt: termAt, killDueAt,
      secondDeletionAt, killDueWithoutSecondAt, sigkillAt, exitedAt: Date.now(), exit, killed: sigkillAt !== undefined,
    };
  } finally {
    clearTimeout(secondTimer);
    graceEnd.dispose();
  }
}

/** The end of the grace period: a time that a second deletion can move earlier, never later. */
class GraceEnd {
  #at: number;
  #listeners: (() => void)[] = [];
  #timers = new Set<NodeJS.Timeout>();

  constructor(at: number) {
    this.#at = at;
  }

  #shortened = false;

  /**
   * The end a second deletion set, if one did. Without one, the kill is due G − ⌊preStop⌋ after
   * SIGTERM (a little after t0 + G, by the truncated fraction), not at t0 + G.
   */
  get shortenedTo(): number | undefined {
    return this.#shortened ? this.#at : undefined;
  }

  shorten(at: number): void {
    if (at >= this.#at) return;
    this.#at = at;
    this.#shortened = true;
    for (const listener of this.#listeners) listener();
  }

  onShorten(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves when the (possibly shortened) end of the grace is reached. */
  reached(): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (timer) {
          clearTimeout(timer);
          this.#timers.delete(timer);
        }
        timer = setTimeout(resolve, Math.max(0, this.#at - Date.now()));
        this.#timers.add(timer);
      };
      arm();
      this.onShorten(arm);
    });
  }

  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#listeners = [];
  }
}

/** The kubelet's HTTP hook: the status of the answer (0: the request failed), or `grace` when the grace ran out first (the request is then abandoned). */
function httpGetHook(hook: Extract<PreStopHook, { kind: 'httpGet' }>, graceEnd: GraceEnd): Promise<number | 'grace'> {
  return new Promise((resolve) => {
    let answered = false;
    void graceEnd.reached().then(() => {
      if (answered) return;
      answered = true;
      req.destroy();
      resolve('grace');
    });
    const done = (status: number): void => {
      if (answered) return;
      answered = true;
      resolve(status);
    };
    const req = http.get({ host: hook.host ?? '127.0.0.1', port: hook.port, path: hook.path, headers: { ...hook.headers }, agent: false }, (res) => {
      // The kubelet reads the body (and discards it); the hook is over when the answer is.
      res.resume();
      res.once('end', () => done(res.statusCode ?? 0));
      res.once('error', () => done(0));
    });
    req.once('error', () => done(0));
  });
}

export interface ReadinessProber {
  /** Probe results in order: when the probe was sent and answered, and its status code, or 0 for a failed connection. */
  readonly results: readonly { readonly sentAt: number; readonly at: number; readonly status: number }[];
  /** When `failureThreshold` consecutive probes had failed (the pod turned not ready), if it did. */
  readonly notReadyAt: number | undefined;
  stop(): void;
}

/** Probes `GET http://127.0.0.1:<port><path>` every `periodMs` with a `timeoutMs` bound, like the kubelet's prober worker. */
export function startReadinessProber(port: number, path: string, options: { periodMs: number; failureThreshold: number; timeoutMs?: number }): ReadinessProber {
  const results: { sentAt: number; at: number; status: number }[] = [];
  let consecutiveFailures = 0;
  let notReadyAt: number | undefined;
  let stopped = false;
  const probe = async (): Promise<void> => {
    const sentAt = Date.now();
    let status = 0;
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(options.timeoutMs ?? 1_000) });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 0;
    }
    if (stopped) return;
    results.push({ sentAt, at: Date.now(), status });
    // Kubernetes counts 200–399 as success.
    consecutiveFailures = status >= 200 && status < 400 ? 0 : consecutiveFailures + 1;
    if (consecutiveFailures >= options.failureThreshold && notReadyAt === undefined) notReadyAt = Date.now();
  };
  const timer = setInterval(() => void probe(), options.periodMs);
  void probe();
  return {
    results,
    get notReadyAt() {
      return notReadyAt;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
