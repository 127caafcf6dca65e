/**
 * What the core costs a CommonJS application (most Express apps) that imports it and drains a
 * plain HTTP server: the built-in modules it makes Node load beyond what the same application
 * loads without it. It must load none of the heavy subsystems: no http2, undici, tls, crypto,
 * zlib or worker_threads. An ES-module `import` of a built-in would load them through the
 * module's ES facade: on Node 22 to 26, `import 'node:http'` alone loads undici, tls, http2, zlib
 * and worker_threads (src/core/builtins.ts; docs/internals.md, "Loaded at import"). CI runs this
 * on the oldest and the newest supported Node; the facades differ between them.
 *
 * Each side runs in a fresh child, so this test runner's own imports do not count, against the
 * built `dist/` that users get. The side without drainkit imports an empty ES module, so that
 * Node's ES loader, which drainkit's import also starts, counts on both sides.
 *
 * It reads `process.moduleLoadList`, Node's list of the built-in modules it has loaded (present
 * and of this form on Node 20 to 26; the probe says so when it is not).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';

const DIST = pathToFileURL(join(process.cwd(), 'dist', 'index.js')).href;

/** Subsystems a drained plain HTTP/1 server has no use for; each costs 0.1 to 2 MB of heap. */
const HEAVY = ['http2', 'internal/deps/undici/undici', 'tls', 'crypto', 'internal/crypto/webcrypto', 'zlib', 'worker_threads'];

let dir: string;
let emptyModule: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'drainkit-footprint-'));
  emptyModule = pathToFileURL(join(dir, 'empty.mjs')).href;
  writeFileSync(join(dir, 'empty.mjs'), 'export const createDrainer = undefined;\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The built-in modules a CommonJS app loads after it has required node:http and listened: the
 * app imports `moduleUrl`, creates a drainer with its `createDrainer` if it has one and drains,
 * then runs `extra` (a statement inside an async function).
 */
function loadedBuiltins(moduleUrl: string, extra = ''): string[] {
  const probe = `
const http = require('node:http');
(async () => {
  const server = http.createServer((req, res) => res.end('ok'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { createDrainer } = await import(${JSON.stringify(moduleUrl)});
  if (createDrainer) {
    const drainer = createDrainer(server, { signals: [], deregister: { mode: 'fixed', delayMs: 0 } });
    const result = await drainer.drain('test');
    if (result.outcome !== 'completed') throw new Error('drain ended ' + result.outcome);
  } else server.close();
  ${extra}
  const list = process.moduleLoadList;
  if (!Array.isArray(list)) throw new Error('process.moduleLoadList is gone from this Node: the footprint test needs another probe');
  process.stdout.write(JSON.stringify(list.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length))));
})().catch((err) => { console.error(err); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as string[];
}

/** What importing `moduleUrl` (and running `extra`) adds to the app's built-in modules. */
function added(moduleUrl: string, extra = ''): string[] {
  const without = new Set(loadedBuiltins(emptyModule));
  assert.ok(without.has('http'), `the probe sees the modules it loads (got ${[...without].join(', ')})`);
  for (const m of HEAVY) assert.ok(!without.has(m), `the app alone already loads ${m}, so this test cannot see drainkit load it`);
  return loadedBuiltins(moduleUrl, extra).filter((m) => !without.has(m));
}

describe(`import footprint of the core (node ${process.version})`, () => {
  it('loads none of the heavy subsystems into a CommonJS app that drains a plain HTTP server', () => {
    const extra = added(DIST);
    const heavy = extra.filter((m) => HEAVY.includes(m));
    assert.deepEqual(heavy, [], `drainkit made Node load ${heavy.join(', ')} (all it added: ${extra.join(', ')})`);
  });

  it('sees a heavy subsystem that an ES import of a built-in loads (negative control)', () => {
    // An ES import of node:crypto builds its facade, which reads crypto.webcrypto, as the core's
    // `import { timingSafeEqual } from 'node:crypto'` once did.
    const extra = added(DIST, "await import('node:crypto');");
    assert.ok(extra.includes('crypto') && extra.includes('internal/crypto/webcrypto'), `got ${extra.join(', ')}`);
  });
});
