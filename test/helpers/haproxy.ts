/**
 * A real HAProxy in front of test servers: config generated into a temp dir, the binary run in
 * the foreground (`-db`) as a child of the test, its state read through the admin socket.
 *
 * The settings are deliberately strict: no retries, no redispatch, no retry-on, keep-alive and
 * connection reuse to the servers. A drain that fails a request therefore shows up as a failed
 * client request, never hidden by the balancer resending it somewhere else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { skipUnlessAvailable } from './ci.js';
import { freePort, hasExited, signalAndWait, track, type ExitStatus, type TimedLine } from './processes.js';

export const BACKEND = 'be_app';
const FRONTEND = 'fe_app';

/** Where HAProxy is: `$HAPROXY_BIN`, the Debian location, or the first `haproxy` on PATH. */
export function findHaproxy(): string | undefined {
  const candidates = [
    ...(process.env.HAPROXY_BIN ? [process.env.HAPROXY_BIN] : []),
    '/usr/sbin/haproxy',
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'haproxy')),
  ];
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The `skip` option for tests that need HAProxy: skipped locally when it is missing, run (and
 * failed by {@link startHaproxy}'s "haproxy not found") in CI, never skipped there.
 */
export function haproxySkip(): string | false {
  return skipUnlessAvailable(findHaproxy() !== undefined, 'haproxy', 'Debian package "haproxy", or set HAPROXY_BIN');
}

export interface HaproxyServer {
  readonly name: string;
  readonly port: number;
}

export interface HaproxyOptions {
  /** The backend's servers, on 127.0.0.1. Their ports must be known before HAProxy starts. */
  readonly servers: readonly HaproxyServer[];
  /** Health-check interval, `fall` and `rise`. Defaults: 1000 ms, 1, 2. */
  readonly checkIntervalMs?: number;
  readonly fall?: number;
  readonly rise?: number;
  /**
   * Send `http-check send-state` (the server-state header drainkit's adaptive window reads).
   * Default true; false plays a balancer that says nothing the app can read.
   */
  readonly sendState?: boolean;
  /** `http-reuse` mode towards the servers. Default `always`, the most demanding for a drain. */
  readonly reuse?: 'always' | 'safe' | 'aggressive' | 'never';
  /** Log every request, not only abnormal ones (for investigations; heavy under load). Default false. */
  readonly logAllRequests?: boolean;
  /** `maxconn` (global, and the frontends' when given). Default 1024; a WebSocket benchmark with thousands of clients needs more. */
  readonly maxconn?: number;
  /** How long HAProxy may take to start answering on its admin socket. Default 15 s. */
  readonly startTimeoutMs?: number;
}

/** One server as HAProxy's `show stat` sees it. */
export interface ServerStat {
  readonly name: string;
  /** The `status` column verbatim: `UP`, `DOWN`, `UP 1/2`, `DOWN 1/2`, `MAINT`, `no check`… */
  readonly status: string;
  /** Its first word (`UP`, `DOWN`, `MAINT`, `NOLB`, `DRAIN`, `no`): the operational state. */
  readonly state: string;
  /** UP→DOWN transitions so far (`chkdown`). */
  readonly downTransitions: number;
  /** Connection errors (`econ`) and response errors (`eresp`) towards this server so far. */
  readonly connectionErrors: number;
  readonly responseErrors: number;
  /** The last health check's result (`check_status`), e.g. `L7OK`, `L7STS`, `L4CON`. */
  readonly lastCheck: string;
}

export interface Haproxy {
  /** The frontend's port on 127.0.0.1. */
  readonly port: number;
  readonly configText: string;
  /** HAProxy's stdout (error and health-check logs) and stderr (alerts, warnings), bounded. */
  readonly logs: TimedLine[];
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  /** Every server of the backend, as `show stat` reports it right now. */
  servers(): Promise<ServerStat[]>;
  /** Polls the admin socket every ~100 ms until `server`'s state is `state`. */
  waitUntil(server: string, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<ServerStat>;
  /** Stops HAProxy (SIGTERM, SIGKILL if it hangs) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The HAProxy configuration the end-to-end tests run behind. */
export function haproxyConfig(options: HaproxyOptions & { readonly frontendPort: number; readonly socketPath: string }): string {
  const inter = options.checkIntervalMs ?? 1_000;
  return [
    'global',
    `    maxconn ${options.maxconn ?? 1024}`,
    `    stats socket ${options.socketPath} level admin`,
    // Logs go to HAProxy's stdout, which the harness keeps for failure reports.
    '    log stdout format raw local0 info',
    '',
    'defaults',
    '    mode http',
    ...(options.maxconn === undefined ? [] : [`    maxconn ${options.maxconn}`]),
    '    log global',
    '    option httplog',
    // Only abnormal requests (errors, 5xx) and health-check transitions are logged.
    ...(options.logAllRequests ? [] : ['    option dontlog-normal']),
    '    option log-health-checks',
    '    timeout connect 2s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout tunnel 1h', // WebSocket and other upgraded connections outlive client/server timeouts
    '    timeout http-keep-alive 30s',
    // Strict: a request that fails is reported to the client, never resent.
    '    retries 0',
    '    no option redispatch',
    '',
    `frontend ${FRONTEND}`,
    `    bind 127.0.0.1:${options.frontendPort}`,
    `    default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    '    balance roundrobin',
    '    option http-keep-alive',
    `    http-reuse ${options.reuse ?? 'always'}`,
    '    option httpchk GET /readyz',
    // Each check carries `X-Haproxy-Server-State: UP 2/3; ...`: what drainkit's adaptive window reads.
    ...(options.sendState === false ? [] : ['    http-check send-state']),
    `    default-server inter ${inter}ms fall ${options.fall ?? 1} rise ${options.rise ?? 2}`,
    ...options.servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port} check`),
    '',
  ].join('\n');
}

/**
 * Writes the config, starts HAProxy and resolves once its admin socket answers (the listeners
 * are bound before the socket is served). Rejects with HAProxy's output if it exits first.
 */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const bin = findHaproxy();
  if (!bin) throw new Error('haproxy not found (set HAPROXY_BIN or install the haproxy package)');
  const dir = mkdtempSync(join(tmpdir(), 'drainkit-haproxy-'));
  const socketPath = join(dir, 'admin.sock');
  const configPath = join(dir, 'haproxy.cfg');
  const port = await freePort();
  const configText = haproxyConfig({ ...options, frontendPort: port, socketPath });
  writeFileSync(configPath, configText);

  const child = spawn(bin, ['-f', configPath, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = track(child);
  const logs: TimedLine[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (text) => {
      logs.push({ at: Date.now(), text });
      if (logs.length > 5_000) logs.shift();
    });
  }

  let stopped = false;
  const handle: Haproxy = {
    port,
    configText,
    logs,
    child,
    closed,
    servers: () => showStat(socketPath),
    waitUntil: (server, state, timeoutMs = 30_000) => waitForState(socketPath, server, state, timeoutMs, child),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await signalAndWait({ child, closed }, 'SIGTERM', 10_000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };

  try {
    await waitForSocket(socketPath, child, options.startTimeoutMs ?? 15_000);
  } catch (err) {
    await handle.stop().catch(() => undefined);
    const output = logs.map((l) => l.text).join('\n');
    throw new Error(`${(err as Error).message}\nhaproxy output:\n${output}\nconfig:\n${configText}`);
  }
  return handle;
}

async function waitForSocket(socketPath: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child)) throw new Error(`haproxy exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    try {
      await adminCommand(socketPath, 'show info');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`haproxy's admin socket did not answer within ${timeoutMs} ms: ${(err as Error).message}`);
    }
    await sleep(50);
  }
}

/**
 * Sends one command on the admin socket and returns the whole answer. Without `prompt` the
 * socket is non-interactive: HAProxy answers and closes, which delimits the response.
 */
export function adminCommand(socketPath: string, command: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`admin socket: no answer to "${command}" within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

async function showStat(socketPath: string): Promise<ServerStat[]> {
  const csv = await adminCommand(socketPath, 'show stat');
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = lines[0]?.replace(/^# /, '').split(',');
  if (!header) throw new Error(`unexpected "show stat" answer: ${JSON.stringify(csv.slice(0, 200))}`);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`"show stat" has no ${name} column`);
    return i;
  };
  const [px, sv, status, chkdown, econ, eresp, check] = ['pxname', 'svname', 'status', 'chkdown', 'econ', 'eresp', 'check_status'].map(col) as [
    number, number, number, number, number, number, number,
  ];
  const out: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[px] !== BACKEND || f[sv] === 'BACKEND' || f[sv] === undefined) continue;
    const st = f[status] ?? '';
    out.push({
      name: f[sv],
      status: st,
      state: st.split(' ')[0] ?? '',
      downTransitions: Number(f[chkdown] ?? 0),
      connectionErrors: Number(f[econ] ?? 0),
      responseErrors: Number(f[eresp] ?? 0),
      lastCheck: f[check] ?? '',
    });
  }
  return out;
}

async function waitForState(socketPath: string, server: string, state: 'UP' | 'DOWN', timeoutMs: number, child: ChildProcess): Promise<ServerStat> {
  const deadline = Date.now() + timeoutMs;
  let last: ServerStat | undefined;
  for (;;) {
    if (hasExited(child)) throw new Error(`haproxy exited while waiting for ${server} to be ${state}`);
    last = (await showStat(socketPath)).find((s) => s.name === server);
    if (!last) throw new Error(`haproxy has no server ${server} in ${BACKEND}`);
    if (last.state === state) return last;
    if (Date.now() > deadline) {
      throw new Error(`${server} not ${state} within ${timeoutMs} ms (status "${last.status}", last check ${last.lastCheck})`);
    }
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
