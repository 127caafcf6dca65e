/**
 * Network faults between an instance and Postgres (issue 12). Each case runs a real example
 * server (`ip netns exec <ns> node dist/cli/main.js example-server --database-url …`) in a
 * network namespace of its own, with a clean link for its clients and a database link that a
 * packet relay degrades (see test/helpers/netns.ts: netem's job, done in userspace because this
 * kernel has no sch_netem): 2 s of added latency, 30 % packet loss, a 10 s partition, a partition
 * for good. In each case:
 *
 * - the instance keeps serving HTTP during the fault (bounded load over the client link, zero
 *   failed requests);
 * - where the network comes back, a second instance in the same namespace is drained (SIGTERM
 *   with a request in flight) and exits 0 on time while the fault still lasts (the heal waits
 *   for its exit); its events, counted after the heal, are never written twice, and whatever
 *   did not land is named in `registry_writes_dropped`;
 * - a SIGTERM during the fault still exits 0, within the end of its in-flight work plus the
 *   reporter's flush bound (`shutdownFlushMs`, 3 s) plus the core's exit grace (`exitGraceMs`,
 *   1 s, which also bounds the final `drain_complete` write at 0.8 × 1 s) and a margin for a busy
 *   machine;
 * - no event is written twice: every event type of the drain appears exactly once, under the one
 *   registration the process made, counted only once no socket in the namespace is left that
 *   could still deliver a retransmitted statement;
 * - when the network comes back during the drain, every event lands; for a partition for good
 *   the exit does not wait for the network and the writes that were lost are logged.
 *
 * A fifth case loses only the answers, which makes every retried write one that had landed.
 * The cases run in parallel (each in its own namespace), so the 10 s partition sets the
 * file's floor. Needs root (or CAP_NET_ADMIN) for namespaces; skips only where the kernel refuses
 * them. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { listEvents, listInstances, type Instance } from '../../src/registry/index.js';
import { skipUnlessAvailable } from '../helpers/ci.js';
import { withDeadline } from '../helpers/deadline.js';
import { startLoad } from '../helpers/load.js';
import { Forwarder, createNamespace, netnsSupport, type LinkFault, type Namespace } from '../helpers/netns.js';
import { killAll, spawnServer, type ServerProcess } from '../helpers/processes.js';
import { createDatabase, eventually, postgresSkip, type TestDatabase } from '../registry/databases.js';

const MAIN = 'dist/cli/main.js';
/** The reporter's and the core's defaults that bound an exit (docs/registry.md, "Reporter"). */
const SHUTDOWN_FLUSH_MS = 3_000;
const EXIT_GRACE_MS = 1_000;
/** Room for a machine with 2 shared cores running other suites: a hang guard, not a timing claim. */
const MARGIN_MS = 4_000;
const DRAIN_EVENTS = ['drain_start', 'window_end', 'listener_closed', 'persistent_notified', 'waiting', 'cleanup', 'drain_complete'];

interface FaultCase {
  readonly name: string;
  readonly fault: LinkFault;
  /** When the network comes back, counted from the fault; undefined: never. */
  readonly healAfterMs: number | undefined;
  /** The reporter's heartbeat tick. Default 200 ms. */
  readonly heartbeatMs?: number;
}

const CASES: readonly FaultCase[] = [
  // One way: every packet from the instance to the database waits 2 s (round trips take 2 s more).
  { name: '2 s of added latency', fault: { towardDatabase: { delayMs: 2_000 } }, healAfterMs: 10_000 },
  { name: '30 % packet loss', fault: { towardDatabase: { loss: 0.3 }, towardInstance: { loss: 0.3 } }, healAfterMs: 10_000 },
  { name: 'a full partition for 10 s', fault: { towardDatabase: { loss: 1 }, towardInstance: { loss: 1 } }, healAfterMs: 10_000 },
  { name: 'a partition for good', fault: { towardDatabase: { loss: 1 }, towardInstance: { loss: 1 } }, healAfterMs: undefined },
  // The database gets every statement sent on a connection that was open, the instance none of
  // the answers: each write the instance retries has landed already. A one-minute heartbeat
  // sends nothing in between, so `drain_start` is the first statement on the connection the
  // registration left open, and lands for sure (the duplicate this case catches every time).
  { name: 'answers lost for 10 s', fault: { towardInstance: { loss: 1 } }, healAfterMs: 10_000, heartbeatMs: 60_000 },
];

const support = await netnsSupport().catch((err: unknown) => ({ ok: false as const, reason: `the namespace probe failed: ${String(err)}`, harness: true }));
/** Only a kernel's refusal skips (in CI too); a missing Postgres or a broken probe skips outside CI only. */
const skip: string | false = support.ok
  ? await postgresSkip()
  : 'harness' in support
    ? skipUnlessAvailable(false, 'network namespaces', support.reason)
    : `network namespaces are not available here: ${support.reason}`;

const sh = promisify(execFile);

describe('network faults between an instance and Postgres', { skip, timeout: 120_000, concurrency: CASES.length }, () => {
  let db: TestDatabase;
  const children: ServerProcess[] = [];
  const namespaces: Namespace[] = [];
  const forwarders: Forwarder[] = [];

  before(async () => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: run npm run build first`);
    db = await createDatabase('postgres');
  });

  after(async () => {
    await killAll(children);
    for (const f of forwarders) await f.close();
    for (const ns of namespaces) await ns.destroy();
    await db?.close();
  });

  /** TCP sockets in `ns` toward `address`, other than TIME-WAIT (which has nothing left to send). */
  async function liveSockets(ns: Namespace, address: string): Promise<string[]> {
    const { stdout } = await sh('ip', ['netns', 'exec', ns.name, 'ss', '-Htan'], { timeout: 10_000 });
    return stdout.split('\n').filter((l) => l.includes(`${address}:`) && !l.startsWith('TIME-WAIT') && !l.startsWith('LISTEN'));
  }

  /**
   * The drain while the fault lasts: a held request of 500 ms, SIGTERM, exit 0 within the
   * request plus the flush and exit bounds (the drain does not wait for the database). Resolves
   * with how long after its last request the process exited.
   */
  async function drainDuringFault(child: ServerProcess, origin: string): Promise<number> {
    let requestEndedAt = 0;
    const held = fetch(`${origin}/work?ms=500`).then(async (r) => {
      await r.text();
      requestEndedAt = Date.now();
      return r.status;
    });
    await eventually('the early instance\'s held request in flight', async () => {
      const metrics = await (await fetch(`${origin}/metrics`)).text();
      return /^drainkit_inflight_requests\s+[1-9]/m.test(metrics) ? true : undefined;
    }, 10_000);
    child.child.kill('SIGTERM');
    const exit = await withDeadline(child.closed, 500 + SHUTDOWN_FLUSH_MS + EXIT_GRACE_MS + 30_000, 'the early instance\'s exit after SIGTERM, during the fault');
    const exitedAt = Date.now();
    assert.deepEqual(exit, { code: 0, signal: null }, `early instance, stderr tail:\n${child.stderr.slice(-15).map((l) => l.text).join('\n')}`);
    assert.equal(await held, 200);
    assert.equal(child.events.find((e) => e.event === 'drain_complete')?.success, true);
    const afterWork = exitedAt - requestEndedAt;
    assert.ok(afterWork <= SHUTDOWN_FLUSH_MS + EXIT_GRACE_MS + MARGIN_MS, `the early instance exited ${afterWork} ms after its last request; bound ${SHUTDOWN_FLUSH_MS} + ${EXIT_GRACE_MS} + ${MARGIN_MS}`);
    return afterWork;
  }

  /**
   * The early instance's events, once the network is back and no socket is left that could
   * deliver one more: never one twice, in the drain's order; and whatever did not land by its
   * exit is named in `registry_writes_dropped` (late copies from its closed sockets may still
   * land after the heal: only once each).
   */
  async function assertEarlyEvents(early: { child: ServerProcess; inst: Instance }): Promise<void> {
    const types = (await listEvents(db.store, { instanceId: early.inst.id })).map((e) => e.eventType);
    assert.deepEqual(types.filter((t, i) => types.indexOf(t) !== i), [], `no event twice: ${types.join(', ')}`);
    const expected = ['registered', ...DRAIN_EVENTS];
    assert.deepEqual(types, expected.filter((t) => types.includes(t)), `the early instance's events in the drain's order: ${types.join(', ')}`);
    if (types.length < expected.length) {
      const dropped = early.child.stderr.map((l) => parseJson(l.text)).find((l) => l?.event === 'registry_writes_dropped');
      assert.ok(dropped, `events missing (${expected.filter((t) => !types.includes(t)).join(', ')}) and registry_writes_dropped was not logged`);
    }
  }

  for (const c of CASES) {
    it(`${c.name}: keeps serving, a drain exits 0 on time, no event twice, ${c.healAfterMs === undefined ? 'the loss logged' : 'every event lands'}`, async (t) => {
      const ns = await createNamespace();
      namespaces.push(ns);
      const forwarder = await Forwarder.start(ns.databaseAddress, Number(new URL(db.url).port || 5432));
      forwarders.push(forwarder);
      // `identity` (DRAINKIT_INSTANCE_HOST) is unique per instance, and how its rows are found.
      const spawnInstance = async (identity: string): Promise<{ child: ServerProcess; inst: Instance }> => {
        const child = await spawnServer({
          prefix: ns.exec,
          env: { ...process.env, DRAINKIT_INSTANCE_HOST: identity },
          args: [MAIN, 'example-server', '--host', ns.instanceAddress, '--port', '0', '--database-url', forwarder.wrap(db.url), '--heartbeat-ms', String(c.heartbeatMs ?? 200),
            '--deregister-mode', 'fixed', '--deregister-delay-ms', '200', '--drain-timeout-ms', '30000', '--linger-ms', '0', '--log-level', 'info', '--log-format', 'json'],
          readyTimeoutMs: 20_000,
        });
        children.push(child);
        const inst = await eventually(`${identity} registered`, async () => (await listInstances(db.store, { host: identity })).find((i) => i.status === 'active'));
        assert.equal(inst.pid, child.pid);
        return { child, inst };
      };
      const { child, inst } = await spawnInstance(ns.name);
      const origin = `http://${ns.instanceAddress}:${child.port}`;
      // Where the network comes back: a second instance in the same namespace, drained and gone
      // while the fault still lasts (the heal waits for its exit).
      const early = c.healAfterMs === undefined ? undefined : await spawnInstance(`${ns.name}-early`);

      // The fault. Heartbeats (the load changes the in-flight count) now fail or hang.
      await ns.degrade(c.fault);
      const faultAt = Date.now();
      const earlyDrain = early === undefined ? undefined : drainDuringFault(early.child, `http://${ns.instanceAddress}:${early.child.port}`);
      const healed = c.healAfterMs === undefined
        ? undefined
        : Promise.all([new Promise<void>((resolve) => setTimeout(resolve, c.healAfterMs)), earlyDrain?.catch(() => undefined)]).then(async () => {
          await ns.heal();
          return Date.now();
        });

      const load = await startLoad({ origin, concurrency: 4, slowEvery: 5, slowMs: 50, maxRequests: 3_000, maxDurationMs: 3_000 }).done;
      assert.ok(load.total > 20, `the load ran (${load.total} requests)`);
      assert.equal(load.failed, 0, `requests failed during the fault: ${JSON.stringify(load.failuresByKind)} ${JSON.stringify(load.samples.slice(0, 3))}`);
      const earlyAfterWork = earlyDrain === undefined ? undefined : await earlyDrain;

      // A drain during the fault. The held request keeps it going until 2 s after the network
      // is back (the queue's backoff is at most 2 s), or 1 s when it never comes back. The heal
      // comes at healAfterMs, or once the early instance exited if that was later.
      const healAt = Math.max(faultAt + (c.healAfterMs ?? 0), Date.now());
      const holdMs = c.healAfterMs === undefined ? 1_000 : Math.max(1_000, healAt + 2_000 - Date.now());
      let requestEndedAt = 0;
      const held = fetch(`${origin}/work?ms=${holdMs}`).then(async (r) => {
        await r.text();
        requestEndedAt = Date.now();
        return r.status;
      });
      await eventually('the held request in flight', async () => {
        const metrics = await (await fetch(`${origin}/metrics`)).text();
        return /^drainkit_inflight_requests\s+[1-9]/m.test(metrics) ? true : undefined;
      }, 10_000);
      child.child.kill('SIGTERM');
      const exit = await withDeadline(child.closed, holdMs + SHUTDOWN_FLUSH_MS + EXIT_GRACE_MS + 30_000, 'the exit after SIGTERM');
      const exitedAt = Date.now();
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr tail:\n${child.stderr.slice(-15).map((l) => l.text).join('\n')}`);
      assert.equal(await held, 200);
      const afterWork = exitedAt - requestEndedAt;
      assert.ok(afterWork <= SHUTDOWN_FLUSH_MS + EXIT_GRACE_MS + MARGIN_MS, `exited ${afterWork} ms after its last request; bound ${SHUTDOWN_FLUSH_MS} + ${EXIT_GRACE_MS} + ${MARGIN_MS}`);
      assert.equal(child.events.find((e) => e.event === 'drain_complete')?.success, true);
      const logged = child.stderr.map((l) => ({ at: l.at, line: parseJson(l.text) }));
      const failedWrites = logged.filter((l) => l.line?.event === 'registry_write_failed').length;
      const backAt = logged.find((l) => l.at > faultAt && l.line?.event === 'registry_reachable')?.at;
      t.diagnostic(`${c.name}: ${load.total} requests during the fault, 0 failed; exit 0 ${afterWork} ms after the last request${earlyAfterWork === undefined ? '' : ` (the instance drained during the fault: ${earlyAfterWork} ms)`}; ${failedWrites} write failures logged; ${backAt !== undefined ? `writes landed again ${backAt - faultAt} ms after the fault began` : failedWrites === 0 ? 'no write failed' : 'no write landed after the fault'}`);

      if (c.healAfterMs === undefined) {
        // Nothing after the registration could land, and the loss is named in the log.
        assert.deepEqual((await listEvents(db.store, { instanceId: inst.id })).map((e) => e.eventType), ['registered']);
        const dropped = child.stderr.map((l) => parseJson(l.text)).find((l) => l?.event === 'registry_writes_dropped');
        assert.ok(dropped, `registry_writes_dropped is logged; stderr tail:\n${child.stderr.slice(-12).map((l) => l.text).join('\n')}`);
        assert.ok(Array.isArray(dropped.writes) && dropped.writes.includes('drain_complete'), `the dropped writes are named: ${JSON.stringify(dropped.writes)}`);
        return;
      }
      await healed;
      // A statement the process gave up on may still sit in a socket's send queue, and TCP
      // retransmits it once the link is back, even after the process exited: count the events
      // only once no socket toward the database is left in the namespace.
      await eventually('no socket left toward the database', async () => ((await liveSockets(ns, ns.databaseAddress)).length === 0 ? true : undefined), 60_000);
      if (early !== undefined) await assertEarlyEvents(early);
      const events = await listEvents(db.store, { instanceId: inst.id });
      assert.deepEqual(events.map((e) => e.eventType), ['registered', ...DRAIN_EVENTS], 'each event exactly once, in order');
      assert.deepEqual([...new Set(events.map((e) => e.generation))], [inst.generation], 'one registration');
      const row = (await listInstances(db.store, { host: ns.name }))[0];
      assert.equal(row?.status, 'stopped');
    });
  }
});

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
