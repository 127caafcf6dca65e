/**
 * What the tarball holds: every file package.json points at, the license and changelog, and for
 * every source map (JavaScript and declaration maps) the sources it names, so stack traces
 * under `--enable-source-maps` and an editor's "go to definition" land on files that exist.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { after, before, test } from 'node:test';
import { createPackedProject, tsc, userTsconfig, type PackedProject } from './packed-project.js';

let project: PackedProject;
before(async () => {
  project = await createPackedProject();
});
after(() => project?.remove());

function packedFile(path: string): string {
  return join(project.dir, 'node_modules/drainkit', path);
}

test('every source map names only sources the tarball contains', () => {
  const files = new Set(project.files);
  const maps = project.files.filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 0, 'the tarball has no source maps: then this test should check that none is referenced');
  const missing: string[] = [];
  for (const map of maps) {
    const parsed = JSON.parse(readFileSync(packedFile(map), 'utf8')) as { sources: string[]; sourceRoot?: string };
    for (const source of parsed.sources) {
      const resolved = normalize(join(dirname(map), parsed.sourceRoot ?? '', source));
      if (!files.has(resolved)) missing.push(`${map} -> ${source} (${resolved})`);
    }
  }
  assert.deepEqual(missing, [], `source maps point at files missing from the tarball:\n${missing.slice(0, 20).join('\n')}`);
});

test('every sourceMappingURL comment names a map the tarball contains', () => {
  const files = new Set(project.files);
  const missing: string[] = [];
  for (const file of project.files.filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
    const match = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(packedFile(file), 'utf8'));
    if (match?.[1] && !files.has(normalize(join(dirname(file), match[1])))) missing.push(`${file} -> ${match[1]}`);
  }
  assert.deepEqual(missing, []);
});

test('every exports target, the bin, LICENSE and CHANGELOG.md are in the tarball', () => {
  const files = new Set(project.files);
  const wanted = ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json'];
  for (const [key, target] of Object.entries(project.manifest.exports)) {
    const targets = typeof target === 'string' ? [target] : Object.values(target);
    assert.ok(targets.length > 0, `exports["${key}"] has no target`);
    wanted.push(...targets);
  }
  wanted.push(...Object.values(project.manifest.bin ?? {}));
  const absent = wanted.map((p) => normalize(p)).filter((p) => !files.has(p));
  assert.deepEqual(absent, [], 'files package.json names are missing from the tarball');
  const bin = Object.values(project.manifest.bin ?? {})[0];
  assert.ok(bin, 'package.json has no bin');
  assert.match(readFileSync(packedFile(bin), 'utf8'), /^#!\/usr\/bin\/env node\n/, `${bin} lacks its shebang`);
});

test('the tarball carries no tests, benchmarks or repository tooling', () => {
  const stray = project.files.filter((f) => /^(test|bench|scripts|examples|\.ci|node_modules)\//.test(f) || f.startsWith('tsconfig'));
  assert.deepEqual(stray, []);
});

test('the declarations of every entry point type-check without skipLibCheck, with only the peers a user installs', async () => {
  // The user has the peers of the integrations they use (here: all but PGlite, as a user of
  // Postgres through pg would), and no skipLibCheck: a declaration that names a type from a
  // package outside that set, or one that is wrong, fails here.
  const entryPoints = Object.keys(project.manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'drainkit' : `drainkit/${key.slice(2)}`));
  writeFileSync(
    join(project.dir, 'entry-points.ts'),
    `${entryPoints.map((entry, i) => `import * as entry${i} from '${entry}';`).join('\n')}\nexport const all = [${entryPoints.map((_, i) => `entry${i}`).join(', ')}];\n`,
  );
  writeFileSync(join(project.dir, 'tsconfig.declarations.json'), userTsconfig(['entry-points.ts'], 'out-declarations', false));
  const checked = await tsc('tsconfig.declarations.json', project.dir);
  assert.ok(checked.ok, `the packed declarations do not type-check:\n${checked.output}`);
});

/**
 * A path in the shipped docs or declarations that names a file of the repository (a test, a
 * benchmark, a script) is either in the tarball or said to be the repository's: in the same
 * paragraph (Markdown) or comment (declarations), or, for a document that cites many, by the
 * note at its top that such paths are the source repository's. A user who installed the package
 * must never be sent to a file they do not have as if it were there.
 */
test('every repository path the shipped docs and declarations name is in the tarball, or said to be the repository\'s', () => {
  const files = new Set(project.files);
  const inTarball = (path: string): boolean => {
    const p = normalize(path).replace(/\/$/, '');
    return files.has(p) || project.files.some((f) => f.startsWith(p + '/'));
  };
  const REPOSITORY_NOTE = /^> Paths under .*are files of drainkit's source repository; the npm package does not ship them\./m;
  const PATH = /(?<![\w./-])(?:\.\.\/)?((?:test|bench|scripts|\.ci|deploy|examples)\/[\w./-]*)/g;
  const unmarked: string[] = [];
  for (const file of project.files.filter((f) => f.endsWith('.md') || f.endsWith('.d.ts'))) {
    const text = readFileSync(packedFile(file), 'utf8');
    if (REPOSITORY_NOTE.test(text.split('\n').slice(0, 12).join('\n'))) continue;
    // Paragraphs of Markdown (blank-line separated), comment blocks of declarations.
    const blocks = file.endsWith('.md') ? text.split(/\n\s*\n/) : text.match(/\/\*\*[\s\S]*?\*\//g) ?? [];
    for (const block of blocks) {
      if (/repository/i.test(block)) continue;
      for (const m of block.matchAll(PATH)) {
        const path = m[1]!.replace(/[.,;:]+$/, '');
        if (!inTarball(path)) unmarked.push(`${file}: ${path}`);
      }
    }
  }
  assert.deepEqual(unmarked, [], `shipped text names repository-only files without saying so:\n${unmarked.join('\n')}`);
});
