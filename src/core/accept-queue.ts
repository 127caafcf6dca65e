/**
 * Reads how many connections wait in a listening TCP socket's accept queue: connections whose
 * handshake the kernel has completed and the process has not accepted yet.
 *
 * Why: closing a listening socket makes the kernel reset every connection still in that queue.
 * A balancer that connects until it is refused (nginx, which has no health checks) has often
 * written a request on such a connection already, and cannot resend it when it is a POST. Node
 * gives no way to see the queue, and accepts only when the event loop reaches its poll phase, so
 * `closeListener` asks the kernel right before it closes, and goes on accepting while the queue
 * is not empty (docs/internals.md, "The accept queue is emptied before the listener closes").
 *
 * How: Linux lists every TCP socket of the process's network namespace in `/proc/self/net/tcp`
 * (`tcp6` for IPv6 and dual-stack listeners), one fixed-width line each, with the socket's inode;
 * for a listening socket the `rx_queue` column is the accept queue's length (`sk_ack_backlog`,
 * the same figure `ss -lnt` shows as Recv-Q). Listening sockets come first in the file, so the
 * read stops at the listener's line: reading the whole file walks the kernel's connection hash
 * table and costs milliseconds (measured 0.6–8 ms here), a few small reads cost microseconds.
 * The inode comes from `/proc/self/fd/<fd>` once, when the probe is opened.
 *
 * Where it cannot be read (not Linux, no /proc, a pipe, a cluster worker whose listening socket
 * belongs to the primary, an http2/TLS server without a handle fd), `openAcceptQueueProbe`
 * returns undefined and the close falls back to what Node alone shows (an iteration that accepted
 * nothing).
 */
import type * as net from 'node:net';
import { fs } from './builtins.js';

export interface AcceptQueueProbe {
  /** Connections waiting in the accept queue now, or undefined when the line was not found. */
  length(): number | undefined;
  /** Releases the file descriptor of the /proc file. Idempotent. */
  close(): void;
}

/**
 * One line of /proc/net/tcp is 150 bytes, and each read asks for one line: the kernel produces
 * lines until the read is filled, and producing the first line after the last listener walks the
 * whole connection hash table (a 1 KB read cost 300–400 µs here, a 150-byte one 10 µs), time in
 * which the listener's state can change before the close.
 */
const READ_BYTES = 150;
/** A namespace with more listeners than this before ours: give up rather than walk on. */
const MAX_READS = 256;

interface HandleWithFd {
  readonly fd?: unknown;
}

/** Opens a probe for `server`'s listening socket; undefined where the queue cannot be read. */
export function openAcceptQueueProbe(server: net.Server): AcceptQueueProbe | undefined {
  if (process.platform !== 'linux') return undefined;
  const address = server.address();
  if (address === null || typeof address === 'string') return undefined;
  const fd = (server as unknown as { _handle?: HandleWithFd | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  let file: number;
  let inode: string;
  try {
    const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match === null) return undefined;
    inode = match[1]!;
    file = fs.openSync(address.family === 'IPv6' ? '/proc/self/net/tcp6' : '/proc/self/net/tcp', 'r');
  } catch {
    return undefined;
  }
  // The inode column is surrounded by spaces; the uid and timeout columns before it are
  // numbers too, so the match is checked to be the inode's column (the 10th).
  const needle = ` ${inode} `;
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let open = true;
  // Where the listener's line started in the last read: the next read goes there directly (the
  // kernel still produces the lines before it, but in one call instead of one call per line).
  let lineAt: number | undefined;
  const readAt = (position: number): string => {
    const n = fs.readSync(file, buffer, 0, READ_BYTES, position);
    return buffer.toString('latin1', 0, n);
  };
  const scan = (): number | undefined => {
    let text = '';
    let textAt = 0; // file offset of text[0]
    let position = 0;
    for (let reads = 0; reads < MAX_READS; reads += 1) {
      const chunk = readAt(position);
      if (chunk.length === 0) return undefined;
      position += chunk.length;
      text += chunk;
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
        const start = text.lastIndexOf('\n', at) + 1;
        const end = text.indexOf('\n', at);
        if (end < 0) break; // the line continues in the next read
        const queued = queuedOnLine(text.slice(start, end), inode);
        if (queued !== undefined) {
          lineAt = textAt + start;
          return queued;
        }
      }
      // Keep the unfinished last line for the next read; drop the rest.
      const cut = text.lastIndexOf('\n') + 1;
      textAt += cut;
      text = text.slice(cut);
    }
    return undefined;
  };
  return {
    length(): number | undefined {
      if (!open) return undefined;
      try {
        if (lineAt !== undefined) {
          const text = readAt(lineAt);
          const end = text.indexOf('\n');
          const queued = queuedOnLine(end < 0 ? text : text.slice(0, end), inode);
          if (queued !== undefined) return queued;
        }
        return scan();
      } catch {
        return undefined;
      }
    },
    close(): void {
      if (!open) return;
      open = false;
      try {
        fs.closeSync(file);
      } catch {
        // Already closed: nothing to release.
      }
    },
  };
}

/**
 * `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode …`: the accept-queue
 * length of the listener whose inode is `inode`, or undefined when this line is another socket
 * or not a listener (state 0A).
 */
export function queuedOnLine(line: string, inode: string): number | undefined {
  const cols = line.trim().split(/\s+/);
  if (cols[9] !== inode || cols[3] !== '0A') return undefined;
  const queues = cols[4]?.split(':');
  if (queues?.length !== 2) return undefined;
  const rx = Number.parseInt(queues[1]!, 16);
  return Number.isFinite(rx) ? rx : undefined;
}
