/**
 * `drainkit/registry` as a user installs it, from the built dist in a project of its own under
 * the temp directory (copied, not linked: a link would resolve packages from this repository's
 * node_modules):
 *
 * - a `pg`-only TypeScript project (pg and @types/pg resolvable, no PGlite) type-checks an
 *   import of `drainkit/registry` with `skipLibCheck: false`: PGlite's types stay out of the
 *   public declarations;
 * - a project without any driver gets, at construction, an error that names the missing package
 *   and the `npm install` line, with the code `ERR_DRAINKIT_REGISTRY_DRIVER_MISSING`.
 *
 * Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = process.cwd();
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function run(args: readonly string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...args], { cwd, timeout: 120_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

/** A project directory with drainkit installed from dist (a copy) and nothing else yet. */
function project(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const pkg = path.join(dir, 'node_modules', 'drainkit');
  mkdirSync(pkg, { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  return dir;
}

/** Links `name` and, transitively, its dependencies from this repository's node_modules into `dir`. */
function install(dir: string, name: string, seen: Set<string>): void {
  if (seen.has(name)) return;
  seen.add(name);
  const from = path.join(ROOT, 'node_modules', name);
  assert.ok(existsSync(from), `${name} is not installed in this repository`);
  const to = path.join(dir, 'node_modules', name);
  mkdirSync(path.dirname(to), { recursive: true });
  symlinkSync(from, to, 'dir');
  const deps = (JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
  for (const dep of Object.keys(deps)) install(dir, dep, seen);
}

describe('drainkit/registry installed from dist', { timeout: 180_000 }, () => {
  const dirs: string[] = [];
  before(() => {
    assert.ok(existsSync(path.join(ROOT, 'dist', 'registry', 'index.d.ts')), 'dist/registry is missing: run npm run build first');
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('type-checks in a pg-only project with skipLibCheck false (no PGlite types needed)', async () => {
    const dir = project('drainkit-pg-only-');
    dirs.push(dir);
    const linked = new Set<string>();
    for (const name of ['pg', '@types/pg', '@types/node']) install(dir, name, linked);
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] }, files: ['app.ts'] }),
    );
    writeFileSync(
      path.join(dir, 'app.ts'),
      `import * as http from 'node:http';
import { createDrainer } from 'drainkit';
import { registry, startReporter, openStore, hostPglite, requestDrain, type PgliteHost, type Store } from 'drainkit/registry';
import pg from 'pg';

const server = http.createServer();
const drainer = createDrainer(server, { plugins: [registry({ databaseUrl: 'postgres://db/app', labels: { zone: 'a' } })] });
export const reporter = startReporter(drainer, { databaseUrl: 'postgres://db/app', port: 8080 });
export const store: Promise<Store> = openStore({ databaseUrl: 'postgres://db/app' });
export async function drain(s: Store): Promise<number> {
  return (await requestDrain(s, { host: 'web-1', port: 8080 }, { requestedBy: 'me', reason: 'test' })).requestId;
}
export async function embedded(): Promise<string> {
  const host: PgliteHost = await hostPglite({ dataDir: 'memory://' });
  const rows = await host.db.query<{ n: number }>('SELECT 1 AS n');
  return host.url + String(rows.rows[0]?.n);
}
export const pool = new pg.Pool();
`,
    );
    // The control: PGlite really is not resolvable in this project.
    writeFileSync(path.join(dir, 'control.ts'), `import { PGlite } from '@electric-sql/pglite';\nexport const p = PGlite;\n`);
    const control = await run([TSC, '--noEmit', '--skipLibCheck', 'false', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', 'node', 'control.ts'], dir);
    assert.notEqual(control.code, 0);
    assert.match(control.stdout, /Cannot find module '@electric-sql\/pglite'/);

    const r = await run([TSC, '-p', 'tsconfig.json'], dir);
    assert.equal(r.code, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });

  it('names the missing driver package and its npm install line, at construction', async () => {
    const dir = project('drainkit-no-driver-');
    dirs.push(dir);
    writeFileSync(
      path.join(dir, 'check.mjs'),
      `import { registry, openStore, hostPglite } from 'drainkit/registry';
const out = {};
const error = (e) => ({ code: e.code, message: e.message });
try { registry({ databaseUrl: 'postgres://db/app' }); out.registry = 'accepted'; } catch (e) { out.registry = error(e); }
try { await openStore({ databaseUrl: 'postgres://db/app' }); out.url = 'opened'; } catch (e) { out.url = error(e); }
try { await openStore({ dataDir: 'memory://' }); out.dataDir = 'opened'; } catch (e) { out.dataDir = error(e); }
try { await hostPglite({ dataDir: 'memory://' }); out.host = 'hosted'; } catch (e) { out.host = error(e); }
process.stdout.write(JSON.stringify(out));
`,
    );
    const r = await run(['check.mjs'], dir);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, { code: string; message: string }>;
    const missing = (pkg: string) => ({ code: 'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING', message: `needs the "${pkg}" package, which is not installed here; install it with: npm install ${pkg}` });
    const got = (key: string) => ({ code: out[key]?.code, message: out[key]?.message.replace(/^drainkit registry: [^]*? needs/, 'needs') });
    assert.deepEqual(got('registry'), missing('pg'));
    assert.deepEqual(got('url'), missing('pg'));
    assert.deepEqual(got('dataDir'), missing('@electric-sql/pglite'));
    assert.deepEqual(got('host'), missing('@electric-sql/pglite-socket'));
  });
});
