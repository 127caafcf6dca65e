/**
 * The docs' code is tested against the package a user installs: every TypeScript block of
 * README.md and docs/*.md (conventions in ./doc-blocks.ts) is compiled, strict, NodeNext, against
 * the packed tarball in a temp project; then the README's quick start programs run for real, one
 * per framework: a child process serving on port 0 answers / and /readyz, gets SIGTERM, answers a
 * request during the deregistration window with `Connection: close`, and exits 0.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killTracked, spawnServer, type ExitStatus, type ServerProcess } from '../helpers/processes.js';
import { blockSource, extractBlocks, mapDiagnostics, type DocBlock } from './doc-blocks.js';
import { createPackedProject, REPO, tsc, userTsconfig, type PackedProject, type TscResult } from './packed-project.js';

/** The quick start's flavours, by their `<!-- run: name -->` marker in README.md. */
const FLAVOURS = ['node-http', 'express', 'fastify', 'koa'] as const;

let project: PackedProject;
let blocks: DocBlock[];
let compiled: TscResult;

before(async () => {
  const docs = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  blocks = docs.flatMap((doc) => extractBlocks(join(REPO, doc)).map((b) => ({ ...b, file: doc })));
  project = await createPackedProject();
  const dir = join(project.dir, 'snippets');
  mkdirSync(dir);
  for (const block of blocks.filter((b) => !b.unchecked)) writeFileSync(join(dir, block.fileName), blockSource(block));
  writeFileSync(
    join(project.dir, 'announce-listening.mjs'),
    // Test-only preload: the quick start programs print nothing, so this says where the first
    // server they start listens, in the line spawnServer waits for.
    [
      "import net from 'node:net';",
      'const listen = net.Server.prototype.listen;',
      'let announced = false;',
      'net.Server.prototype.listen = function (...args) {',
      "  this.once('listening', () => {",
      '    if (announced) return;',
      '    announced = true;',
      "    process.stdout.write(JSON.stringify({ event: 'listening', port: this.address().port, pid: process.pid }) + '\\n');",
      '  });',
      '  return listen.apply(this, args);',
      '};',
      '',
    ].join('\n'),
  );
  writeFileSync(join(project.dir, 'tsconfig.json'), userTsconfig(['snippets'], 'out'));
  compiled = await tsc('tsconfig.json', project.dir);
});

after(async () => {
  await killTracked();
  project?.remove();
});

test('every TypeScript block of README.md and docs/*.md compiles against the packed package', () => {
  assert.ok(blocks.length >= 10, `only ${blocks.length} blocks found: is the extraction broken?`);
  const unchecked = blocks.filter((b) => b.unchecked).map((b) => `${b.file}:${b.line}`);
  assert.ok(unchecked.length <= 2, `too many <!-- snippet --> (unchecked) blocks; give them a prelude instead: ${unchecked.join(', ')}`);
  assert.ok(compiled.ok, `blocks that do not compile:\n${mapDiagnostics(compiled.output, blocks)}`);
});

test('the README has one runnable quick start per framework', () => {
  const runnable = blocks.filter((b) => b.file === 'README.md' && b.run !== undefined).map((b) => b.run);
  assert.deepEqual([...runnable].sort(), [...FLAVOURS].sort());
});

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

/** GET over a fresh keep-alive connection (so `Connection: close` can only come from the server). */
function get(port: number, path: string): Promise<Answer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Answer>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} got no answer within 10 s`)));
    req.on('error', reject);
  }).finally(() => agent.destroy());
}

/** Polls readiness (as a balancer does) until it answers 503; bounded. */
async function untilNotReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const answer = await get(port, '/readyz');
    if (answer.status === 503) return;
    last = String(answer.status);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`/readyz did not answer 503 within ${timeoutMs} ms of SIGTERM (last: ${last})`);
}

function exitWithin(proc: ServerProcess, timeoutMs: number): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    proc.closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the quick start did not exit within ${timeoutMs} ms of SIGTERM`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('the README quick start runs as written', { concurrency: true }, () => {
  for (const flavour of FLAVOURS) {
    test(flavour, async () => {
      const block = blocks.find((b) => b.file === 'README.md' && b.run === flavour);
      assert.ok(block, `README.md has no <!-- run: ${flavour} --> block`);
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
      delete env.NODE_OPTIONS;
      const script = join('out/snippets', block.fileName.replace(/\.ts$/, '.js'));
      const proc = await spawnServer({ args: ['--import', './announce-listening.mjs', script], cwd: project.dir, env });
      const stderr = (): string => proc.stderr.map((l) => l.text).join('\n');
      try {
        await followTheContract(proc);
      } catch (err) {
        throw new Error(`${flavour}: ${err instanceof Error ? err.message : String(err)}\nstderr of the program:\n${stderr()}`, { cause: err });
      }
    });
  }
});

/** / and /readyz answer; SIGTERM; readiness 503, a request served with Connection: close; exit 0. */
async function followTheContract(proc: ServerProcess): Promise<void> {
  const hello = await get(proc.port, '/');
  assert.equal(hello.status, 200, `GET / answered ${hello.status}: ${hello.body}`);
  assert.equal(hello.body, 'hello\n');
  assert.equal(hello.connection, 'keep-alive', 'before the drain the server keeps connections alive');
  const ready = await get(proc.port, '/readyz');
  assert.equal(ready.status, 200, `GET /readyz answered ${ready.status}: ${ready.body}`);

  proc.child.kill('SIGTERM');
  await untilNotReady(proc.port, 10_000);
  const during = await get(proc.port, '/');
  assert.equal(during.status, 200, 'a request during the deregistration window is served');
  assert.equal(during.connection, 'close', 'a response during the window carries Connection: close');
  const live = await get(proc.port, '/healthz');
  assert.equal(live.status, 200, 'liveness stays 200 while draining');

  const status = await exitWithin(proc, 30_000);
  assert.deepEqual(status, { code: 0, signal: null }, 'exit status after SIGTERM');
}
