/**
 * The clients of bench/reconnect-storm.ts, in their own processes (one for the reconnecting
 * clients, one for the latency probe, so neither's event loop delays the other's timings).
 *
 * Reconnecting clients (through the balancer):
 *   { cmd: 'connect', port, count, concurrency } → { open, ms }: opens `count` WebSockets to
 *     ws://127.0.0.1:<port>/ws; each reconnects at once when closed, and 100 ms after a failed
 *     attempt (a refused upgrade, a reset), as a simple client library does.
 *   { cmd: 'status' } → { open }
 *   { cmd: 'stats', since } → { reconnects: [epoch ms of each open after `since`], failures: { kind: n }, open }
 *   { cmd: 'closeAll' }
 *
 * Latency probe (straight to the survivors, not through the balancer):
 *   { cmd: 'probeStart', ports, socketsPerPort, ratePerSec } → { open }: paced echo messages,
 *     round-robin over the probe sockets; each sample is [sent at (epoch ms), round trip ms].
 *   { cmd: 'probeStop' } → { samples, lost }
 */
import WebSocket from 'ws';
import { announce, epochMs, serveIpc } from './common.js';

const RETRY_AFTER_FAILURE_MS = 100;

let stopping = false;
const sockets = new Set<WebSocket>();
const opens: number[] = [];
const failures: Record<string, number> = {};

function client(url: string, onFirstOpen: (ok: boolean) => void): void {
  let first = true;
  const attempt = (): void => {
    if (stopping) return;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let opened = false;
    ws.on('open', () => {
      opened = true;
      sockets.add(ws);
      opens.push(epochMs());
      if (first) {
        first = false;
        onFirstOpen(true);
      }
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (!opened) failures[err.code ?? err.message] = (failures[err.code ?? err.message] ?? 0) + 1;
    });
    ws.on('close', () => {
      sockets.delete(ws);
      if (stopping) return;
      if (opened) attempt();
      else setTimeout(attempt, RETRY_AFTER_FAILURE_MS);
    });
  };
  attempt();
}

async function connect(port: number, count: number, concurrency: number): Promise<{ open: number; ms: number }> {
  const started = epochMs();
  const url = `ws://127.0.0.1:${port}/ws`;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await new Promise<boolean>((resolve) => client(url, resolve));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { open: sockets.size, ms: Math.round(epochMs() - started) };
}

// The latency probe.
const probes: WebSocket[] = [];
const pending = new Map<number, number>();
const samples: [number, number][] = [];
let pacer: NodeJS.Timeout | undefined;

async function probeStart(ports: readonly number[], socketsPerPort: number, ratePerSec: number): Promise<{ open: number }> {
  await Promise.all(
    ports.flatMap((port) =>
      Array.from({ length: socketsPerPort }, () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
          ws.once('open', () => {
            probes.push(ws);
            resolve();
          });
          ws.once('error', reject);
          ws.on('message', (data: Buffer) => {
            const seq = Number(data.toString());
            const sentAt = pending.get(seq);
            if (sentAt === undefined) return;
            pending.delete(seq);
            samples.push([sentAt, epochMs() - sentAt]);
          });
        }),
      ),
    ),
  );
  // Paced by the clock, not by the timer: a late tick sends what is due, so a stall on this
  // side does not thin the sample out exactly when the survivors are busiest.
  const started = epochMs();
  let sent = 0;
  pacer = setInterval(() => {
    const due = Math.floor(((epochMs() - started) * ratePerSec) / 1000);
    for (; sent < due; sent += 1) {
      const ws = probes[sent % probes.length]!;
      if (ws.readyState !== WebSocket.OPEN) continue;
      pending.set(sent, epochMs());
      ws.send(String(sent));
    }
  }, 2);
  return { open: probes.length };
}

serveIpc({
  connect: (m) => connect(Number(m.port), Number(m.count), Number(m.concurrency ?? 100)),
  status: () => ({ open: sockets.size }),
  stats: (m) => ({ reconnects: opens.filter((t) => t >= Number(m.since)), failures: { ...failures }, open: sockets.size }),
  closeAll: () => {
    stopping = true;
    for (const ws of sockets) ws.terminate();
    return { closed: true };
  },
  probeStart: (m) => probeStart(m.ports as number[], Number(m.socketsPerPort), Number(m.ratePerSec)),
  probeStop: () => {
    clearInterval(pacer);
    for (const ws of probes) ws.terminate();
    return { samples, lost: pending.size };
  },
});
announce({ event: 'ready', pid: process.pid });
