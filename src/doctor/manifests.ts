/**
 * Reading Kubernetes YAML for the doctor: files, folders and standard input, several documents
 * per file, `kind: List`, and `helm template` output (its `# Source:` comments are kept so a
 * finding names the template). Every object keeps its YAML document, so any field can be
 * located to a line, including fields that are missing (they point at their parent).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { rule, type Finding, type Location } from './rules.js';

/** The subset of the `yaml` package the doctor uses (loaded lazily: only the doctor needs it). */
type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;

async function loadYaml(): Promise<YamlModule> {
  if (yamlModule) return yamlModule;
  try {
    yamlModule = await import('yaml');
    return yamlModule;
  } catch (err) {
    throw new DoctorInputError(`drainkit doctor needs the "yaml" package (npm install yaml): ${(err as Error).message}`);
  }
}

/** Bad input that stops the doctor before any check: a path that cannot be read, no YAML at all. */
export class DoctorInputError extends Error {
  override readonly name = 'DoctorInputError';
}

/** One text to check: a file's path as given (relative to the working directory), or `<stdin>`. */
export interface InputText {
  readonly file: string;
  readonly text: string;
}

const YAML_FILE = /\.(ya?ml|json)$/i;

/**
 * Reads the inputs: `-` is standard input (through `readStdin`), a folder is searched
 * recursively for `.yaml`, `.yml` and `.json` files (sorted, hidden entries skipped).
 * Throws {@link DoctorInputError} naming the path for a path that cannot be read or a folder
 * without YAML files.
 */
export async function readInputs(paths: readonly string[], readStdin: () => Promise<string>, cwd = process.cwd()): Promise<InputText[]> {
  const out: InputText[] = [];
  // Standard input can be read once: a second - would check an empty text and count a file more.
  if (paths.filter((p) => p === '-').length > 1) throw new DoctorInputError('- (standard input) is given more than once: it can be read only once; give it once');
  for (const path of paths) {
    if (path === '-') {
      out.push({ file: '<stdin>', text: await readStdin() });
      continue;
    }
    const abs = resolve(cwd, path);
    let info;
    try {
      info = await stat(abs);
    } catch (err) {
      throw new DoctorInputError(`cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`);
    }
    if (info.isDirectory()) {
      const files = await yamlFilesUnder(abs);
      if (files.length === 0) throw new DoctorInputError(`folder ${JSON.stringify(path)} holds no .yaml, .yml or .json file`);
      // Findings name files the way the folder was given: relative stays relative.
      for (const file of files) out.push({ file: isAbsolute(path) ? file : relative(cwd, file), text: await readFile(file, 'utf8') });
    } else {
      out.push({ file: path, text: await readFile(abs, 'utf8') });
    }
  }
  return out;
}

async function yamlFilesUnder(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name));
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFilesUnder(p)));
    else if (e.isFile() && YAML_FILE.test(e.name)) out.push(p);
  }
  return out;
}

export type PathSegment = string | number;

/** A Kubernetes object from the input, with a way to locate any of its fields. */
export interface ManifestObject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly name: string;
  readonly namespace: string | undefined;
  /** The object as plain data. */
  readonly value: Record<string, unknown>;
  /** The location of a field (`['spec', 'template', 'spec']`), or of its nearest present parent. */
  at(path: readonly PathSegment[]): Location;
}

export interface ParsedInput {
  readonly objects: ManifestObject[];
  /** Syntax errors, unrendered templates, documents that are not Kubernetes objects. */
  readonly findings: Finding[];
}

/** Parses every input; never throws on bad YAML (that is a finding with its line). */
export async function parseInputs(inputs: readonly InputText[]): Promise<ParsedInput> {
  const yaml = await loadYaml();
  const objects: ManifestObject[] = [];
  const findings: Finding[] = [];
  for (const input of inputs) {
    const lineCounter = new yaml.LineCounter();
    // logLevel error: a template such as `replicas: {{ .Values.n }}` is a map with a map as its key,
    // which yaml would announce on stderr ("Keys with collection values will be stringified");
    // the doctor reports it as unrendered-template instead.
    const docs = yaml.parseAllDocuments(input.text, { lineCounter, prettyErrors: false, logLevel: 'error' });
    const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
    const docList = Array.isArray(docs) ? docs : [];
    for (const doc of docList) {
      const contents = doc.contents as { range?: [number, number, number]; commentBefore?: string | null } | null;
      const start = contents?.range?.[0] ?? doc.range[0];
      const template = /Source:\s*(\S+)/.exec(contents?.commentBefore ?? doc.commentBefore ?? '')?.[1];
      const where = (line: number): Location => ({ file: input.file, line, template });
      if (doc.errors.length > 0) {
        const err = doc.errors[0]!;
        // Template directives (`{{- if ... }}`, `replicas: {{ .Values.n }}`) break the YAML: say so, not "bad YAML".
        const docText = input.text.slice(doc.range[0], doc.range[2]);
        const braces = docText.indexOf('{{');
        if (braces >= 0) {
          const line = lineAt(doc.range[0] + braces);
          findings.push(finding('unrendered-template', `Template syntax at line ${line} (${JSON.stringify(docText.slice(braces, braces + 40).split('\n')[0])}): this is a chart source, not a manifest. Render it first, e.g. \`helm template <release> <chart> | drainkit doctor -\`.`, where(line)));
          continue;
        }
        const line = lineAt(err.pos[0]);
        // A second apiVersion or kind at the top level is two manifests without `---` between
        // them: what `cat a.yaml b.yaml | drainkit doctor` gives when a file does not start with one.
        const joined = err.code === 'DUPLICATE_KEY' && /^(apiVersion|kind):/.test(input.text.slice(err.pos[0], err.pos[0] + 12))
          ? ` Two manifests without a --- line between them? (cat a.yaml b.yaml joins files as they are): put --- before line ${line}, or give the files or their folder as paths.`
          : '';
        findings.push(finding('yaml-syntax', `Not valid YAML at line ${line}: ${err.message.split('\n')[0]}${doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more error${doc.errors.length > 2 ? 's' : ''})` : ''}.${joined}`, where(line)));
        continue;
      }
      // A document that holds nothing: a trailing `---`, or Helm's `---` / `# Source: …` / `---`
      // for a template that rendered empty. yaml gives those a null Scalar, not a null contents.
      if (contents === null || (yaml.isScalar(contents) && contents.value === null)) continue;
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      const docLine = lineAt(start);
      const locate = (base: readonly PathSegment[]) => (path: readonly PathSegment[]): Location => where(lineOfPath(yaml, doc, [...base, ...path], lineAt) ?? docLine);
      const unrendered = (hit: TemplateHit, kind: string): void => {
        const tl = lineAt(hit.offset);
        const how = hit.how === 'collection-key'
          ? `: YAML reads the unquoted {{ }} as a map whose key is a map, so the field holds no value (the doctor would have used the default)`
          : '';
        findings.push(finding('unrendered-template', `Template syntax ${JSON.stringify(hit.text.slice(0, 60))} at line ${tl} in ${kind}${how}. This is a chart source, not a manifest. Render it first, e.g. \`helm template <release> <chart> | drainkit doctor -\`.`, where(tl)));
      };
      const add = (v: unknown, base: readonly PathSegment[]): void => {
        const line = lineOfPath(yaml, doc, base, lineAt) ?? docLine;
        const node = nodeAtPath(yaml, doc, base);
        const obj = typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
        if (obj?.kind === 'List' && Array.isArray(obj.items)) {
          obj.items.forEach((item, i) => add(item, [...base, 'items', i]));
          return;
        }
        // A map as a key is never Kubernetes: it is `field: {{ .Values.x }}` read as YAML, in any kind.
        const collectionKey = findCollectionKey(yaml, node, input.text);
        if (collectionKey) {
          unrendered(collectionKey, typeof obj?.kind === 'string' ? obj.kind : 'the document');
          return;
        }
        if (obj === undefined || typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
          findings.push(finding('not-a-manifest', `The document at line ${line} has no apiVersion and kind: it is not a Kubernetes object, so it was skipped.`, where(line)));
          return;
        }
        const metadata = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as Record<string, unknown>;
        const templated = TEMPLATE_CHECKED_KINDS.has(obj.kind) ? findTemplateScalar(yaml, node, TEMPLATE_FREE_TEXT[obj.kind] ?? [], input.text) : undefined;
        if (templated) {
          unrendered(templated, obj.kind);
          return;
        }
        objects.push({
          kind: obj.kind,
          apiVersion: obj.apiVersion,
          name: typeof metadata.name === 'string' ? metadata.name : '(unnamed)',
          namespace: typeof metadata.namespace === 'string' ? metadata.namespace : undefined,
          value: obj,
          at: locate(base),
        });
      };
      add(value, []);
    }
  }
  return { objects, findings };
}

/** The 1-based line of a field's key (or of its nearest present parent); undefined when not even the root is there. */
function lineOfPath(yaml: YamlModule, doc: import('yaml').Document, path: readonly PathSegment[], lineAt: (offset: number) => number): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined = rangeStart(node) === undefined ? undefined : lineAt(rangeStart(node)!);
  for (const segment of path) {
    if (yaml.isMap(node)) {
      const pair = node.items.find((p) => (yaml.isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) return line;
      const keyStart = rangeStart(pair.key);
      if (keyStart !== undefined) line = lineAt(keyStart);
      node = pair.value;
    } else if (yaml.isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) return line;
      const s = rangeStart(item);
      if (s !== undefined) line = lineAt(s);
      node = item;
    } else {
      return line;
    }
  }
  return line;
}

/**
 * Built-in kinds, whose fields never hold Go templates once rendered. Custom resources (alerting
 * rules, workflow engines) legitimately carry `{{ }}` text, so their scalars are not scanned.
 */
const TEMPLATE_CHECKED_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod', 'PodTemplate', 'Service', 'Ingress', 'PodDisruptionBudget', 'ConfigMap', 'Secret', 'HorizontalPodAutoscaler']);

/** Top-level fields whose values are the user's own text (a config file may be a template of its own). */
const TEMPLATE_FREE_TEXT: Readonly<Record<string, readonly string[]>> = {
  ConfigMap: ['data', 'binaryData'],
  Secret: ['data', 'stringData'],
};

interface TemplateHit {
  readonly offset: number;
  readonly text: string;
  readonly how: 'collection-key' | 'scalar';
}

/** The first pair (depth first) whose key is a map or a sequence. */
function findCollectionKey(yaml: YamlModule, node: unknown, source: string): TemplateHit | undefined {
  if (yaml.isMap(node)) {
    for (const pair of node.items) {
      if (yaml.isCollection(pair.key)) {
        const start = pair.key.range?.[0] ?? 0;
        return { offset: start, text: lineText(source, start), how: 'collection-key' };
      }
      const hit = findCollectionKey(yaml, pair.value, source);
      if (hit) return hit;
    }
  } else if (yaml.isSeq(node)) {
    for (const item of node.items) {
      const hit = findCollectionKey(yaml, item, source);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** The first scalar with `{{`, outside annotations (any level) and the object's free-text fields. */
function findTemplateScalar(yaml: YamlModule, node: unknown, freeText: readonly string[], source: string, depth = 0): TemplateHit | undefined {
  if (yaml.isScalar(node)) {
    const start = node.range?.[0] ?? 0;
    return typeof node.value === 'string' && node.value.includes('{{') ? { offset: start, text: lineText(source, start), how: 'scalar' } : undefined;
  }
  if (yaml.isMap(node)) {
    for (const pair of node.items) {
      const key = yaml.isScalar(pair.key) ? pair.key.value : undefined;
      if (key === 'annotations' || (depth === 0 && typeof key === 'string' && freeText.includes(key))) continue;
      const hit = findTemplateScalar(yaml, pair.key, freeText, source, depth + 1) ?? findTemplateScalar(yaml, pair.value, freeText, source, depth + 1);
      if (hit) return hit;
    }
  } else if (yaml.isSeq(node)) {
    for (const item of node.items) {
      const hit = findTemplateScalar(yaml, item, freeText, source, depth + 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** The whole source line a node starts on (what the user wrote, for the message). */
function lineText(source: string, start: number): string {
  const lineStart = source.lastIndexOf('\n', start - 1) + 1;
  const lineEnd = source.indexOf('\n', start);
  return source.slice(lineStart, lineEnd < 0 ? source.length : lineEnd).trim();
}

/** The AST node at a path (the document's root for `[]`). */
function nodeAtPath(yaml: YamlModule, doc: import('yaml').Document, path: readonly PathSegment[]): unknown {
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (yaml.isMap(node)) node = node.items.find((p) => (yaml.isScalar(p.key) ? p.key.value : p.key) === segment)?.value;
    else if (yaml.isSeq(node) && typeof segment === 'number') node = node.items[segment];
    else return undefined;
  }
  return node;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}

export function finding(ruleId: Finding['ruleId'], message: string, location: Location, object?: string): Finding {
  return { ruleId, severity: rule(ruleId).severity, message, location, object };
}
