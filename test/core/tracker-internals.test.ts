/**
 * The one place the tracker leans on Node's internals (after a `Connection: close` response,
 * Node's `socket.destroySoon()` registers `socket.destroy` on 'finish'; the tracker removes it to
 * keep the half-close) is checked at run time: when the listener is not there, the tracker says
 * so once, through its host, instead of silently losing the half-close. Simulated here by giving
 * sockets a `destroySoon` that destroys through a closure of its own, as a changed Node might.
 * Through a drainer, the report is a log line, or a process warning when there is no logger
 * (the default without a terminal, as in a container): never silent. The same holds for Node's
 * list of a server's HTTP/1 connections ('connections-list'), read at the drain's start.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Tracker, type NodeAssumptionReport } from '../../src/core/tracker.js';
import { createDrainer, type Logger } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { listen, until } from '../helpers/servers.js';
import { RawClient, get } from '../helpers/raw.js';

/** A Node whose destroySoon no longer registers `socket.destroy` itself on 'finish'. */
function simulateChangedDestroySoon(socket: Socket): void {
  socket.destroySoon = function destroySoon(this: Socket): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  };
}

async function harness() {
  const reports: NodeAssumptionReport[] = [];
  const tracker = new Tracker(
    { lingerMs: 10_000, leaveIdleToClient: false, onActivity: () => undefined, onRelease: () => undefined, onNodeAssumptionBroken: (r) => void reports.push(r) },
    [],
  );
  const server = http.createServer();
  server.on('connection', tracker.onConnection);
  server.prependListener('request', tracker.onRequest);
  server.on('request', (req, res) => {
    if (req.url === '/changed') simulateChangedDestroySoon(req.socket);
    res.end('ok');
  });
  const port = await listen(server);
  // Draining: every response carries Connection: close and goes through Node's destroySoon.
  tracker.startDrain();
  return { reports, tracker, server, port };
}

async function requestAndClose(port: number, path: string): Promise<RawClient> {
  const c = await RawClient.connect(port);
  c.write(get(path));
  await c.waitFor((x) => x.ended, `the response to ${path} and the server FIN`);
  assert.match(c.data, /connection: close/i);
  return c;
}

describe('run-time check of the Node internals the tracker relies on', { timeout: 30_000 }, () => {
  it('stays silent while Node registers socket.destroy on finish, and the half-close is kept', async () => {
    const h = await harness();
    try {
      const c = await requestAndClose(h.port, '/');
      assert.equal(h.tracker.lingering.size, 1, 'the socket lingers half-closed for the client FIN');
      c.socket.end();
      await c.waitFor((x) => x.closed, 'the close');
      await until(() => h.tracker.lingering.size === 0, 10_000, 'the lingering socket to close on the client FIN');
      assert.equal(c.error, undefined);
      assert.deepEqual(h.reports, []);
    } finally {
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it('reports once when the destroy-on-finish listener is missing, naming the assumption and the Node version', async () => {
    const h = await harness();
    const clients: RawClient[] = [];
    try {
      clients.push(await requestAndClose(h.port, '/changed'));
      assert.equal(h.reports.length, 1, 'reported at the first socket');
      clients.push(await requestAndClose(h.port, '/changed'));
      clients.push(await requestAndClose(h.port, '/'));
      assert.equal(h.reports.length, 1, 'and only once per tracker');
      const [report] = h.reports;
      assert.equal(report!.assumption, 'destroy-on-finish');
      assert.equal(report!.nodeVersion, process.version);
      assert.match(report!.message, /destroySoon/);
      assert.match(report!.message, /half-close/);
    } finally {
      for (const c of clients) c.socket.destroy();
      h.server.closeAllConnections();
      h.server.close();
    }
  });

  it("reports once when the server's connections list is missing at the drain start, and keeps the idle connection instead of closing it at the listener close", async () => {
    const reports: NodeAssumptionReport[] = [];
    // The tracker reads the list from its host's server: one without it (a net.Server) stands in
    // for a Node that no longer keeps it, while the http server's events drive the tracker.
    const tracker = new Tracker(
      { lingerMs: 10_000, server: new net.Server(), leaveIdleToClient: false, onActivity: () => undefined, onRelease: () => undefined, onNodeAssumptionBroken: (r) => void reports.push(r) },
      [],
    );
    const server = http.createServer();
    server.on('connection', tracker.onConnection);
    server.prependListener('request', tracker.onRequest);
    server.on('request', (_req, res) => res.end('ok'));
    const port = await listen(server);
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = await RawClient.connect(port);
        c.write(get('/'));
        await c.waitFor((x) => x.responses() === 1, 'a keep-alive response');
        clients.push(c);
      }
      assert.equal(tracker.inflight, 0);
      tracker.startDrain();
      assert.equal(reports.length, 1, 'reported once, for both idle connections');
      assert.equal(reports[0]!.assumption, 'connections-list');
      assert.equal(reports[0]!.nodeVersion, process.version);
      assert.match(reports[0]!.message, /http\.server\.connections/);
      tracker.closeIdle();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(clients.some((c) => c.ended || c.closed), false, 'kept: it might be reading a request');
      assert.equal(tracker.inflight, 0);
    } finally {
      for (const c of clients) c.socket.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});

interface LogLine {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/**
 * A drainer in its deregistration window (every response carries Connection: close) whose
 * '/changed' requests get the simulated destroySoon; the process warnings with `code` are
 * collected from the start.
 */
async function drainerHarness(logger: Logger | false) {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    if ((w as Error & { code?: string }).code === 'DRAINKIT_NODE_ASSUMPTION') warnings.push(w);
  };
  process.on('warning', onWarning);
  const server = http.createServer((req, res) => {
    if (req.url === '/changed') simulateChangedDestroySoon(req.socket);
    res.end('ok');
  });
  const drainer = createDrainer(server, { signals: false, logger, deregister: { mode: 'fixed', delayMs: 30_000 } });
  const port = await listen(server);
  const done = drainer.drain('test');
  const clients: RawClient[] = [];
  return {
    warnings,
    port,
    clients,
    async request(path: string): Promise<void> {
      clients.push(await requestAndClose(port, path));
    },
    /** Ends the drain (the window is long on purpose), then waits for Node's warnings to be emitted. */
    async end(): Promise<void> {
      try {
        await withDeadline(drainer.force('test over'), 20_000, 'the forced drain to end');
        await withDeadline(done, 20_000, 'the drain() promise to settle after force()');
        // process.emitWarning emits on the next tick.
        await new Promise((r) => setImmediate(r));
      } finally {
        for (const c of clients) c.socket.destroy();
        process.off('warning', onWarning);
      }
    },
  };
}

describe('a broken Node assumption, reported through a drainer', { timeout: 60_000 }, () => {
  it('without a logger: exactly one process warning DRAINKIT_NODE_ASSUMPTION, naming the assumption and the Node version', async () => {
    const h = await drainerHarness(false);
    try {
      await h.request('/changed');
      await h.request('/changed');
      await h.request('/');
    } finally {
      await h.end();
    }
    assert.equal(h.warnings.length, 1, h.warnings.map((w) => w.message).join('\n'));
    const [w] = h.warnings;
    assert.match(w!.message, /^drainkit: /);
    assert.match(w!.message, /destroySoon/);
    assert.match(w!.message, /"destroy-on-finish"/);
    assert.ok(w!.message.includes(process.version), w!.message);
  });

  it('with a logger: one warn line drain_node_assumption, and no process warning', async () => {
    const lines: LogLine[] = [];
    const at = (level: string) => (obj: object, msg?: string): void => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
    const h = await drainerHarness({ info: at('info'), warn: at('warn'), error: at('error') });
    try {
      await h.request('/changed');
      await h.request('/changed');
    } finally {
      await h.end();
    }
    assert.deepEqual(h.warnings, []);
    const reported = lines.filter((l) => l.obj.event === 'drain_node_assumption');
    assert.equal(reported.length, 1);
    assert.equal(reported[0]!.level, 'warn');
    assert.equal(reported[0]!.obj.assumption, 'destroy-on-finish');
    assert.equal(reported[0]!.obj.nodeVersion, process.version);
    assert.match(String(reported[0]!.msg), /destroySoon/);
  });
});
