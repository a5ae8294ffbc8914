import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node, type YAMLError } from 'yaml';
import { dottedPath, type ManifestIssue } from './issues.js';

/** A parsed YAML file that can say where any path of it is. */
export interface SourceFile {
  file: string;
  /** The document as plain data; undefined for an empty file or after a syntax error. */
  value: unknown;
  /** The document's root node (yaml's node tree, each node with its source range); null when empty. */
  root: unknown;
  lines: LineCounter;
}

/**
 * Parses one YAML document with the 1.2 core schema (no merge keys, no
 * timestamps), keeping yaml's node tree for positions. Returns the source and
 * its syntax issues: every error and warning yaml reports (a duplicate key is
 * one, so is a second document). Never throws for bad YAML.
 */
export function parseSource(file: string, text: string): { source: SourceFile; issues: ManifestIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, schema: 'core', merge: false });
  const source: SourceFile = { file, value: undefined, root: null, lines };
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) return { source, issues: problems.map((e) => syntaxIssue(source, e)) };
  try {
    // No alias limit here: toJS shares aliased nodes instead of copying them, and expandEnv's walk,
    // which does copy, stops a file whose aliases multiply (with the path where it stopped).
    return { source: { ...source, value: doc.toJS({ maxAliasCount: -1 }), root: doc.contents }, issues: [] };
  } catch (err) {
    // toJS throws for an alias without an anchor before it: an issue at that alias.
    if (!(err instanceof ReferenceError)) throw err;
    const pos = lines.linePos(startOf(unresolvedAlias(doc)) ?? 0);
    return { source, issues: [{ file, line: pos.line, column: pos.col, path: '', message: firstLine(err.message) }] };
  }
}

/** The first alias that names no anchor before it (only looked for once toJS has failed: each lookup walks the document). */
function unresolvedAlias(doc: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

function syntaxIssue(src: SourceFile, e: YAMLError): ManifestIssue {
  const pos = src.lines.linePos(e.pos[0]);
  // yaml's own wording names its API (parseAllDocuments); a manifest author needs the YAML reason.
  const message = e.code === 'MULTIPLE_DOCS' ? 'expected a single YAML document, but found more (--- starts another)' : firstLine(e.message);
  return { file: src.file, line: pos.line, column: pos.col, path: '', message };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/**
 * The position of `path` in the file: the node itself, or for a key that is
 * missing, the nearest existing parent. With `key`, the position of that key
 * inside the map at `path` (for unknown keys). An alias is as deep as a path
 * goes: an issue below it is shown where the alias is used.
 */
export function locate(src: SourceFile, path: ReadonlyArray<PropertyKey>, key?: string): ManifestIssue {
  let node = src.root;
  let at = startOf(node) ?? 0;
  let found = true;
  for (const seg of path) {
    const next = typeof seg === 'symbol' ? undefined : child(node, seg);
    if (next === undefined) {
      found = false;
      break;
    }
    node = next.node;
    at = next.at;
  }
  if (key !== undefined && found) at = startOf(pairOf(node, key)?.key) ?? at;
  const pos = src.lines.linePos(at);
  return { file: src.file, line: pos.line, column: pos.col, path: dottedPath(key === undefined ? path : [...path, key]), message: '' };
}

/** The node at `seg` of a map or sequence, with where it starts (an empty value: just after its key). */
function child(node: unknown, seg: string | number): { node: unknown; at: number } | undefined {
  if (isAlias(node)) return undefined;
  if (isSeq(node)) {
    const item: unknown = typeof seg === 'number' ? node.items[seg] : undefined;
    const at = startOf(item);
    return at === undefined ? undefined : { node: item, at };
  }
  const pair = pairOf(node, String(seg));
  if (pair === undefined) return undefined;
  const at = startOf(pair.value) ?? endOf(pair.key);
  return at === undefined ? undefined : { node: pair.value, at };
}

function pairOf(node: unknown, key: string): { key: unknown; value: unknown } | undefined {
  if (!isMap(node)) return undefined;
  return node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
}

function startOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

function endOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[1];
}

/** More values than any real manifest has (500 services are ~8,000): past it, aliases are multiplying. */
const MAX_VALUES = 250_000;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of `value` from
 * `env`; `$${...}` stays literal. Returns the expanded value and an issue
 * (located by `where`) for each unset variable without a default, for an
 * alias cycle, or for aliases that expand past MAX_VALUES (the walk stops).
 */
export function expandEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  where: (path: PropertyKey[]) => ManifestIssue,
  path: PropertyKey[] = [],
): { value: unknown; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  // YAML aliases share nodes: `&a [*a]` makes a cycle, and a few lines of nested aliases can stand
  // for billions of values. The parsed value shares them too; this walk copies, so it stops.
  const open = new Set<object>();
  let values = 0;
  let stopped = false;
  // Where the walk is, as a chain to the root: the array is only built for an issue, not at each value.
  const pathOf = (at: Step | null): PropertyKey[] => {
    const segs: PropertyKey[] = [];
    for (let s = at; s !== null; s = s.up) segs.push(s.seg);
    return [...path, ...segs.reverse()];
  };
  const stop = (at: Step | null, message: string): undefined => {
    if (!stopped) issues.push({ ...where(pathOf(at)), message });
    stopped = true;
    return undefined;
  };
  const walk = (v: unknown, at: Step | null): unknown => {
    if (stopped) return undefined;
    if (++values > MAX_VALUES) return stop(at, `aliases expand this file to more than ${MAX_VALUES.toLocaleString('en')} values`);
    if (typeof v === 'string') return v.includes('$') ? expandString(v, env, () => pathOf(at), where, issues) : v;
    if (typeof v !== 'object' || v === null) return v;
    if (open.has(v)) return stop(at, 'an alias refers to a node that contains it');
    open.add(v);
    try {
      if (Array.isArray(v)) {
        const out: unknown[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) out[i] = walk(v[i], { up: at, seg: i });
        return out;
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = walk((v as Record<string, unknown>)[k], { up: at, seg: k });
        // A `__proto__` key stays a key (as yaml made it), never the copy's prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    } finally {
      open.delete(v);
    }
  };
  return { value: walk(value, null), issues };
}

/** A step of expandEnv's walk: the key or index, and the step above it (null at the root). */
interface Step {
  up: Step | null;
  seg: PropertyKey;
}

function expandString(v: string, env: NodeJS.ProcessEnv, pathOf: () => PropertyKey[], where: (path: PropertyKey[]) => ManifestIssue, issues: ManifestIssue[]): string {
  return v.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped: string, name: string, def?: string) => {
    if (escaped) return whole.slice(1);
    const got = env[name];
    if (got !== undefined && got !== '') return got;
    if (def !== undefined) return def;
    issues.push({ ...where(pathOf()), message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
    return '';
  });
}
