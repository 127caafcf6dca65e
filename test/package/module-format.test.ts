/**
 * The module format, as documented in the README ("Module format"): drainkit is an ES module
 * package, and CommonJS code loads the same modules through require(esm) on the Node versions
 * in `engines`. Checked against the packed tarball in a temp project: every entry point is
 * importable and requireable with the same exports, a CommonJS TypeScript file type-checks and
 * runs, and where require(esm) is off the failure is Node's clear ERR_REQUIRE_ESM.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { createPackedProject, REPO, tsc, userTsconfig, type PackedProject } from './packed-project.js';

const run = promisify(execFile);
let project: PackedProject;
let entryPoints: string[];

before(async () => {
  project = await createPackedProject();
  entryPoints = Object.keys(project.manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'drainkit' : `drainkit/${key.slice(2)}`));
});
after(() => project?.remove());

/** Runs `node <args>` in the temp project; rejects with its stderr if it fails. */
async function node(args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [...args], { cwd: project.dir, timeout: 60_000 });
  return stdout;
}

test('every entry point is importable and requireable, with the same exports', async () => {
  writeFileSync(
    join(project.dir, 'names.mjs'),
    'const out = {};\nfor (const e of JSON.parse(process.argv[2])) out[e] = Object.keys(await import(e)).sort();\nconsole.log(JSON.stringify(out));\n',
  );
  writeFileSync(
    join(project.dir, 'names.cjs'),
    "'use strict';\nconst out = {};\nfor (const e of JSON.parse(process.argv[2])) out[e] = Object.keys(require(e)).filter((k) => k !== '__esModule' && k !== 'module.exports').sort();\nconsole.log(JSON.stringify(out));\n",
  );
  const imported = JSON.parse(await node(['names.mjs', JSON.stringify(entryPoints)])) as Record<string, string[]>;
  const required = JSON.parse(await node(['names.cjs', JSON.stringify(entryPoints)])) as Record<string, string[]>;
  for (const entry of entryPoints) {
    assert.ok((imported[entry] ?? []).length > 0, `${entry} exports nothing at run time`);
  }
  assert.deepEqual(required, imported);
});

test('where require(esm) is off, require() fails with Node\'s ERR_REQUIRE_ESM, not something obscure', async () => {
  writeFileSync(join(project.dir, 'require-root.cjs'), "require('drainkit');\n");
  await assert.rejects(node(['--no-experimental-require-module', 'require-root.cjs']), (err: { stderr?: string }) => {
    assert.match(err.stderr ?? '', /ERR_REQUIRE_ESM/);
    return true;
  });
});

test('a CommonJS TypeScript file type-checks under NodeNext and runs', async () => {
  writeFileSync(
    join(project.dir, 'consumer.cts'),
    [
      "import * as http from 'node:http';",
      "import { createDrainer, DEFAULTS } from 'drainkit';",
      "import { healthRoutes } from 'drainkit/express';",
      '',
      'const server = http.createServer();',
      'const drainer = createDrainer(server, { signals: false });',
      "const middleware: (req: never, res: never, next: () => void) => void = healthRoutes(drainer);",
      'console.log(JSON.stringify({ state: drainer.state, drainTimeoutMs: DEFAULTS.drainTimeoutMs, middleware: typeof middleware }));',
      'drainer.detach();',
      '',
    ].join('\n'),
  );
  writeFileSync(join(project.dir, 'tsconfig.cjs.json'), userTsconfig(['consumer.cts'], 'out-cjs', false));
  const checked = await tsc('tsconfig.cjs.json', project.dir);
  assert.ok(checked.ok, `tsc rejected a CommonJS consumer:\n${checked.output}`);
  const emitted = readFileSync(join(project.dir, 'out-cjs/consumer.cjs'), 'utf8');
  assert.match(emitted, /require\("drainkit"\)/, 'the .cts file was not compiled to require()');
  const printed = JSON.parse(await node(['out-cjs/consumer.cjs'])) as Record<string, unknown>;
  assert.deepEqual(printed, { state: 'active', drainTimeoutMs: 30_000, middleware: 'function' });
});

test('the README states the Node range that package.json declares', () => {
  const range = project.manifest.engines?.node;
  assert.ok(range, 'package.json has no engines.node');
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  assert.ok(readme.includes(`\`${range}\``), `README.md does not state the engines range \`${range}\``);
});
