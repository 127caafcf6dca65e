/**
 * docs/api.md cannot rot: every name each entry point of the packed package exports (values and
 * types, read from its declarations with the TypeScript compiler) appears as a code span in that
 * entry point's section, and every field of every exported `…Options` type has a table row of
 * its own there (`| \`field\` | type | default | …`). `Resolved…Options` (the same fields with
 * defaults applied) is exempt.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import ts from 'typescript';
import { createPackedProject, REPO, type PackedProject } from './packed-project.js';

let project: PackedProject;
let sections: Map<string, string>;

before(async () => {
  project = await createPackedProject();
  sections = new Map();
  // "## `drainkit/ws`" starts the section of drainkit/ws, up to the next "## ".
  const doc = readFileSync(join(REPO, 'docs/api.md'), 'utf8');
  for (const part of doc.split(/^## /m).slice(1)) {
    const heading = /^`([^`]+)`/.exec(part);
    if (heading?.[1]) sections.set(heading[1], part);
  }
});
after(() => project?.remove());

interface EntryExports {
  readonly names: string[];
  /** Option type name → its field names. */
  readonly options: Map<string, string[]>;
}

function exportsOf(entries: Map<string, string>): Map<string, EntryExports> {
  const program = ts.createProgram([...entries.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, EntryExports>();
  for (const [entry, file] of entries) {
    const source = program.getSourceFile(file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`${entry}: cannot read the declarations ${file}`);
    const options = new Map<string, string[]>();
    const names: string[] = [];
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      names.push(symbol.name);
      if (!symbol.name.endsWith('Options') || symbol.name.startsWith('Resolved')) continue;
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const declaration = target.declarations?.[0];
      // An alias of another exported options type (`type A = B`) is documented as "exactly B".
      if (!declaration || (ts.isTypeAliasDeclaration(declaration) && ts.isTypeReferenceNode(declaration.type))) continue;
      const type = checker.getDeclaredTypeOfSymbol(target);
      const members = type.isUnion() ? type.types : [type];
      options.set(symbol.name, [...new Set(members.flatMap((m) => checker.getPropertiesOfType(m).map((p) => p.name)))]);
    }
    out.set(entry, { names, options });
  }
  return out;
}

/** A Markdown table row for the option `field`: a line starting with "| `field`". */
function hasRow(text: string, field: string): boolean {
  return new RegExp('^\\| `' + field + '`[ |]', 'm').test(text);
}

/** True when `name` appears in `text` as the start of a code span: `name`, `name(…)`, `name: …`. */
function documented(text: string, name: string): boolean {
  return new RegExp('`' + name.replace(/[$]/g, '\\$') + '(?![\\w$])').test(text);
}

test('docs/api.md documents every export and every option of every entry point', () => {
  const root = join(project.dir, 'node_modules/drainkit');
  const entries = new Map<string, string>();
  for (const [key, target] of Object.entries(project.manifest.exports)) {
    if (key === './package.json') continue;
    const types = typeof target === 'string' ? undefined : target.types;
    assert.ok(types, `exports["${key}"] has no types`);
    entries.set(key === '.' ? 'drainkit' : `drainkit/${key.slice(2)}`, join(root, types));
  }
  const missing: string[] = [];
  for (const [entry, { names, options }] of exportsOf(entries)) {
    const section = sections.get(entry);
    if (!section) {
      missing.push(`no section "## \`${entry}\`"`);
      continue;
    }
    for (const name of names) {
      const ok = name === 'default' ? /default export/.test(section) : documented(section, name);
      if (!ok) missing.push(`${entry}: export ${name}`);
    }
    for (const [type, fields] of options) {
      for (const field of fields) if (!hasRow(section, field)) missing.push(`${entry}: ${type}.${field}`);
    }
    assert.ok(names.length > 0, `${entry} exports nothing`);
  }
  assert.deepEqual(missing, [], `missing from docs/api.md:\n${missing.join('\n')}`);
});
