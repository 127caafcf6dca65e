/**
 * `drainkit/long-poll`: parked long-poll requests that are answered at once when the instance
 * drains, so each client re-polls against another instance.
 *
 *     import { parkLongPoll } from 'drainkit/long-poll';
 *     const poll = parkLongPoll(drainer, res);                 // 204 on drain
 *     const off = bus.once('message', (m) => poll.respond(200, m));
 *     res.on('close', off);
 *
 * A parked poll is a persistent connection of kind `'long-poll'`: it leaves the in-flight count
 * while it waits. When the persistent shutdown begins, every parked poll is answered in the same
 * tick with the drain answer (status, body and headers chosen by the application; 204 and an
 * empty body by default) and `Connection: close` on HTTP/1, so the client's next poll opens a
 * new connection, which the balancer sends elsewhere. They are not spread over
 * `persistentSpreadMs` like WebSockets and SSE streams: a client held here is waiting for data it
 * cannot get from this instance any more. A poll parked after that moment is answered at once.
 *
 * Not done: no timeout of its own (the application answers at its own timeout with
 * {@link LongPoll.respond}) and no message delivery; this module only owns the drain path.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { DrainkitError, describeValue } from '../core/errors.js';
import type { Drainer } from '../core/types.js';
import { logIntegrationError } from './log.js';
import { body, drainerArgument, freshResponseArgument, headers, integer, invalidArgument, knownKeys } from './options.js';
import { onPersistentShutdown } from './persistent-shutdown.js';

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface LongPollOptions {
  /** Status of the answer sent on drain. Default 204. Range 200 … 599. */
  readonly drainStatus?: number;
  /** Body of the answer sent on drain. Default empty; must be empty with 204 and 304. */
  readonly drainBody?: string | Uint8Array;
  /**
   * Extra headers of the answer sent on drain (for example `content-type`): header names to
   * string values. Not `content-length`, `transfer-encoding` or `connection`, which drainkit sets.
   */
  readonly drainHeaders?: Readonly<Record<string, string>>;
}

export interface LongPoll {
  /** True once answered (by the application or the drain) or closed by the client. */
  readonly settled: boolean;
  /** True when the drain answered it. */
  readonly answeredByDrain: boolean;
  /**
   * Answers the poll. Returns false, and does nothing, if it was already answered or the client
   * went away; so a message that races the drain is never written twice. Throws a
   * `DrainkitError` (and leaves the poll parked) for a status outside 200 … 599, a body that is
   * not a string or bytes, a body with 204 or 304, or headers Node would refuse.
   */
  respond(status: number, body?: string | Uint8Array, headers?: Readonly<Record<string, string>>): boolean;
}

/** Parked polls of each drainer, answered together when its persistent shutdown begins. */
const parked = new WeakMap<Drainer, Set<() => void>>();

/** Registers `res` as a parked long-poll of `drainer`. See the module comment. */
export function parkLongPoll(drainer: Drainer, res: AnyResponse, options?: LongPollOptions): LongPoll {
  drainerArgument('parkLongPoll(drainer, res)', drainer);
  freshResponseArgument('parkLongPoll(drainer, res)', res);
  knownKeys('parkLongPoll', options, ['drainStatus', 'drainBody', 'drainHeaders']);
  const drainStatus = integer('drainStatus', options?.drainStatus, 200, 599, 204);
  const drainBody = body('drainBody', options?.drainBody, '');
  if (!bodyAllowed(drainStatus) && drainBody.length > 0) {
    throw new DrainkitError('ERR_DRAINKIT_INVALID_OPTION', `drainkit: option "drainBody" is ${describeValue(drainBody)} with drainStatus ${drainStatus}; accepted: an empty body (RFC 9110 §15.3.5)`);
  }
  // Checked now: a header Node refuses would otherwise throw inside the drain, unseen, and leave
  // the poll hanging until the drain is forced.
  const drainHeaders = headers('drainHeaders', options?.drainHeaders, MANAGED_HEADERS);

  let settled = false;
  let answeredByDrain = false;
  const set = pollsOf(drainer);

  const respond = (status: number, body: string | Uint8Array = '', headers?: Readonly<Record<string, string>>, closeConnection = false): boolean => {
    if (settled || res.headersSent || res.writableEnded || res.destroyed) return false;
    settled = true;
    set.delete(answerForDrain);
    const all: Record<string, string | number> = { ...headers };
    // RFC 9110 §8.6: no Content-Length on 204 (and 304 has none of its own to give).
    if (bodyAllowed(status)) all['content-length'] = Buffer.byteLength(body);
    // HTTP/2 forbids connection-specific headers; its GOAWAY already moves the client on.
    if (closeConnection && isHttp1(res)) all.connection = 'close';
    (res as http.ServerResponse).writeHead(status, all);
    res.end(body);
    return true;
  };
  const answerForDrain = (): void => {
    try {
      if (respond(drainStatus, drainBody, drainHeaders, true)) answeredByDrain = true;
    } catch (err) {
      // Unexpected once the options were checked; say so and free the drain from this poll now.
      logIntegrationError(drainer, err, { drainStatus }, 'drainkit/long-poll: answering a parked poll on drain failed; destroying its response');
      res.destroy();
    }
  };

  res.once('close', () => {
    settled = true;
    set.delete(answerForDrain);
  });
  drainer.persistent.adopt(res, {
    kind: 'long-poll',
    goAway: answerForDrain,
    terminate: () => {
      settled = true;
      set.delete(answerForDrain);
      res.destroy();
    },
  });
  if (drainer.persistent.shuttingDown) answerForDrain();
  else set.add(answerForDrain);

  return {
    get settled() {
      return settled;
    },
    get answeredByDrain() {
      return answeredByDrain;
    },
    respond: (status, answerBody, answerHeaders) => {
      // Validated before anything is marked settled: a refused answer leaves the poll parked.
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
        throw invalidArgument('poll.respond(status)', 'status', status, 'an integer from 200 to 599');
      }
      const checkedBody = respondBody(answerBody);
      if (!bodyAllowed(status) && checkedBody.length > 0) {
        throw invalidArgument('poll.respond(status, body)', 'body', checkedBody, `an empty body with status ${status} (RFC 9110 §15.3.5)`);
      }
      return respond(status, checkedBody, headers('poll.respond headers', answerHeaders, MANAGED_HEADERS));
    },
  };
}

/** Headers `respond` sets itself (length, connection), refused in the caller's headers. */
const MANAGED_HEADERS = ['content-length', 'transfer-encoding', 'connection'];

function bodyAllowed(status: number): boolean {
  return status !== 204 && status !== 304;
}

function respondBody(value: unknown): string | Uint8Array {
  if (value === undefined) return '';
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw invalidArgument('poll.respond(status, body)', 'body', value, 'a string or a Uint8Array (Buffer)');
  }
  return value;
}

function pollsOf(drainer: Drainer): Set<() => void> {
  let set = parked.get(drainer);
  if (set) return set;
  const polls = new Set<() => void>();
  set = polls;
  parked.set(drainer, polls);
  // One subscription per drainer, however many polls are parked.
  onPersistentShutdown(drainer, () => {
    for (const answer of [...polls]) answer();
    // Later polls see `persistent.shuttingDown` and are answered as they park.
    polls.clear();
  });
  return set;
}

function isHttp1(res: AnyResponse): boolean {
  return !('stream' in res && res.stream);
}
