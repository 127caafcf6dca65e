/**
 * The live feed over plain HTTP on the embedded registry (PGlite: no LISTEN, so the polling
 * path): a snapshot when a stream opens, a change when an instance registers and when it drains,
 * and a stream reopened with `Last-Event-ID` gets exactly what it missed, no snapshot; an id
 * from another run of the dashboard gets a snapshot.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { withDeadline } from '../helpers/deadline.js';
import { killTracked, signalAndWait, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { MAIN, NOT_BUILT, spawnDashboard, type DashboardProcess } from './harness.js';

interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** An open /events stream, its messages as they come. */
class Stream {
  readonly messages: SseMessage[] = [];
  readonly #waiters = new Set<() => void>();
  #req: http.ClientRequest;

  constructor(origin: string, token: string, lastEventId?: string) {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    this.#req = http.get(new URL('/events', origin), { headers }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            const colon = line.indexOf(': ');
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
          }
          const data = fields.get('data');
          if (data === undefined) continue;
          this.messages.push({ id: fields.get('id'), event: fields.get('event') ?? 'message', data: JSON.parse(data) as Record<string, unknown> });
          for (const w of this.#waiters) w();
        }
      });
    });
    this.#req.on('error', () => undefined);
  }

  async next(what: string, predicate: (m: SseMessage) => boolean, from = 0, ms = 30_000): Promise<SseMessage> {
    const found = (): SseMessage | undefined => this.messages.slice(from).find(predicate);
    return withDeadline(new Promise<SseMessage>((resolve) => {
      const check = (): void => {
        const m = found();
        if (m !== undefined) {
          this.#waiters.delete(check);
          resolve(m);
        }
      };
      this.#waiters.add(check);
      check();
    }), ms, what);
  }

  close(): void {
    this.#req.destroy();
  }
}

type Row = { id: number; port: number; status: string };

describe('dashboard event stream on the embedded registry', { skip: NOT_BUILT, timeout: 180_000 }, () => {
  let d: DashboardProcess;
  let server: ServerProcess | undefined;
  const streams: Stream[] = [];

  before(async () => {
    d = await spawnDashboard(['--data-dir', 'memory://']);
  });
  after(async () => {
    for (const s of streams) s.close();
    if (d !== undefined) await signalAndWait(d);
    await killTracked();
  });

  it('sends a snapshot, then changes, and replays exactly what a reconnecting tab missed', async () => {
    const first = new Stream(d.origin, d.token);
    streams.push(first);
    const snapshot = await first.next('the opening snapshot', (m) => m.event === 'snapshot');
    assert.deepEqual(snapshot.data.instances, []);
    assert.ok(snapshot.id !== undefined);

    // The window outlasts a poll (PGlite is polled once a second), so `draining` is seen.
    server = await spawnServer({ args: [MAIN, 'example-server', '--port', '0', '--database-url', d.registryUrl!, '--heartbeat-ms', '200',
      '--deregister-mode', 'fixed', '--deregister-delay-ms', '2500', '--linger-ms', '0', '--log-level', 'warn'] });
    const port = server.port;
    const hasStatus = (status: string) => (m: SseMessage): boolean => m.event === 'change' && (m.data.instances as Row[]).some((i) => i.port === port && i.status === status);
    const registered = await first.next(`a change with the instance on port ${port} active`, hasStatus('active'));

    // A second tab, as if it had seen only the snapshot: it reconnects with that id.
    const second = new Stream(d.origin, d.token, snapshot.id);
    streams.push(second);
    const replayed = await second.next('the replayed registration', (m) => m.event === 'change');
    assert.equal(second.messages.filter((m) => m.event === 'snapshot').length, 0, 'no snapshot for a tab that can be brought up to date');
    assert.equal(replayed.id, first.messages.find((m) => m.event === 'change')?.id, 'the first change it missed, by id');
    assert.ok(registered.id !== undefined);

    server.child.kill('SIGTERM');
    await first.next('the instance draining', hasStatus('draining'));
    await first.next('the instance stopped', hasStatus('stopped'));
    assert.equal((await server.closed).code, 0);
    await second.next('the second tab sees the stop too', hasStatus('stopped'));

    const foreign = new Stream(d.origin, d.token, 'deadbeef.3');
    streams.push(foreign);
    const s = await foreign.next('a snapshot for an id of another run', (m) => m.event === 'snapshot' || m.event === 'change');
    assert.equal(s.event, 'snapshot');
    assert.ok((s.data.instances as Row[]).some((i) => i.port === port && i.status === 'stopped'));
  });
});
