/**
 * A real nginx (Debian's `nginx`, open-source build) in front of test servers: its own prefix,
 * config, pid file and logs in a temp dir, run in the foreground as a child of the test, on a
 * 127.0.0.1 port picked free. No system service and no port 80 are involved.
 *
 * The settings are nginx's defaults where the drain is concerned (`proxy_next_upstream error
 * timeout`, which never resends a POST that reached a server), plus upstream keep-alive, which
 * is what makes a drain hard: nginx reuses pooled connections to the servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { freePort, hasExited, signalAndWait, track, type ExitStatus, type TimedLine } from './processes.js';

/** Where nginx is: `$NGINX_BIN`, the Debian location, or the first `nginx` on PATH. */
export function findNginx(): string | undefined {
  const candidates = [
    ...(process.env.NGINX_BIN ? [process.env.NGINX_BIN] : []),
    '/usr/sbin/nginx',
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nginx')),
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

export interface NginxOptions {
  /** Upstream servers' ports on 127.0.0.1 (known before nginx starts). */
  readonly servers: readonly number[];
  /** `keepalive_timeout` of the upstream connection pool, in ms. Default 1000. */
  readonly upstreamKeepaliveTimeoutMs?: number;
  /** Passive health: `fail_timeout` of each server, in whole seconds (how long a failed server is skipped). Default 2. */
  readonly failTimeoutSeconds?: number;
  readonly startTimeoutMs?: number;
  /**
   * Run nginx's master process (with one worker), which `reload` needs. Off by default: a single
   * process leaves no orphaned worker behind if the test must SIGKILL it.
   */
  readonly masterProcess?: boolean;
  /** Upstream servers marked `down` (deregistered) in the config. */
  readonly down?: readonly number[];
}

export interface Nginx {
  readonly port: number;
  readonly configText: string;
  /** nginx's stderr and error log (warnings and upstream errors), bounded. */
  readonly logs: TimedLine[];
  readonly child: ChildProcess;
  readonly closed: Promise<ExitStatus>;
  /** The error log's text so far (upstream errors: "connect() failed", "upstream prematurely closed"…). */
  errorLog(): string;
  /**
   * Deregisters or restores upstream servers the way a deploy script does with open-source
   * nginx: rewrites the config with `down` on the servers given and reloads (SIGHUP to the
   * master; needs `masterProcess`). Resolves once the new worker runs; the old one finishes
   * what it is serving and exits on its own (nginx's graceful reload).
   */
  reload(down: readonly number[]): Promise<void>;
  /** Kills nginx and its workers at once (for an aborted test). */
  kill(): void;
  /** Stops nginx (SIGQUIT, graceful; SIGKILL if it hangs) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  const keepalive = options.upstreamKeepaliveTimeoutMs ?? 1_000;
  const failTimeout = options.failTimeoutSeconds ?? 2;
  const down = new Set(options.down ?? []);
  return [
    'worker_processes 1;',
    'daemon off;',
    // One process unless a reload is wanted: SIGKILL on a hang then leaves no orphaned worker.
    `master_process ${options.masterProcess === true ? 'on' : 'off'};`,
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `    access_log off;`,
    `    client_body_temp_path ${join(dir, 'tmp', 'body')};`,
    `    proxy_temp_path ${join(dir, 'tmp', 'proxy')};`,
    `    fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};`,
    `    uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};`,
    `    scgi_temp_path ${join(dir, 'tmp', 'scgi')};`,
    '    upstream app {',
    ...options.servers.map((p) => `        server 127.0.0.1:${p} max_fails=1 fail_timeout=${failTimeout}s${down.has(p) ? ' down' : ''};`),
    // Pooled connections to the servers. Their idle timeout is below drainkit's window, so no
    // pooled connection is still idle when a draining server closes its listener.
    '        keepalive 32;',
    `        keepalive_timeout ${keepalive}ms;`,
    '    }',
    '    server {',
    `        listen 127.0.0.1:${port};`,
    '        keepalive_timeout 75s;',
    '        location / {',
    '            proxy_pass http://app;',
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    // proxy_next_upstream stays at its default ("error timeout", non-idempotent requests never
    // resent once sent). The upstream's address tells the harness which server answered.
    '            add_header X-Upstream $upstream_addr always;',
    '        }',
    '    }',
    '}',
    '',
  ].join('\n');
}

/** Writes the config, starts nginx and resolves once its port accepts connections. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const bin = findNginx();
  if (!bin) throw new Error('nginx not found (set NGINX_BIN or install the Debian package nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'drainkit-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  mkdirSync(join(dir, 'logs'));
  const port = await freePort();
  const configText = nginxConfig(dir, port, options);
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, configText);
  // -p: its own prefix; -e: the startup error log before the config is read (not /var/log/nginx).
  const child = spawn(bin, ['-p', dir, '-c', configPath, '-e', join(dir, 'startup-error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = track(child);
  const logs: TimedLine[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (text) => {
      logs.push({ at: Date.now(), text });
      if (logs.length > 5_000) logs.shift();
    });
  }
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  let stopped = false;
  // The master's workers, remembered for a kill that must not leave one listening (a worker
  // whose master was killed first is no longer listed as its child).
  const knownWorkers = new Set<number>();
  const workers = (): number[] => {
    if (child.pid === undefined) return [];
    try {
      const pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      for (const pid of pids) knownWorkers.add(pid);
      return pids;
    } catch {
      return [];
    }
  };
  const killAllNow = (): void => {
    workers();
    child.kill('SIGKILL');
    for (const pid of knownWorkers) {
      try {
        // Only a pid that is still an nginx process (not one reused since).
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nginx')) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const handle: Nginx = {
    port,
    configText,
    logs,
    child,
    closed,
    errorLog: () => read('error.log'),
    async reload(down) {
      if (options.masterProcess !== true) throw new Error('nginx reload needs masterProcess: true');
      const before = new Set(workers());
      writeFileSync(configPath, nginxConfig(dir, port, { ...options, down }));
      child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!workers().some((pid) => !before.has(pid))) {
        if (hasExited(child)) throw new Error(`nginx exited on reload\n${read('error.log')}`);
        if (Date.now() > deadline) throw new Error(`nginx started no new worker within 10 s of the reload\n${read('error.log')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    kill: killAllNow,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await signalAndWait({ child, closed }, 'SIGQUIT', 10_000);
      } finally {
        killAllNow();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await waitForPort(port, child, options.startTimeoutMs ?? 15_000);
    workers();
  } catch (err) {
    const output = [...logs.map((l) => l.text), read('startup-error.log'), read('error.log')].join('\n');
    await handle.stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}\nnginx output:\n${output}\nconfig:\n${configText}`);
  }
  return handle;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child)) throw new Error(`nginx exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MixedFailure {
  readonly at: number;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly kind: string;
  readonly detail: string;
}

export interface MixedLoadStats {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  readonly posts: number;
  readonly failuresByMethod: Readonly<Record<string, number>>;
  readonly failuresByKind: Readonly<Record<string, number>>;
  readonly samples: readonly MixedFailure[];
}

export interface MixedLoad {
  /** Resolves with the first response served by the upstream on `port` that was sent after `since`. */
  servedBy(port: number, since: number, timeoutMs: number): Promise<void>;
  stop(): Promise<MixedLoadStats>;
}

/**
 * Steady keep-alive load through nginx: every third request is `POST /work?ms=50` with a small
 * body (what nginx never resends), every tenth `GET /work?ms=200`, the rest `GET /`. One try per
 * request: a failure is counted, never retried. Bounded in count and time.
 */
export interface MixedLoadOptions {
  readonly concurrency?: number;
  readonly maxRequests?: number;
  readonly maxDurationMs?: number;
  /**
   * Keep the load's own connections to nginx alive between requests (default true). Off for a
   * test that reloads nginx: the old worker closes its idle client connections as it shuts
   * down, and a request the client writes on one at that moment fails on the client's side of
   * nginx (an `UND_ERR_SOCKET`, seen under CPU load), which says nothing about the upstream.
   * Off, every request says `Connection: close` and comes on a connection of its own.
   */
  readonly clientKeepAlive?: boolean;
}

export function startMixedLoad(origin: string, options: MixedLoadOptions = {}): MixedLoad {
  const concurrency = options.concurrency ?? 12;
  const maxRequests = options.maxRequests ?? 500_000;
  const maxDurationMs = options.maxDurationMs ?? 150_000;
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 4_000 });
  const startedAt = Date.now();
  const failuresByMethod: Record<string, number> = {};
  const failuresByKind: Record<string, number> = {};
  const samples: MixedFailure[] = [];
  const lastServed = new Map<number, number>();
  const waiters = new Set<{ port: number; since: number; resolve: () => void }>();
  let sent = 0;
  let total = 0;
  let ok = 0;
  let posts = 0;
  let stopping = false;

  const fail = (method: 'GET' | 'POST', path: string, kind: string, detail: string): void => {
    failuresByMethod[method] = (failuresByMethod[method] ?? 0) + 1;
    failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1;
    if (samples.length < 2_000) samples.push({ at: Date.now(), method, path, kind, detail: detail.slice(0, 200) });
  };

  async function once(n: number): Promise<void> {
    const post = n % 3 === 0;
    const method = post ? 'POST' : 'GET';
    const path = post ? '/work?ms=50' : n % 10 === 0 ? '/work?ms=200' : '/';
    const sentAt = Date.now();
    if (post) posts += 1;
    try {
      const res = await pool.request({
        path,
        method,
        ...(post && { body: JSON.stringify({ n, at: sentAt }), headers: { 'content-type': 'application/json' } }),
        headersTimeout: 30_000,
        reset: options.clientKeepAlive === false,
        bodyTimeout: 30_000,
      });
      const body = await res.body.text();
      if (res.statusCode === 200) {
        ok += 1;
        const upstream = String(res.headers['x-upstream'] ?? '');
        const port = Number(/:(\d+)$/.exec(upstream)?.[1] ?? 0);
        lastServed.set(port, sentAt);
        for (const w of waiters) {
          if (w.port === port && sentAt >= w.since) {
            waiters.delete(w);
            w.resolve();
          }
        }
      } else {
        fail(method, path, `status:${res.statusCode}`, body);
      }
    } catch (err) {
      const e = err as Error & { code?: string };
      fail(method, path, `error:${e.code ?? e.name}`, e.message);
    } finally {
      total += 1;
    }
  }

  async function worker(): Promise<void> {
    while (!stopping && sent < maxRequests && Date.now() - startedAt < maxDurationMs) {
      sent += 1;
      await once(sent);
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, () => worker())).then(() => pool.close());

  return {
    servedBy(port, since, timeoutMs) {
      if ((lastServed.get(port) ?? 0) >= since) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const entry = { port, since, resolve: () => { clearTimeout(timer); resolve(); } };
        const timer = setTimeout(() => {
          waiters.delete(entry);
          reject(new Error(`no response served by 127.0.0.1:${port} through nginx within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(entry);
      });
    },
    async stop() {
      stopping = true;
      await done;
      return { total, ok, failed: total - ok, posts, failuresByMethod: { ...failuresByMethod }, failuresByKind: { ...failuresByKind }, samples: [...samples] };
    },
  };
}
