#!/usr/bin/env node
// Runs every test file under test/ with Node's own test runner and tsx as the TypeScript loader.
// Node 20's `--test` does not expand globs itself, so the file list is built here; the runner's
// closing "# pass / # fail" lines are what CI reads.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// Arguments are test files or directories (searched for *.test.ts); none means all of test/.
const only = process.argv.slice(2);
const files = only.length > 0 ? only.flatMap((p) => (statSync(p).isDirectory() ? collect(p) : [p])) : collect('test');
if (files.length === 0) {
  console.error('run-tests: no test files found under test/');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  // --test-force-exit: a failed assertion that leaves a socket or server open must fail the run,
  // not hang it. --test-timeout: a default hang guard for tests that set none (most set their own).
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=300000', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
