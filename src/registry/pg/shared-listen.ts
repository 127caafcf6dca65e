/**
 * One LISTEN connection per store and channel, shared by every subscriber of that store: a
 * process running many reporters on one `store` (a fleet of drainers, one per port) holds one
 * backend for its notifications, not one per reporter, so a fleet of hundreds fits in a
 * database's `max_connections`.
 *
 * Each notification and each change of the connection's state goes to every subscriber. After a
 * reconnect the connection says it is listening again, and every subscriber is told so (once):
 * notifications sent while it was down are lost, so each re-reads the table. The connection is
 * closed when its last subscriber leaves.
 */
import type { ListenHandlers, Subscription } from '../driver.js';

/** Opens the one underlying subscription of a channel (a dedicated, reconnecting connection). */
export type OpenSubscription = (channel: string, handlers: ListenHandlers) => Subscription;

type ChannelState = 'connecting' | 'listening' | 'unsupported';

interface Channel {
  readonly subscribers: Set<Subscriber>;
  state: ChannelState;
  underlying: Subscription | undefined;
}

/** One subscriber's handle: its own object, so the same handlers may subscribe twice. */
interface Subscriber {
  readonly handlers: ListenHandlers;
}

export class SharedListen {
  readonly #open: OpenSubscription;
  readonly #channels = new Map<string, Channel>();

  constructor(open: OpenSubscription) {
    this.#open = open;
  }

  /** How many underlying subscriptions are open (one per channel that has subscribers). */
  get connections(): number {
    return this.#channels.size;
  }

  listen(channel: string, handlers: ListenHandlers): Subscription {
    const entry = this.#channels.get(channel) ?? this.#openChannel(channel);
    const subscriber: Subscriber = { handlers };
    entry.subscribers.add(subscriber);
    // A late subscriber is told what the others were told, after this call returns (as a fresh
    // connection would tell it): it re-reads the table on onListening.
    if (entry.state !== 'connecting') {
      queueMicrotask(() => {
        if (!entry.subscribers.has(subscriber)) return;
        if (entry.state === 'listening') call(subscriber, 'onListening');
        else if (entry.state === 'unsupported') call(subscriber, 'onUnsupported');
      });
    }
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        entry.subscribers.delete(subscriber);
        if (entry.subscribers.size > 0 || this.#channels.get(channel) !== entry) return;
        this.#channels.delete(channel);
        await entry.underlying?.close();
      },
    };
  }

  /** Closes every underlying subscription (the store is closing). */
  async closeAll(): Promise<void> {
    const entries = [...this.#channels.values()];
    this.#channels.clear();
    for (const e of entries) e.subscribers.clear();
    await Promise.all(entries.map((e) => e.underlying?.close() ?? Promise.resolve()));
  }

  #openChannel(channel: string): Channel {
    const entry: Channel = { subscribers: new Set(), state: 'connecting', underlying: undefined };
    this.#channels.set(channel, entry);
    const each = (name: 'onListening' | 'onUnsupported'): void => {
      for (const s of [...entry.subscribers]) call(s, name);
    };
    entry.underlying = this.#open(channel, {
      onNotify: (payload) => {
        for (const s of [...entry.subscribers]) {
          try {
            s.handlers.onNotify(payload);
          } catch {
            // One subscriber's failure must not keep the notification from the others.
          }
        }
      },
      onListening: () => {
        entry.state = 'listening';
        each('onListening');
      },
      onUnsupported: () => {
        // The underlying subscription gave up for good; later subscribers are told at once.
        entry.state = 'unsupported';
        each('onUnsupported');
      },
    });
    return entry;
  }
}

function call(subscriber: Subscriber, name: 'onListening' | 'onUnsupported'): void {
  try {
    subscriber.handlers[name]?.();
  } catch {
    // As above: the other subscribers still hear of it.
  }
}
