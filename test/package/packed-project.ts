/**
 * A throwaway project that uses drainkit the way a user does: the tarball `npm pack` makes from
 * the built package, extracted into `node_modules/drainkit` of a temporary directory, next to the
 * packages a user's app would install itself (linked from this repository's node_modules, so the
 * test needs no network). Nothing else of the repository is visible from there: a file missing
 * from the tarball, a wrong `exports` entry or a declaration that needs a package the user does
 * not have fails here as it would for a user.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO = resolve(import.meta.dirname, '../..');
const REPO_MODULES = join(REPO, 'node_modules');
/** The repository's TypeScript compiler (a user's would be their own). */
export const TSC = join(REPO_MODULES, 'typescript/bin/tsc');

/**
 * What a user's app installs next to drainkit for the examples in the docs: the frameworks and
 * the optional peers they use, with their types. drainkit's own `dependencies` are added from
 * the packed package.json.
 */
const APP_PACKAGES = [
  '@types/node',
  'express',
  '@types/express',
  'fastify',
  'koa',
  '@types/koa',
  'ws',
  '@types/ws',
  'prom-client',
  'pino',
  'pg',
  '@types/pg',
] as const;

export interface PackedProject {
  /** The temporary project directory (has `package.json` with `"type": "module"`). */
  readonly dir: string;
  /** The tarball's path. */
  readonly tarball: string;
  /** Every path in the tarball, relative to the package root (`package/` stripped). */
  readonly files: readonly string[];
  /** The packed package.json. */
  readonly manifest: PackedManifest;
  /** Removes the project and the tarball. */
  remove(): void;
}

export interface PackedManifest {
  readonly name: string;
  readonly version: string;
  readonly engines?: { readonly node?: string };
  readonly exports: Record<string, string | Record<string, string>>;
  readonly bin?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
}

/**
 * Packs the built package (run `npm run build` first: packing skips the `prepack` build so the
 * test does not rebuild behind the caller's back) and installs it into a fresh temp project.
 */
export async function createPackedProject(): Promise<PackedProject> {
  if (!existsSync(join(REPO, 'dist/index.js'))) {
    throw new Error(`no build in ${join(REPO, 'dist')}: run \`npm run build\` before the package tests`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'drainkit-packed-'));
  try {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
    const packed = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const entry = packed[0];
    if (!entry) throw new Error(`npm pack printed no package: ${stdout.slice(0, 500)}`);
    const tarball = join(dir, entry.filename);
    const files = entry.files.map((f) => f.path).sort();

    const target = join(dir, 'node_modules/drainkit');
    mkdirSync(target, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as PackedManifest;

    for (const name of [...Object.keys(manifest.dependencies ?? {}), ...APP_PACKAGES]) {
      const source = join(REPO_MODULES, name);
      if (!existsSync(source)) throw new Error(`${name} is not installed in ${REPO_MODULES} (npm ci?)`);
      const link = join(dir, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(source, link, 'dir');
    }
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'drainkit-user', private: true, type: 'module' }, null, 2)}\n`);
    return {
      dir,
      tarball,
      files,
      manifest,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The tsconfig of a user's strict NodeNext project. `skipLibCheck` is what `tsc --init` writes
 * (true) unless told otherwise; with false, every declaration file in the program is checked,
 * drainkit's own included (one that needs a package the user lacks fails), and so are those of
 * third-party packages.
 */
export function userTsconfig(include: readonly string[], outDir: string, skipLibCheck = true): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck,
        types: ['node'],
        outDir,
        rootDir: '.',
      },
      include,
    },
    null,
    2,
  )}\n`;
}

export interface TscResult {
  readonly ok: boolean;
  readonly output: string;
}

/** Runs the repository's tsc on a project file; never throws on type errors, returns them. */
export async function tsc(project: string, cwd: string): Promise<TscResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}
