/**
 * The default logger when a person is watching: stderr is a terminal and the application gave
 * no logger. One plain line per phase and outcome (`drainkit: …`), never JSON; warnings and
 * errors say so. It knows the drainer's own log events and renders them briefly; any other
 * event is printed by its message.
 */
import type { Logger } from './types.js';

type Fields = Readonly<Record<string, unknown>>;
type Write = (line: string) => void;

const plural = (n: unknown, noun: string): string => `${String(n)} ${noun}${n === 1 ? '' : 's'}`;
const ms = (v: unknown): string => `${Math.round(Number(v))} ms`;

/** Lines for the drainer's own events; `null` means the event says nothing new on a terminal. */
function render(fields: Fields, msg: string): string | null {
  switch (fields.event) {
    case 'drain_start':
      return `draining (${String(fields.reason)}): readiness answers 503; ${plural(fields.inflight, 'request')} in flight, ${plural(fields.persistent, 'persistent connection')}`;
    case 'drain_window_end':
      // Folded into the `closing` line, which follows at once.
      return null;
    case 'drain_phase':
      switch (fields.phase) {
        case 'deregistering':
          return null; // the drain_start line said it
        case 'closing':
          return `closing the listener: ${plural(fields.inflight, 'request')} in flight`;
        case 'persistent':
          // Nothing to tell on an idle server: no line rather than "0 persistent connections".
          return Number(fields.persistent) > 0 ? `telling ${plural(fields.persistent, 'persistent connection')} to go away` : null;
        case 'waiting': {
          const waitingFor = [
            ...(Number(fields.inflight) > 0 ? [plural(fields.inflight, 'request')] : []),
            ...(Number(fields.persistent) > 0 ? [plural(fields.persistent, 'persistent connection')] : []),
          ];
          return waitingFor.length > 0 ? `waiting for ${waitingFor.join(' and ')}` : null;
        }
        case 'forcing':
          return null; // the drain_forced line that follows says what was forced
        case 'cleanup':
          // `hooks` absent: a drainer of another version; say it as before.
          if (fields.hooks === undefined) return 'running shutdown hooks';
          return Number(fields.hooks) > 0 ? `running ${plural(fields.hooks, 'shutdown hook')}` : null;
        default:
          return msg;
      }
    case 'drain_forced':
      return `forced by ${fields.by === 'timeout' ? 'the drain timeout' : String(fields.forceReason)}: ${plural(fields.requestsRemaining, 'request')} and ` +
        `${plural(fields.persistentRemaining, 'persistent connection')} cut, ${plural(fields.connectionsForced, 'connection')} destroyed`;
    case 'drain_complete':
      return `drain ${String(fields.outcome)} in ${ms(fields.durationMs)}: ${plural(fields.requestsCompleted, 'request')} completed` +
        (Number(fields.requestsRemaining) > 0 ? `, ${String(fields.requestsRemaining)} forced` : '');
    default:
      return msg;
  }
}

/** A logger writing one human line per drain step to `write` (default: stderr). */
export function terminalLogger(write: Write = (line) => process.stderr.write(line)): Logger {
  let closingNote = '';
  const emit = (prefix: string) => (obj: object, msg = ''): void => {
    const fields = obj as Fields;
    const text = msg.replace(/^drainkit: /, '');
    if (fields.event === 'drain_window_end') {
      closingNote = fields.endedBy === 'skipped' ? ' (deregistration window skipped)' : ` after a ${ms(fields.windowMs)} deregistration window (${String(fields.endedBy)})`;
    }
    let line = render(fields, text);
    if (line === null) return;
    if (fields.event === 'drain_phase' && fields.phase === 'closing') {
      line = line.replace('closing the listener', `closing the listener${closingNote}`);
      closingNote = '';
    }
    if (fields.event === 'drain_hint') line = `hint: ${line}`;
    write(`drainkit: ${prefix}${line}\n`);
  };
  return { info: emit(''), warn: emit('warning: '), error: emit('error: ') };
}
