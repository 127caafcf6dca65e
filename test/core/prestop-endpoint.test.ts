/**
 * The preStop endpoint (`health.preStopPath`) on real sockets: it starts the drain at once and
 * answers when the deregistration window has ended; repeated calls join the same drain; after the
 * window it answers at once. It is refused where a client of the service could reach it: on the
 * main server without a secret (404), and anywhere with a missing or wrong secret (403), each
 * refusal logged and without draining. Every wait is on an event, bounded.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { createDrainer, DrainkitError, type Drainer, type DrainerOptions, type Logger } from '../../src/index.js';
import { withDeadline } from '../helpers/deadline.js';
import { listen } from '../helpers/servers.js';

const TOKEN = 'k8s-prestop-secret-0123456789';
const WINDOW_MS = 600;

interface Logged {
  readonly level: string;
  readonly fields: Record<string, unknown>;
}

async function start(health: DrainerOptions['health'], deregister: DrainerOptions['deregister'] = { mode: 'fixed', delayMs: WINDOW_MS }) {
  const logged: Logged[] = [];
  const logger: Logger = {
    info: (fields) => logged.push({ level: 'info', fields: fields as Record<string, unknown> }),
    warn: (fields) => logged.push({ level: 'warn', fields: fields as Record<string, unknown> }),
    error: (fields) => logged.push({ level: 'error', fields: fields as Record<string, unknown> }),
  };
  const server = http.createServer();
  const drainer = createDrainer(server, { signals: false, logger, drainTimeoutMs: 10_000, deregister, health });
  const release: (() => void)[] = [];
  server.on('request', (req, res) => {
    if (drainer.handleHealth(req, res)) return;
    if (req.url === '/held') release.push(() => res.end('held'));
    else res.end(`app ${req.url}`);
  });
  const port = await listen(server);
  const healthPort = drainer.healthAddress?.port ?? (await healthListening(drainer));
  return {
    server,
    drainer,
    port,
    healthPort,
    logged,
    release,
    close(): void {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The dedicated health server listens asynchronously; undefined when none was asked for. */
async function healthListening(drainer: Drainer): Promise<number | undefined> {
  if (drainer.options.health === false || drainer.options.health.port === undefined) return undefined;
  for (let i = 0; i < 200 && drainer.healthAddress === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(drainer.healthAddress, 'the health server to listen');
  return drainer.healthAddress.port;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  /** What the drainer was doing when the answer arrived. */
  readonly phaseAtAnswer: string | undefined;
  readonly windowOverAtAnswer: boolean;
}

function call(port: number, path: string, drainer: Drainer, flags: { windowOver: boolean }, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, phaseAtAnswer: drainer.phase, windowOverAtAnswer: flags.windowOver }));
    });
    req.on('error', reject);
    req.end();
  });
}

function watchWindow(drainer: Drainer): { windowOver: boolean; ended: Promise<string> } {
  const flags = { windowOver: false, ended: Promise.resolve('') };
  flags.ended = new Promise((resolve) =>
    drainer.once('windowEnd', ({ endedBy }) => {
      flags.windowOver = true;
      resolve(endedBy);
    }),
  );
  return flags;
}

describe('preStop endpoint', { timeout: 60_000 }, () => {
  it('on the health port: starts the drain at once, answers when the window has ended; a repeat joins it; after the window it answers at once', async () => {
    const h = await start({ port: 0, host: '127.0.0.1', preStopPath: '/prestop' });
    try {
      const w = watchWindow(h.drainer);
      // An in-flight request keeps the drain in its waiting phase after the window.
      const held = call(h.port, '/held', h.drainer, w);
      await withDeadline((async () => { while (h.drainer.inflight === 0) await new Promise((r) => setTimeout(r, 5)); })(), 10_000, 'the held request to arrive');

      const first = call(h.healthPort!, '/prestop', h.drainer, w);
      await withDeadline((async () => { while (h.drainer.state === 'active') await new Promise((r) => setTimeout(r, 5)); })(), 10_000, 'the drain to start');
      const readiness = await call(h.healthPort!, '/readyz', h.drainer, w);
      assert.equal(readiness.status, 503, 'readiness turns 503 while the preStop call is still waiting');
      assert.equal(w.windowOver, false, 'the window is still open while preStop waits');
      const second = call(h.healthPort!, '/prestop', h.drainer, w);

      const [a, b] = await withDeadline(Promise.all([first, second]), 10_000, 'both preStop answers');
      for (const answer of [a, b]) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body, 'deregistration window over (fixed)\n');
        assert.equal(answer.windowOverAtAnswer, true, 'answered only after the window ended');
      }
      // After the window: closing (the listener closes once its accept queue is empty) or already waiting.
      assert.ok(['closing', 'waiting'].includes(h.drainer.phase ?? ''), `the drain goes on after the answers (the held request); phase ${String(h.drainer.phase)}`);
      const third = await withDeadline(call(h.healthPort!, '/prestop', h.drainer, w), 5_000, 'a preStop call after the window');
      assert.equal(third.status, 200);
      // Answered at once: still closing (the listener closes in a timer once its accept queue
      // is empty) or waiting for the held request; never at the end of the drain.
      assert.ok(['closing', 'waiting'].includes(String(third.phaseAtAnswer)), `after the window, answered at once, not at the end of the drain; phase ${String(third.phaseAtAnswer)}`);

      const starts = h.logged.filter((l) => l.fields.event === 'drain_start');
      assert.equal(starts.length, 1, 'one drain for all the calls');
      assert.equal(starts[0]!.fields.reason, 'preStop');
      assert.deepEqual(h.logged.filter((l) => l.fields.event === 'drain_prestop').map((l) => l.fields.joined), [false, true, true]);

      h.release.forEach((r) => r());
      assert.equal((await held).status, 200);
    } finally {
      h.close();
    }
  });

  it('with confirm "traffic": the answer comes when the traffic has gone quiet', async () => {
    const h = await start({ port: 0, host: '127.0.0.1', preStopPath: '/prestop' }, { mode: 'adaptive', minMs: 200, maxMs: 20_000, quietMs: 300, confirm: 'traffic' });
    try {
      const w = watchWindow(h.drainer);
      const answer = await withDeadline(call(h.healthPort!, '/prestop', h.drainer, w), 10_000, 'the preStop answer');
      assert.equal(answer.body, 'deregistration window over (traffic-quiet)\n');
      assert.equal(answer.windowOverAtAnswer, true);
    } finally {
      h.close();
    }
  });

  it('refused on the main server without a secret: 404, logged, no drain', async () => {
    const h = await start({ port: 0, host: '127.0.0.1', preStopPath: '/prestop' });
    try {
      const w = watchWindow(h.drainer);
      const answer = await call(h.port, '/prestop', h.drainer, w);
      assert.equal(answer.status, 404);
      assert.equal(h.drainer.state, 'active', 'a client of the service must not start a drain');
      const refused = h.logged.find((l) => l.fields.event === 'prestop_refused');
      assert.ok(refused, 'the refusal is logged');
      assert.equal(refused.level, 'warn');
      assert.equal(refused.fields.port, 'main');
      assert.equal(refused.fields.status, 404);
      assert.equal((await call(h.port, '/readyz', h.drainer, w)).status, 200);
    } finally {
      h.close();
    }
  });

  it('with a secret: refused (403, logged) without it or with a wrong one, on either port; the right one drains through the main server', async () => {
    const h = await start({ port: 0, host: '127.0.0.1', preStopPath: '/prestop', preStopToken: TOKEN });
    try {
      const w = watchWindow(h.drainer);
      const attempts: [number, Record<string, string>][] = [
        [h.port, {}],
        [h.port, { 'x-drainkit-prestop': `${TOKEN}x` }],
        [h.port, { 'x-drainkit-prestop': TOKEN.slice(0, -1) + 'X' }],
        [h.healthPort!, {}],
      ];
      for (const [port, headers] of attempts) {
        const answer = await call(port, '/prestop', h.drainer, w, headers);
        assert.equal(answer.status, 403, `${port === h.port ? 'main' : 'health'} port, headers ${JSON.stringify(headers)}`);
      }
      assert.equal(h.drainer.state, 'active', 'no refused call started a drain');
      const refusals = h.logged.filter((l) => l.fields.event === 'prestop_refused');
      assert.equal(refusals.length, attempts.length, 'each refusal is logged');
      assert.ok(refusals.every((l) => !JSON.stringify(l.fields).includes(TOKEN)), 'the secret is never logged');

      const ok = await withDeadline(call(h.port, '/prestop', h.drainer, w, { 'x-drainkit-prestop': TOKEN }), 10_000, 'the preStop answer');
      assert.equal(ok.status, 200);
      assert.equal(ok.windowOverAtAnswer, true);
      assert.equal(await w.ended, 'fixed');
    } finally {
      h.close();
    }
  });

  it('only GET and POST start it', async () => {
    const h = await start({ port: 0, host: '127.0.0.1', preStopPath: '/prestop' });
    try {
      const w = watchWindow(h.drainer);
      const answer = await call(h.healthPort!, '/prestop', h.drainer, w, {}, 'DELETE');
      assert.equal(answer.status, 405);
      assert.equal(h.drainer.state, 'active');
    } finally {
      h.close();
    }
  });

  it('options: a path apart from the others, served somewhere safe; the secret is checked and never echoed', () => {
    const make = (health: unknown) => () => createDrainer(http.createServer(), { signals: false, logger: false, health: health as DrainerOptions['health'] });
    const fails = (health: unknown, message: RegExp) =>
      assert.throws(make(health), (err: unknown) => err instanceof DrainkitError && err.code === 'ERR_DRAINKIT_INVALID_OPTION' && message.test(err.message), JSON.stringify(health));
    fails({ preStopPath: '/prestop' }, /health\.preStopPath.*health\.port.*health\.preStopToken/);
    fails({ port: 0, preStopPath: '/readyz' }, /health\.preStopPath.*different from health\.readinessPath and health\.livenessPath/);
    fails({ port: 0, preStopPath: 'prestop' }, /health\.preStopPath.*starting with "\/"/);
    fails({ preStopToken: TOKEN }, /health\.preStopPath.*required with health\.preStopToken/);
    fails({ preStopPath: '/prestop', preStopToken: 'short-secret' }, /health\.preStopToken" is a string of 12 character\(s\).*16 to 256 visible ASCII/);
    fails({ preStopPath: '/prestop', preStopToken: 'has spaces in it, sixteen+' }, /health\.preStopToken/);
    fails({ preStopPath: '/prestop', preStopToken: 42 }, /health\.preStopToken" is 42/);
    assert.throws(make({ preStopPath: '/prestop', preStopToken: 'short-secret' }), (err: unknown) => !(err as Error).message.includes('short-secret'));
    const d = createDrainer(http.createServer(), { signals: false, logger: false, health: { preStopPath: '/prestop', preStopToken: TOKEN } });
    assert.deepEqual(d.options.health, { readinessPath: '/readyz', livenessPath: '/healthz', port: undefined, host: '0.0.0.0', preStopPath: '/prestop', preStopToken: TOKEN });
    const plain = createDrainer(http.createServer(), { signals: false, logger: false });
    assert.deepEqual(plain.options.health, { readinessPath: '/readyz', livenessPath: '/healthz', port: undefined, host: '0.0.0.0' });
  });
});
