/**
 * What the core costs a process that only imports it and drains a plain HTTP server: it does not
 * load node:http2 (about 0.6 MB of heap) unless the process serves HTTP/2, because every byte
 * loaded is paid again by the teardown when the drained process exits (docs/internals.md,
 * "Loaded at import"). node:cluster is not checked: Node's `listen()` loads it in every process
 * (`listenInCluster` in lib/net.js). Run in a child so that this test runner's own imports do
 * not count, against the built `dist/` that users get.
 *
 * It reads `process.moduleLoadList`, Node's list of the built-in modules it has loaded (present
 * and of this form on Node 20 to 26; the test says so when it is not).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';

const DIST = pathToFileURL(join(process.cwd(), 'dist', 'index.js')).href;

/** The built-in modules a fresh `node` has loaded after running `script` (an ES module). */
function loadedBuiltins(script: string): string[] {
  const probe = `${script}
const list = process.moduleLoadList;
if (!Array.isArray(list)) throw new Error('process.moduleLoadList is gone from this Node: the footprint test needs another probe');
process.stdout.write(JSON.stringify(list.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as string[];
}

describe('import footprint of the core', () => {
  it('a drained plain HTTP server does not load http2', () => {
    const loaded = loadedBuiltins(`
import * as http from 'node:http';
const { createDrainer } = await import(${JSON.stringify(DIST)});
const server = http.createServer((req, res) => res.end('ok'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const drainer = createDrainer(server, { signals: [], deregister: { mode: 'fixed', delayMs: 0 } });
const result = await drainer.drain('test');
if (result.outcome !== 'completed') throw new Error('drain ended ' + result.outcome);`);
    assert.ok(loaded.includes('http'), `the probe sees the modules it loads (got ${loaded.length}: ${loaded.join(', ')})`);
    assert.ok(!loaded.includes('http2'), 'node:http2 was loaded');
  });

  it('the probe sees http2 when it is loaded (negative control)', () => {
    const loaded = loadedBuiltins(`
const { createDrainer } = await import(${JSON.stringify(DIST)});
const http2 = await import('node:http2');
createDrainer(http2.createServer(), { signals: [] });`);
    assert.ok(loaded.includes('http2'), `got ${loaded.join(', ')}`);
  });
});
