/**
 * Network namespaces for fault tests: an instance runs in a namespace of its own, reached from
 * the root namespace over two links, one for its clients and one for its database, so that the
 * database link can be degraded (delay, loss, partition) while clients keep a clean one. Every name is unique
 * per test run (`drainkit-<random>-<n>`, interfaces `dk<random><n>…`), so parallel runs and other
 * test files never meet, and `destroy()` removes what was created even after a failure.
 *
 * Needs `ip` (Debian's iproute2), `python3`, /dev/net/tun and the right to create namespaces
 * (root or CAP_NET_ADMIN); {@link netnsSupport} says whether this machine allows it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `ip`; rejects with the command and its stderr. */
async function sh(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(command, [...args], { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/**
 * Whether this kernel and user may create network namespaces: `{ ok: true }`, or the reason it
 * may not. Only the kernel's refusal (EPERM, "Operation not permitted") counts as "not
 * supported"; any other failure (no `ip` at all included) is thrown, for the caller to fail on
 * in CI.
 */
export async function netnsSupport(): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> {
  const name = `drainkit-probe-${randomBytes(3).toString('hex')}`;
  try {
    await sh('ip', ['netns', 'add', name]);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if (/Operation not permitted|EPERM|Permission denied/i.test(text)) return { ok: false, reason: `the kernel refused a network namespace (${text})` };
    // Not a refusal: a missing tool is the machine's setup, which CI must not skip over.
    if (cause?.code === 'ENOENT') throw new Error('the ip command (Debian package iproute2) is not installed', { cause: err });
    throw err;
  }
  await sh('ip', ['netns', 'del', name]);
  return { ok: true };
}

/** What one direction of the database link does to each packet. */
export interface Shaping {
  /** Added to every packet, in ms. Default 0. */
  readonly delayMs?: number;
  /** Probability that a packet is dropped, 0 … 1. Default 0. */
  readonly loss?: number;
}

/** How the database link is degraded, per direction (a direction left out stays clean). */
export interface LinkFault {
  /** Packets from the instance to the database. */
  readonly towardDatabase?: Shaping;
  /** Packets from the database to the instance. */
  readonly towardInstance?: Shaping;
}

export interface Namespace {
  /** `drainkit-<random>-<n>`. */
  readonly name: string;
  /** The instance's address on the client link: clients in the root namespace connect here. */
  readonly instanceAddress: string;
  /** The root namespace's address on the database link: the forwarder listens here. */
  readonly databaseAddress: string;
  /** Prefix for {@link spawnServer}'s `prefix`: runs a command inside the namespace. */
  readonly exec: readonly string[];
  /** Applies `fault` to the database link (replacing any earlier one). */
  degrade(fault: LinkFault): Promise<void>;
  /** Clears every fault: the network is back. */
  heal(): Promise<void>;
  /** Deletes the namespace, the devices and the relay. Idempotent, never throws. */
  destroy(): Promise<void>;
}

/** One run's namespaces share a random tag and a random 10.213.x.0/24 of /30 links. */
const TAG = randomBytes(2).toString('hex');
const OCTET = 16 + ((randomBytes(1)[0] as number) % 224);
const RELAY = fileURLToPath(new URL('../faults/tun-netem.py', import.meta.url));
let created = 0;

/**
 * Creates a namespace with two links to the root namespace:
 *
 * - the client link, a veth pair (10.213.x.8n+1 outside, +2 inside), never degraded;
 * - the database link, two point-to-point TUN devices (10.213.x.8n+5 outside, +6 inside) joined
 *   by the relay `test/faults/tun-netem.py`, which adds delay and loss on demand. A relay rather
 *   than `tc qdisc … netem` on a veth because sch_netem is missing from many kernels (this
 *   machine's among them: "Specified qdisc kind is unknown"), and the relay works wherever TUN
 *   does. It drops and delays real IP packets, so TCP retransmits and times out as on a bad wire.
 */
export async function createNamespace(): Promise<Namespace> {
  const n = created++;
  if (n >= 32) throw new Error('createNamespace: at most 32 namespaces per run (one /24 of /30 pairs)');
  const name = `drainkit-${TAG}-${n}`;
  const base = `10.213.${OCTET}`;
  const app = { root: `dk${TAG}${n}a0`, inside: `dk${TAG}${n}a1`, rootIp: `${base}.${8 * n + 1}`, insideIp: `${base}.${8 * n + 2}` };
  const db = { root: `dk${TAG}${n}d0`, inside: `dk${TAG}${n}d1`, rootIp: `${base}.${8 * n + 5}`, insideIp: `${base}.${8 * n + 6}` };
  const inside = (args: readonly string[]): Promise<string> => sh('ip', ['netns', 'exec', name, ...args]);
  let relay: Relay | undefined;
  let destroyed = false;

  const ns: Namespace = {
    name,
    instanceAddress: app.insideIp,
    databaseAddress: db.rootIp,
    exec: ['ip', 'netns', 'exec', name],
    async degrade(fault) {
      if (!relay) throw new Error(`namespace ${name} has no relay (destroyed?)`);
      await relay.set('to-database', fault.towardDatabase ?? {});
      await relay.set('to-instance', fault.towardInstance ?? {});
    },
    async heal() {
      await ns.degrade({});
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await relay?.stop();
      // Deleting the namespace deletes the devices inside it (a veth's peer goes with it).
      await sh('ip', ['netns', 'del', name]).catch(() => undefined);
      for (const dev of [app.root, db.root, db.inside]) await sh('ip', ['link', 'del', dev]).catch(() => undefined);
    },
  };

  try {
    await sh('ip', ['netns', 'add', name]);
    await inside(['ip', 'link', 'set', 'lo', 'up']);
    await sh('ip', ['link', 'add', app.root, 'type', 'veth', 'peer', 'name', app.inside]);
    await sh('ip', ['link', 'set', app.inside, 'netns', name]);
    await sh('ip', ['addr', 'add', `${app.rootIp}/30`, 'dev', app.root]);
    await sh('ip', ['link', 'set', app.root, 'up']);
    await inside(['ip', 'addr', 'add', `${app.insideIp}/30`, 'dev', app.inside]);
    await inside(['ip', 'link', 'set', app.inside, 'up']);
    // The relay attaches to both TUN devices here, then one moves into the namespace with its
    // file descriptor still attached.
    await sh('ip', ['tuntap', 'add', 'dev', db.root, 'mode', 'tun']);
    await sh('ip', ['tuntap', 'add', 'dev', db.inside, 'mode', 'tun']);
    relay = await Relay.start(db.inside, db.root);
    await sh('ip', ['link', 'set', db.inside, 'netns', name]);
    await sh('ip', ['addr', 'add', db.rootIp, 'peer', db.insideIp, 'dev', db.root]);
    await sh('ip', ['link', 'set', db.root, 'up']);
    await inside(['ip', 'addr', 'add', db.insideIp, 'peer', db.rootIp, 'dev', db.inside]);
    await inside(['ip', 'link', 'set', db.inside, 'up']);
  } catch (err) {
    await ns.destroy();
    throw err;
  }
  return ns;
}

/** The `tun-netem.py` child: one `set` line per change, each answered `ok`. */
class Relay {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #closed: Promise<void>;
  readonly #stderr: string[] = [];

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout as Readable })[Symbol.asyncIterator]();
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.#stderr.push(d));
    this.#closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  static async start(instanceDevice: string, databaseDevice: string): Promise<Relay> {
    const relay = new Relay(spawn('python3', [RELAY, instanceDevice, databaseDevice], { stdio: ['pipe', 'pipe', 'pipe'] }));
    relay.#child.once('error', () => undefined);
    const first = await relay.#answer();
    if (first !== 'ready') {
      await relay.stop();
      throw new Error(`tun-netem.py did not start (${first ?? 'no output'}): ${relay.#stderr.join('').trim()}`);
    }
    return relay;
  }

  async set(direction: 'to-database' | 'to-instance', shaping: Shaping): Promise<void> {
    const delayMs = shaping.delayMs ?? 0;
    const loss = shaping.loss ?? 0;
    if (!(delayMs >= 0) || !(loss >= 0 && loss <= 1)) throw new Error(`invalid shaping ${JSON.stringify(shaping)}: delayMs ≥ 0, loss 0 … 1`);
    this.#child.stdin?.write(`set ${direction} ${delayMs} ${loss}\n`);
    const answer = await this.#answer();
    if (answer !== 'ok') throw new Error(`tun-netem.py refused "set ${direction}": ${answer ?? this.#stderr.join('').trim()}`);
  }

  /** Ends the relay (EOF on its stdin), then kills it if it did not go within 2 s. */
  async stop(): Promise<void> {
    this.#child.stdin?.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2_000);
    await this.#closed;
    clearTimeout(timer);
  }

  async #answer(): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), 10_000);
    });
    const next = this.#lines.next().then((r) => (r.done === true ? undefined : r.value));
    try {
      return await Promise.race([next, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A TCP forwarder in the root namespace: listens on `host` (a veth address) and pipes each
 * connection to `127.0.0.1:targetPort`. It exists because the system Postgres listens on
 * 127.0.0.1 only, which a namespace cannot reach, and its configuration is not the test's to
 * change. Connections reach Postgres from 127.0.0.1, where it trusts them as it does the tests'.
 */
export class Forwarder {
  readonly #server: net.Server;
  readonly #sockets: Set<net.Socket>;
  readonly host: string;
  readonly port: number;

  private constructor(server: net.Server, sockets: Set<net.Socket>, host: string, port: number) {
    this.#server = server;
    this.#sockets = sockets;
    this.host = host;
    this.port = port;
  }

  static start(host: string, targetPort: number): Promise<Forwarder> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        const a = server.address();
        resolve(new Forwarder(server, sockets, host, a !== null && typeof a === 'object' ? a.port : 0));
      });
    });
  }

  /** `url` with its host and port replaced by this forwarder's. */
  wrap(url: string): string {
    const u = new URL(url);
    u.hostname = this.host;
    u.port = String(this.port);
    return u.href;
  }

  /** Closes the listener and destroys every connection. Idempotent, never throws. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
