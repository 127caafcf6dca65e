/**
 * The process side of one drainer: who may end the process, and when. A signal or the kubelet's
 * preStop hook is the process's owner speaking, so the drain it starts (or joins) ends the
 * process (with `exitOnDrain`); a `drain()` or `force()` call ends it only when its request asks
 * (`exit`). This module holds the drainer's signal handlers, the preStop path, the bookkeeping
 * of the kubelet's SIGTERM that follows a preStop hook, and the exit claimed when the drain
 * ends. The exit itself, shared by every drainer of the process, is src/core/exit.ts.
 */
import type { DrainLog } from './drain-log.js';
import { drainBegan, drainEnded, exitRequested, type DrainHandles } from './exit.js';
import type { SequenceEnd } from './sequence.js';
import { installSignalHandlers, warnAboutSignals, type SignalHandlers } from './signals.js';
import { EXIT_CODE_DRAINED, EXIT_CODE_FORCED, type DrainRequest, type HandledSignal, type ResolvedOptions, type WindowEnd } from './types.js';

/** How long the exit after a preStop-started drain waits for the kubelet's SIGTERM (see {@link ProcessOwner.drainEnded}). */
const KUBELET_SIGNAL_WAIT_MS = 2_000;

/** What the process owner needs of its drainer. */
export interface ProcessOwnerHost {
  readonly options: ResolvedOptions;
  readonly log: DrainLog;
  /** A drain was started (it may have ended since). */
  drainStarted(): boolean;
  /** The drain has reached `stopped`. */
  stopped(): boolean;
  /** Starts the drain, or returns the one under way. */
  start(reason: string, skipWindow: boolean): Promise<unknown>;
  /** Forces the drain under way, because of `signal`. */
  forceBySignal(signal: HandledSignal): void;
  /** Resolves when the deregistration window of the drain is over. */
  windowOver(): Promise<WindowEnd>;
}

/**
 * A drain's handles as its drainer gives them: what the exit needs, and the idle close that the
 * exit held for the kubelet's SIGTERM needs at once.
 */
export interface DrainerHandles extends DrainHandles {
  readonly closeDeferred: () => void;
}

export class ProcessOwner {
  readonly #host: ProcessOwnerHost;
  #signals: SignalHandlers | undefined;
  /** Whether the drain under way (or the next one) ends the process. */
  #exit = false;
  /** The preStop hook started (or joined) the drain and the kubelet's SIGTERM has not come yet. */
  #signalExpectedAfterPreStop = false;
  /** Set while the exit after a preStop-started drain waits for the kubelet's SIGTERM. */
  #releaseExit: (() => void) | undefined;
  /** The drain under way's handles, as given to the exit (src/core/exit.ts). */
  #handles: DrainerHandles | undefined;
  #signalSeen = false;

  constructor(host: ProcessOwnerHost) {
    this.#host = host;
  }

  /**
   * Installs the signal handlers the options ask for (their remover goes to `addDetacher` at
   * once, so a creation that fails later undoes them) and says what it warns about at start.
   */
  installSignals(addDetacher: (detach: () => void) => void): void {
    const { signals, signalWarnings } = this.#host.options;
    if (signals.length === 0) return;
    const handlers = installSignalHandlers(this, signals, (signal) => this.#onSignal(signal));
    this.#signals = handlers;
    addDetacher(() => handlers.remove());
    if (signalWarnings) warnAboutSignals(this.#host.log, signals, handlers.shared);
  }

  /**
   * A `drain()` or `force()` call (named `call` in errors): its request may ask for the exit.
   * Throws a DrainkitError on a malformed request, before anything starts.
   */
  requestExit(call: string, request: DrainRequest | undefined): void {
    if (exitRequested(call, request, this.#host.options.exitOnDrain)) this.#exit = true;
  }

  /**
   * The kubelet's preStop hook: like a signal, the process's owner speaking, so the drain ends the
   * process (with exitOnDrain). Resolves when the deregistration window is over.
   */
  preStop(): Promise<WindowEnd> {
    const host = this.#host;
    if (host.options.exitOnDrain) this.#exit = true;
    if (!host.drainStarted()) {
      host.log.write('info', { event: 'drain_prestop', joined: false }, 'preStop hook: drain started');
      this.#signalExpectedAfterPreStop = true;
      // As on the signal path: no caller awaits this drain.
      host.start('preStop', false).catch(() => undefined);
    } else {
      host.log.write('info', { event: 'drain_prestop', joined: true }, 'preStop hook: joined the drain under way');
      // Joining a drain that code started: the kubelet's SIGTERM still follows this hook.
      if (!this.#signalSeen) this.#signalExpectedAfterPreStop = true;
    }
    return host.windowOver();
  }

  #onSignal(signal: HandledSignal): void {
    const host = this.#host;
    // A signal is the process's owner speaking: the drain ends the process (with exitOnDrain),
    // including a drain that code started earlier.
    if (host.options.exitOnDrain) this.#exit = true;
    this.#signalSeen = true;
    if (this.#signalExpectedAfterPreStop) {
      // The kubelet sends SIGTERM once the preStop hook has returned: the same drain, not a second signal.
      this.#signalExpectedAfterPreStop = false;
      host.log.write('info', { event: 'drain_signal_after_prestop', signal }, `${signal} after the preStop hook: the drain goes on`);
      // Arrived after the drain ended (the handlers were kept for it): signals are the process's
      // again, and the exit held for this signal goes ahead.
      if (host.stopped()) this.#signals?.remove();
      this.#releaseExit?.();
      return;
    }
    if (!host.drainStarted()) {
      const interactive = signal === 'SIGINT' && host.options.interactiveSigintSkipsWindow && process.stdin.isTTY === true;
      // Never rejects in practice; the catch keeps a drainkit bug from becoming an unhandled
      // rejection (exit 1) on the signal path, where no caller awaits the drain.
      host.start(signal, interactive).catch(() => undefined);
    } else {
      host.log.write('warn', { event: 'drain_signal_again', signal }, `${signal} again: forcing the drain`);
      host.forceBySignal(signal);
    }
  }

  /** A drain began; `handles` tells the exit what that drain closed (see src/core/exit.ts). */
  drainBegan(handles: DrainerHandles): void {
    this.#handles = handles;
    drainBegan(this, {
      closing: handles.closing,
      livingOn: () => {
        handles.livingOn();
        // Kept by drainStopped for an exit that was to come at once.
        if (this.exitsWhenDrained()) this.#signals?.remove();
      },
    });
  }

  /**
   * Whether the process ends the moment this drain does: it was asked to (a signal, a request
   * with `exit`), and no kubelet SIGTERM is still to be waited for after a preStop hook.
   */
  exitsWhenDrained(): boolean {
    return this.#exit && !this.#signalExpectedAfterPreStop;
  }

  /**
   * The drain reached `stopped`: from here a signal is the process's again (default behaviour,
   * or other handlers). Except:
   * - the kubelet's SIGTERM after a preStop hook, which may still be on its way while this
   *   process exits: its default action would end the process by signal instead of exit 0;
   * - a drain that ends the process: the handlers go only if the process lives on after all
   *   (DrainHandles#livingOn). A signal in the one loop iteration before the exit finds the
   *   drain stopped and changes nothing.
   */
  drainStopped(): void {
    if (!this.#exit) this.#signals?.remove();
  }

  /** The drain ended: claims the exit if this drain ends the process. */
  drainEnded({ result, cleanupCut }: SequenceEnd): void {
    const code = result.success && !cleanupCut ? EXIT_CODE_DRAINED : EXIT_CODE_FORCED;
    if (this.#exit && this.#signalExpectedAfterPreStop) this.#holdExitForKubelet(code);
    else drainEnded(this, this.#claim(code));
  }

  /**
   * A drain the preStop hook started can end a few ms after the hook answered, before the
   * kubelet's SIGTERM arrives. Exiting then races that signal: while Node tears down it closes
   * its signal watchers, the default action comes back, and the late SIGTERM ends the process by
   * signal instead of with its exit code (seen in CI). So the exit waits for that SIGTERM, which
   * follows the hook's answer at once, and no longer than KUBELET_SIGNAL_WAIT_MS. (Its own
   * method: the common path through drainEnded runs once, right before the exit, and V8
   * compiles what it runs then.)
   */
  #holdExitForKubelet(code: number): void {
    // Idle connections a drain left for the exit (Tracker#closeIdle) must not wait that long.
    this.#handles?.closeDeferred();
    const hold = setTimeout(() => this.#releaseExit?.(), KUBELET_SIGNAL_WAIT_MS);
    this.#releaseExit = () => {
      this.#releaseExit = undefined;
      clearTimeout(hold);
      drainEnded(this, this.#claim(code));
    };
  }

  /**
   * The drain failed (a bug in drainkit itself): signals are the process's again, and the
   * process is still released, so an exit is not held forever.
   */
  drainFailed(): void {
    this.#signals?.remove();
    drainEnded(this, this.#claim(EXIT_CODE_FORCED));
  }

  #claim(code: number): Parameters<typeof drainEnded>[1] {
    return this.#exit ? { code, graceMs: this.#host.options.exitGraceMs, log: this.#host.log } : undefined;
  }
}
