/**
 * The rolling restart behind a real nginx that the nginx end-to-end tests share: three servers
 * on free ports behind one nginx (test/helpers/nginx.ts), steady mixed load through it, and each
 * server restarted in turn, either with nginx left to find out by itself (`'passive'`: it learns
 * a server is gone when a connection to it is refused) or deregistered first the way a deploy
 * script does with open-source nginx (`'reload'`: the server marked `down` and nginx reloaded
 * before the SIGTERM, restored after the restart).
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inCI } from './ci.js';
import { findNginx, startMixedLoad, startNginx, type MixedLoadStats, type Nginx } from './nginx.js';
import { freePort, killAll, signalAndWait, spawnServer, type ExitStatus, type ServerProcess } from './processes.js';

export const NAIVE_SERVER = fileURLToPath(new URL('../fixtures/naive-server.mjs', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** How nginx learns that a server is going: by itself, or from a config reload before the SIGTERM. */
export type Deregistration = 'passive' | 'reload';

/** Skips locally when nginx is missing; in CI a missing nginx is a failure, never a skip. */
export function nginxOrSkip(t: TestContext): boolean {
  if (findNginx()) return true;
  assert.ok(!inCI(), 'nginx is required in CI (Debian package "nginx"); it was not found');
  t.skip('nginx is not installed (Debian package "nginx"; or set NGINX_BIN): nginx end-to-end tests skipped');
  return false;
}

export interface Drain { readonly port: number; readonly round: number; readonly exit: ExitStatus; readonly ms: number; readonly drainComplete: Record<string, unknown> | undefined }

export interface RollingNginxResult { readonly load: MixedLoadStats; readonly drains: readonly Drain[]; readonly errorLog: string }

export async function rollingBehindNginx(serverCommand: (port: number) => string[], rounds: number, deregistration: Deregistration, signal: AbortSignal): Promise<RollingNginxResult> {
  const spawned: ServerProcess[] = [];
  const drains: Drain[] = [];
  let nginx: Nginx | undefined;
  let load: ReturnType<typeof startMixedLoad> | undefined;
  const abort = (): void => {
    for (const p of spawned) p.child.kill('SIGKILL');
    nginx?.kill();
  };
  signal.addEventListener('abort', abort, { once: true });
  try {
    const ports = new Set<number>();
    while (ports.size < 3) ports.add(await freePort());
    const start = async (port: number): Promise<ServerProcess> => {
      const p = await spawnServer({ args: serverCommand(port) });
      spawned.push(p);
      return p;
    };
    const current = await Promise.all([...ports].map(start));
    nginx = await startNginx({ servers: [...ports], masterProcess: deregistration === 'reload' });
    load = startMixedLoad(`http://127.0.0.1:${nginx.port}`, { clientKeepAlive: deregistration !== 'reload' });
    for (const port of ports) await load.servedBy(port, 0, 15_000);
    for (let round = 1; round <= rounds; round += 1) {
      for (const [i, port] of [...ports].entries()) {
        // A deploy script's order: deregister, then signal at once (the old worker is still
        // finishing what it sent to this server; the drain's window covers that).
        if (deregistration === 'reload') await nginx.reload([port]);
        const t0 = Date.now();
        const exit = await signalAndWait(current[i]!, 'SIGTERM', 30_000);
        drains.push({ port, round, exit, ms: Date.now() - t0, drainComplete: current[i]!.events.find((e) => e.event === 'drain_complete') });
        current[i] = await start(port);
        if (deregistration === 'reload') await nginx.reload([]);
        // nginx skips a failed server for fail_timeout (2 s): wait until it serves again.
        await load.servedBy(port, Date.now(), 20_000);
      }
    }
    const stats = await load.stop();
    load = undefined;
    return { load: stats, drains, errorLog: nginx.errorLog() };
  } finally {
    signal.removeEventListener('abort', abort);
    await load?.stop().catch(() => undefined);
    await killAll(spawned);
    await nginx?.stop().catch(() => undefined);
  }
}

export function describeResult(r: RollingNginxResult): string {
  return [
    `load: ${r.load.total} requests (${r.load.posts} POST), ${r.load.failed} failed, by method ${JSON.stringify(r.load.failuresByMethod)}, by kind ${JSON.stringify(r.load.failuresByKind)}`,
    ...r.load.samples.slice(0, 15).map((s) => `  ${s.method} ${s.path}: ${s.kind} ${s.detail}`),
    ...r.drains.map((d) => `drain round ${d.round} :${d.port}: exit ${d.exit.code ?? d.exit.signal} after ${d.ms} ms, window ${JSON.stringify(d.drainComplete?.window)}`),
    'nginx error log (tail):',
    ...r.errorLog.trim().split('\n').slice(-15).map((l) => `  ${l}`),
  ].join('\n');
}

