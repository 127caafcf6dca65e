/**
 * Process signal handlers of a drainer: the first signal starts a drain, the next ones force it.
 * Handlers stay installed only while they are needed: they are removed once the drain has
 * stopped, so a later signal gets the process's default behaviour (or other handlers) again.
 */
import type { DrainLog } from './drain-log.js';
import { signalWrapper, signalWrapperWarning } from './signal-reach.js';
import type { HandledSignal } from './types.js';

/** Drainers in this process that handle signals, to warn when one signal would drain several. */
const handling = new Set<object>();

export interface SignalHandlers {
  /** Removes the handlers (idempotent). */
  remove(): void;
  /** Another drainer of this process already handled signals when these were installed. */
  readonly shared: boolean;
}

/** Installs `onSignal` for each of `signals` on behalf of `owner`. */
export function installSignalHandlers(owner: object, signals: readonly HandledSignal[], onSignal: (signal: HandledSignal) => void): SignalHandlers {
  if (signals.length === 0) return { remove: () => undefined, shared: false };
  const shared = handling.size > 0;
  const handler = (signal: NodeJS.Signals): void => onSignal(signal as HandledSignal);
  for (const s of signals) process.on(s, handler);
  handling.add(owner);
  let installed = true;
  return {
    shared,
    remove() {
      if (!installed) return;
      installed = false;
      for (const s of signals) process.removeListener(s, handler);
      handling.delete(owner);
    },
  };
}

/**
 * The warnings at start, once per drainer that handles signals: another drainer handles them
 * too (`shared`), or a wrapper stands between the orchestrator and this process.
 */
export function warnAboutSignals(log: DrainLog, signals: readonly HandledSignal[], shared: boolean): void {
  if (shared) {
    log.writeOrWarn(
      'warn',
      { event: 'signals_shared', signals },
      `another drainer in this process already handles ${signals.join(', ')}: one signal drains both. ` +
        `That is right when one process serves several servers (the process exits once every drain has ended); if not, ` +
        `pass signals: false to all drainers but one (or signalWarnings: false to silence this).`,
      'DRAINKIT_SIGNALS_SHARED',
    );
  }
  const wrapper = signalWrapper();
  if (wrapper !== undefined) {
    log.writeOrWarn('warn', { event: 'signal_wrapper', wrapper }, signalWrapperWarning(wrapper), 'DRAINKIT_SIGNAL_WRAPPER');
  }
}
